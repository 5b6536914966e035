"""Whose images are these? Issue 21, defects 3 and 4, against a real Orthanc fed by storescu.

Defect 4: auto-matching compared only the Patient ID, so a study with the right MRN but another
name and birth date went on the order. Defect 3: a study held as "not the patient of order …"
was offered with that order's accession pre-filled and matched with one click (and by the API
with no check); FHIR ImagingStudy then named the order's patient as its subject.

The rule (docs/pacs.md, "The identity rule for studies"; webapp.patients.identity): Patient ID
(0010,0020), family name of Patient's Name (0010,0010) and Patient's Birth Date (0010,0030)
(DICOM PS3.3 C.7.1.1) must all be the order's patient's. The only way to link a study of another
patient is to correct it in the PACS (IHE RAD TF-1 Patient Information Reconciliation): Orthanc
rewrites the patient in every image and the wrong copy is deleted.
"""

from __future__ import annotations

import uuid

from fhir.resources.R4B.bundle import Bundle
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from tests.pacs.orthanc import make_study, order_study
from tests.pacs.test_pacs import _image_events, _sign_in, _token
from webapp.extensions import db, writing
from webapp.imaging.models import ImagingOrder, OrderEvent
from webapp.pacs.follower import Follower
from webapp.pacs.models import PacsStudy


def _events(app, order, event_type: str) -> list[OrderEvent]:
    with app.app_context():
        return list(db.session.scalars(select(OrderEvent).where(
            OrderEvent.order_id == order.id, OrderEvent.event_type == event_type).order_by(OrderEvent.id)))


def _held(app) -> PacsStudy:
    with app.app_context():
        [study] = db.session.scalars(select(PacsStudy)).all()
        db.session.expunge(study)
        return study


def _sync(app) -> None:
    with app.app_context():
        Follower(app).sync()


def _imaging_studies(client, token, order) -> Bundle:
    answer = client.get("/fhir/R4/ImagingStudy", query_string={"basedon": f"ServiceRequest/{order.id}"}, headers=token)
    assert answer.status_code == 200, answer.text
    return Bundle.model_validate(answer.json)


def test_right_mrn_with_another_name_or_birth_date_is_held_not_matched(app, pacs, tmp_path, make_order):
    """Defect 4: Patient ID alone no longer matches (failed before: the study went on the order)."""
    order = make_order("in_progress")  # Garcia, Maria, born 1980-05-17
    pacs.send(order_study(tmp_path, order, order.patient.mrn, patient_name="SMITH^JOHN", birth_date="19990101",
                          series=(1,)))
    pacs.wait_stable(order.study_instance_uid)
    _sync(app)
    study = _held(app)
    assert study.order_id is None
    assert "family name SMITH is not Garcia" in study.hold_reason
    assert f"the order is for {order.patient.mrn}, Garcia Maria, born 1980-05-17" in study.hold_reason
    assert _image_events(app, order) == []

    other = make_order("in_progress")
    pacs.send(order_study(tmp_path, other, other.patient.mrn, patient_name="GARCIA^MARIA", birth_date="19990101",
                          series=(1,)))
    pacs.wait_stable(other.study_instance_uid)
    _sync(app)
    with app.app_context():
        held = db.session.scalar(select(PacsStudy).where(PacsStudy.study_instance_uid == other.study_instance_uid))
        assert held.order_id is None and "birth date 1999-01-01 is not 1980-05-17" in held.hold_reason
    assert _image_events(app, other) == []


def test_the_same_patient_written_otherwise_is_matched(app, pacs, tmp_path, make_order):
    """MRN in another case, the name with accents and in capitals, the birth date: still the patient."""
    order = make_order("in_progress")
    pacs.send(order_study(tmp_path, order, order.patient.mrn.lower(), patient_name="GARCÍA^MARÍA",
                          birth_date="19800517", series=(1,)))
    pacs.wait_stable(order.study_instance_uid)
    _sync(app)
    assert len(_image_events(app, order)) == 1


