"""Reads of an unregistered person's images go to the access log (issue 26, item 13).

A study whose DICOM Patient ID is no MRN of ours names a person the app has no patient record
for; the access log names patients by id, so the unmatched list and a held study's thumbnail
wrote no row at all. Now the row names that person as the study did ("Patient ID (name)") in
``patient_access_log.subjects``, and ``flask audit access <Patient ID>`` lists who looked.
"""

from __future__ import annotations

from pydicom.uid import generate_uid
from sqlalchemy import select

from tests.access_log import last_id
from tests.pacs.orthanc import make_study
from webapp.audit.models import PatientAccessLog
from webapp.extensions import db
from webapp.pacs.follower import Follower
from webapp.pacs.models import PacsStudy

PASSWORD = "password-123"
PERSON = "MRN-NOBODY-HERE (DOE JANE)"


def _rows(app, after: int) -> list[tuple[str, str | None, str | None, int]]:
    with app.app_context():
        rows = db.session.scalars(select(PatientAccessLog).where(PatientAccessLog.id > after)
                                  .order_by(PatientAccessLog.id)).all()
        return [(r.what, r.request_path, r.subjects, len(r.patient_ids)) for r in rows]


def test_reads_of_an_unregistered_persons_study_are_logged(app, client, runner, pacs, tmp_path, make_user):
    uid = generate_uid()
    pacs.send(make_study(tmp_path / "stranger", study_uid=uid, accession="NOT-OURS-1", patient_id="MRN-NOBODY-HERE",
                         patient_name="DOE^JANE", series=(1,)))
    pacs.wait_stable(uid)
    with app.app_context():
        assert Follower(app).sync() == 1
        study_id = db.session.scalar(select(PacsStudy.id))
    admin = make_user("admin")
    before = last_id(app)

    assert client.post("/login", data={"username": admin.username, "password": PASSWORD}).status_code in (302, 303)
    page = client.get("/imaging/unmatched-studies")
    assert page.status_code == 200 and "MRN-NOBODY-HERE" in page.text
    thumbnail = client.get(f"/pacs/studies/{study_id}/thumbnails/0")
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/png"
    token = client.post("/api/v1/auth/token", json={"username": admin.username, "password": PASSWORD}).json
    listed = client.get("/api/v1/pacs/unmatched", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert listed.status_code == 200 and listed.json["items"][0]["patient_id"] == "MRN-NOBODY-HERE"

    rows = _rows(app, before)
    assert [(what, path.split("?")[0], subjects, shown) for what, path, subjects, shown in rows] == [
        ("unmatched PACS studies", "GET /imaging/unmatched-studies", PERSON, 0),
        (f"image of unmatched study {uid}", f"GET /pacs/studies/{study_id}/thumbnails/0", PERSON, 0),
        ("unmatched PACS studies", "GET /api/v1/pacs/unmatched", PERSON, 0),
    ]

    # `flask audit access` finds the reads by the study's Patient ID (any case), newest first.
    result = runner.invoke(args=["audit", "access", "mrn-nobody-here"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 4 and "3 reads of unregistered Patient ID" in lines[-1]
    assert all(admin.username in line and f"unregistered: {PERSON}" in line for line in lines[:3])
    assert "/api/v1/pacs/unmatched" in lines[0] and "/thumbnails/0" in lines[1]
    # A Patient ID nobody looked at (or a prefix of one) finds nothing.
    missing = runner.invoke(args=["audit", "access", "MRN-NOBODY"])
    assert missing.exit_code != 0 and "No patient with id or MRN" in missing.output
