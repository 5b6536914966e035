"""Small things users saw (issue 26 #18): counts in plain English and inputs wide enough for what
they hold."""

from __future__ import annotations

import re

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


def test_booking_time_is_a_24_hour_hhmm_field(client, auth, make_order):
    """Issue 26 #18: type="time" showed a 12-hour clock in Chromium (en-US) unlike every other time
    on the pages; the field is HH:MM text, and 14:30 books 14:30."""
    order = make_order("ordered")
    auth.login("scheduler")
    page = client.get(f"/imaging/orders/{order.id}").get_data(as_text=True)
    time_input = re.search(r'<input[^>]*id="schedule-time"[^>]*>', page).group(0)
    assert 'type="text"' in time_input and 'pattern="([01][0-9]|2[0-3]):[0-5][0-9]"' in time_input
    assert 'placeholder="HH:MM"' in time_input and re.search(r'value="\d\d:\d\d"', time_input)
    booked = client.post(f"/imaging/orders/{order.id}/actions/schedule",
                         data={"schedule-version": order.version, "schedule-date": "2030-01-15", "schedule-time": "14:30"})
    assert booked.status_code == 303
    assert "is scheduled for 2030-01-15 14:30" in client.get(booked.headers["Location"]).get_data(as_text=True)