def test_another_patients_study_is_refused_then_corrected_in_the_pacs(app, client, pacs, tmp_path, make_order,
                                                                      make_user):
    """Defect 3 through the API: 409 and nothing linked (failed before: 200 and linked); then the
    correction rewrites the study in Orthanc to the order's patient, once, and matches it."""
    order = make_order("in_progress")
    uid = generate_uid()
    pacs.send(make_study(tmp_path / "doe", study_uid=uid, accession=order.accession_number,
                         patient_id="MRN-SOMEONE-ELSE", patient_name="DOE^JANE", birth_date="19550303", series=(2, 1)))
    wrong_id = pacs.wait_stable(uid)
    _sync(app)
    held = _held(app)
    admin, doctor = make_user("admin"), make_user("doctor")
    headers = _token(client, admin)
    url = f"/api/v1/pacs/unmatched/{held.id}/match"
    with app.app_context():
        version = db.session.get(ImagingOrder, order.id).version

    refused = client.post(url, json={"order_id": str(order.id)}, headers=headers)
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert refused.json["study_patient"] == {"patient_id": "MRN-SOMEONE-ELSE", "patient_name": "DOE^JANE",
                                             "birth_date": "1955-03-03"}
    assert refused.json["order_patient"]["patient_id"] == order.patient.mrn
    assert "another patient" in refused.json["detail"]
    # Nothing linked; the refusal is on the order's timeline with both identities.
    assert _image_events(app, order) == [] and _held(app).order_id is None
    [refusal] = _events(app, order, "study_match_refused")
    assert refusal.actor_id == admin.id and "MRN-SOMEONE-ELSE, DOE JANE, born 1955-03-03" in refusal.note
    assert f"{order.patient.mrn}, Garcia Maria, born 1980-05-17" in refusal.note
    with app.app_context():
        current = db.session.get(ImagingOrder, order.id)
        assert (current.status, current.version) == ("in_progress", version + 1)  # only the refusal entry
    fhir_token = _token(client, doctor)
    assert _imaging_studies(client, fhir_token, order).total == 0

    # The correction: admins only, with a reason; a reason alone is no correction.
    body = {"order_id": str(order.id), "correct_study": True, "reason": "Scanned under the wrong worklist entry"}
    assert client.post(url, json=body, headers=_token(client, doctor)).status_code == 403
    assert client.post(url, json=body | {"reason": " "}, headers=headers).status_code == 422
    assert client.post(url, json={"order_id": str(order.id), "reason": "x"}, headers=headers).status_code == 422
    assert pacs.get("/studies") == [wrong_id]  # nothing changed in the PACS so far

    corrected = client.post(url, json=body, headers=headers)
    assert corrected.status_code == 200, corrected.json
    assert corrected.json["images"]["available"] is True and corrected.json["images"]["instances"] == 3

    # Orthanc holds the study once, under the order's patient; the wrong copy is gone.
    [new_id] = pacs.get("/studies")
    assert new_id != wrong_id
    tags = pacs.get(f"/studies/{new_id}")["PatientMainDicomTags"]
    assert (tags["PatientID"], tags["PatientName"], tags["PatientBirthDate"]) == (
        order.patient.mrn, "Garcia^Maria", "19800517")
    assert pacs.get(f"/studies/{new_id}")["MainDicomTags"]["StudyInstanceUID"] == uid  # the same study
    assert [pacs.get(f"/patients/{p}")["MainDicomTags"]["PatientID"] for p in pacs.get("/patients")] == [
        order.patient.mrn]
    instance = pacs.get(f"/studies/{new_id}/instances")[0]["ID"]
    assert pacs.get(f"/instances/{instance}/simplified-tags")["PatientName"] == "Garcia^Maria"

    # Both identities and the reason on the order's timeline, then the images.
    [correction] = _events(app, order, "study_corrected")
    assert correction.changes["old"] == {"patient_id": "MRN-SOMEONE-ELSE", "patient_name": "DOE^JANE",
                                         "birth_date": "1955-03-03"}
    assert correction.changes["new"] == {"patient_id": order.patient.mrn, "patient_name": "Garcia^Maria",
                                         "birth_date": "1980-05-17"}
    assert correction.changes["reason"] == "Scanned under the wrong worklist entry"
    assert "MRN-SOMEONE-ELSE, DOE JANE" in correction.note and correction.actor_id == admin.id
    [images] = _image_events(app, order)
    assert images.changes["orthanc_id"] == new_id and images.id > correction.id

    # FHIR: the study is the order's patient's, and only now.
    bundle = _imaging_studies(client, fhir_token, order)
    assert bundle.total == 1
    assert bundle.entry[0].resource.subject.reference == f"Patient/{order.patient_id}"

    # The follower sees the corrected study arrive: recorded once, no second entry.
    pacs.wait_stable(uid)
    _sync(app)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PacsStudy)) == 1
        assert db.session.scalar(select(PacsStudy.orthanc_id)) == new_id
    assert len(_image_events(app, order)) == 1
    _sign_in(client, doctor)
    assert client.get(f"/pacs/studies/{held.id}/thumbnails/0").status_code == 200  # the new copy's images
    page = client.get(f"/imaging/orders/{order.id}").text
    assert "Study corrected in the PACS" in page and "Study match refused" in page


