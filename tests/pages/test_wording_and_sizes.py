"""Small things users saw (issue 26 #18): counts in plain English and inputs wide enough for what
they hold."""

from __future__ import annotations

import pytest

from webapp.extensions import db, writing

pytestmark = pytest.mark.sqlite_only


@pytest.mark.parametrize("images, text", [(1, "1 series, 1 image (CR)"), (2, "1 series, 2 images (CR)")])
def test_unmatched_page_counts_images_in_english_and_the_match_box_fits_an_accession(app, client, auth, images, text):
    from webapp.pacs.models import PacsStudy

    with app.app_context(), writing():
        db.session.add(PacsStudy(orthanc_id=f"held-{images}", study_instance_uid=f"1.2.3.{images}",
                                 dicom_patient_id="NOT-OURS", patient_name="LOST^PAT", modalities="CR",
                                 series_count=1, instance_count=images, hold_reason="No order has this accession number."))
        db.session.commit()
    auth.login("admin")
    page = client.get("/imaging/unmatched-studies").get_data(as_text=True)
    assert f"<td>{text}</td>" in page
    assert 'class="form-control form-control-sm match-accession"' in page
