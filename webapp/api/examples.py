"""Examples shown in the OpenAPI document (/api/v1/openapi.json, Swagger UI at /api/docs).

Request examples sit on the input schemas (``openapi_extra`` of their ``model_config``);
answer examples on the documented responses (``webapp.api.common.answer``).
"""

from __future__ import annotations

PATIENT_ID = "6f1c2a9e-3b4d-4f7a-9c1e-2d3b4a5c6d7e"
VISIT_ID = "0b7e4c1a-8d2f-4e6b-a9c3-5f1d2e3a4b5c"
ORDER_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
DOCTOR_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"

TOKEN_REQUEST = {"username": "dr.house", "password": "correct horse battery staple"}
TOKEN_RESPONSE = {"access_token": "eyJ1aWQiOiI5YThi...", "token_type": "bearer", "expires_in": 3600}

ORDER_CREATE = {
    "patient_id": PATIENT_ID, "visit_id": VISIT_ID, "modality": "XRAY", "body_part": "CHEST",
    "procedure_code": "71046", "laterality": None, "clinical_indication": "Suspected pneumonia",
    "clinical_history": "Productive cough for 5 days, crackles right base.", "priority": "urgent",
}
ORDER_UPDATE = {"priority": "stat", "special_instructions": "Portable, patient on oxygen."}
STATUS_CHANGES = {
    "schedule": {"summary": "Schedule (schedulers)",
                 "value": {"status": "scheduled", "scheduled_date": "2030-12-02T09:30:00+01:00",
                           "station_ae": "XRAY_ROOM1"}},
    "start": {"summary": "Start the exam (technicians)", "value": {"status": "in_progress", "note": "Patient on table"}},
    "complete": {"summary": "Complete (technicians)", "value": {"status": "completed", "number_of_images": 2}},
    "report": {"summary": "Report (radiologists)",
               "value": {"status": "reported", "findings": "No focal consolidation.", "impression": "Normal chest."}},
    "cancel": {"summary": "Cancel", "value": {"status": "cancelled", "reason": "Duplicate request"}},
}
CANCEL = {"reason": "Duplicate request", "note": "Ordered twice from the ward."}

ORDER = {
    "id": ORDER_ID, "accession_number": "ACC-2026-00042", "order_number": "ORD-2026-00042",
    "patient_id": PATIENT_ID, "visit_id": VISIT_ID, "ordered_by": DOCTOR_ID, "diagnosis_id": None,
    "modality": "XRAY", "body_part": "CHEST", "procedure_code": "71046", "procedure_name": "X-ray chest, 2 views",
    "laterality": None, "clinical_indication": "Suspected pneumonia",
    "clinical_history": "Productive cough for 5 days, crackles right base.", "special_instructions": None,
    "status": "scheduled", "priority": "urgent", "ordered_date": "2026-11-30T08:12:03+00:00",
    "scheduled_date": "2026-12-01T08:30:00+00:00", "performed_date": None, "completed_date": None,
    "reported_date": None, "cancelled_date": None, "cancellation_reason": None, "performing_technician": None,
    "reporting_radiologist": None, "report_text": None, "findings": None, "impression": None,
    "study_instance_uid": "2.25.84537419063487221370915043118327436017", "number_of_images": None,
    "scheduled_station_ae": "XRAY_ROOM1", "notes": None, "created_at": "2026-11-30T08:12:03+00:00",
    "updated_at": "2026-11-30T08:20:41+00:00", "version": 2, "allowed_actions": ["cancel", "edit", "note"],
    "images": {"available": False, "series": 0, "instances": 0, "viewer_url": None, "received_at": None},
}
UNMATCHED = {"items": [{
    "id": 7, "study_instance_uid": "1.2.826.0.1.3680043.8.498.1", "accession_number": "ACC-2026-00042",
    "patient_id": "MRN-000777", "patient_name": "DOE^JANE", "study_date": "2026-12-01",
    "description": "CHEST 2 VIEWS", "series": 2, "instances": 3, "modalities": "DX",
    "hold_reason": "The study's patient (MRN-000777) is not the patient of order ACC-2026-00042 (MRN-000123).",
    "received_at": "2026-12-01T09:02:11+00:00",
}]}
MATCH = {"order_id": ORDER_ID}
ORDER_LIST = {"items": [ORDER], "next_cursor": "WyIyMDI2LTExLTMwVDA4OjEyOjAzKzAwOjAwIiwgIjNmYTg1ZjY0Il0"}

PATIENT_IN = {"mrn": "MRN-000123", "first_name": "Maria", "last_name": "Garcia", "date_of_birth": "1980-05-17",
              "sex": "female"}
PATIENT = {"id": PATIENT_ID, **PATIENT_IN, "created_at": "2026-11-30T08:00:00+00:00"}
VISIT_IN = {"patient_id": PATIENT_ID, "visit_date": "2026-11-30T08:05:00+01:00", "reason": "Cough and fever",
            "clinical_notes": "Crackles right base.",
            "diagnoses": [{"code": "J18.9", "description": "Pneumonia, unspecified organism"}]}
VISIT = {"id": VISIT_ID, "patient_id": PATIENT_ID, "visit_date": "2026-11-30T07:05:00+00:00",
         "reason": "Cough and fever", "clinical_notes": "Crackles right base.",
         "diagnoses": [{"id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a", "code": "J18.9",
                        "description": "Pneumonia, unspecified organism"}],
         "created_at": "2026-11-30T07:06:12+00:00"}