def test_the_page_shows_both_identities_and_corrects_only_with_a_reason_and_confirmation(
        app, client, pacs, tmp_path, make_order, make_user):
    """Defect 3 on /imaging/unmatched-studies: no pre-filled accession of another patient's order,
    a refused match says so plainly with both identities, and the correction needs both a reason
    and the confirmation box."""
    order = make_order("completed")
    uid = generate_uid()
    pacs.send(make_study(tmp_path / "doe", study_uid=uid, accession=order.accession_number,
                         patient_id="MRN-SOMEONE-ELSE", patient_name="DOE^JANE", birth_date="19550303", series=(1,)))
    wrong_id = pacs.wait_stable(uid)
    _sync(app)
    held = _held(app)
    _sign_in(client, make_user("admin"))
    page = client.get("/imaging/unmatched-studies").text
    assert f'value="{order.accession_number}"' not in page  # nothing to match with one click
    assert f"is for Garcia Maria ({order.patient.mrn}, born 1980-05-17)" in page
    assert "DOE JANE" in page and "born 1955-03-03" in page

    refused = client.post(f"/imaging/unmatched-studies/{held.id}/match", data={"accession_number": order.accession_number})
    assert refused.status_code == 409
    assert "Not matched: this study is of another patient" in refused.text
    assert 'id="refusal-identities"' in refused.text and "MRN-SOMEONE-ELSE" in refused.text
    assert order.patient.mrn in refused.text and "Nothing was changed" in refused.text
    assert len(_events(app, order, "study_match_refused")) == 1 and _image_events(app, order) == []

    correct = f"/imaging/unmatched-studies/{held.id}/correct"
    unconfirmed = client.post(correct, data={"accession_number": order.accession_number, "reason": "Wrong entry"})
    assert unconfirmed.status_code == 422 and "Confirm that the images are of the order" in unconfirmed.text
    no_reason = client.post(correct, data={"accession_number": order.accession_number, "confirm": "yes"})
    assert no_reason.status_code == 422 and "Say why the study is corrected" in no_reason.text
    assert pacs.get("/studies") == [wrong_id] and _events(app, order, "study_corrected") == []

    done = client.post(correct, data={"accession_number": order.accession_number, "reason": "Wrong worklist entry",
                                      "confirm": "yes"}, follow_redirects=True)
    assert "corrected in the PACS to the patient of order" in done.text and 'id="no-unmatched"' in done.text
    [new_id] = pacs.get("/studies")
    assert pacs.get(f"/studies/{new_id}")["PatientMainDicomTags"]["PatientID"] == order.patient.mrn
    assert len(_events(app, order, "study_corrected")) == 1 and len(_image_events(app, order)) == 1


def test_fhir_never_serves_a_study_under_another_patient(app, client, pacs, make_order, make_user):
    """A study linked before the identity rule (another patient's, matched by hand) is not served."""
    order = make_order("completed")
    with app.app_context(), writing():
        db.session.add(PacsStudy(orthanc_id=uuid.uuid4().hex, study_instance_uid=generate_uid(),
                                 accession_number=order.accession_number, dicom_patient_id="MRN-SOMEONE-ELSE",
                                 patient_name="DOE^JANE", series_count=1, instance_count=1, order_id=order.id))
        db.session.commit()
    assert _imaging_studies(client, _token(client, make_user("doctor")), order).total == 0


def test_without_a_pacs_a_correction_is_refused_and_nothing_changes(app, client, make_order, make_user):
    order = make_order("completed")
    with app.app_context(), writing():
        study = PacsStudy(orthanc_id=uuid.uuid4().hex, study_instance_uid=generate_uid(),
                          accession_number=order.accession_number, dicom_patient_id="MRN-SOMEONE-ELSE",
                          patient_name="DOE^JANE", series_count=1, instance_count=1, hold_reason="held")
        db.session.add(study)
        db.session.commit()
        study_id = study.id
    app.config["ORTHANC_URL"] = None
    answer = client.post(f"/api/v1/pacs/unmatched/{study_id}/match", headers=_token(client, make_user("admin")),
                         json={"order_id": str(order.id), "correct_study": True, "reason": "Wrong entry"})
    assert answer.status_code == 409 and "No PACS is configured" in answer.json["detail"]
    assert _held(app).order_id is None and _events(app, order, "study_corrected") == []
