"""The order as an HL7 message tells it, taken in the transaction of the change (JSON).

The outbox keeps this snapshot; the message text is built from it when it is sent
(webapp.hl7.messages), so a retry sends the same message.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.auth.models import User
from webapp.hl7.models import Hl7PlacerOrder, Hl7VisitNumber
from webapp.imaging.models import ImagingOrder, OrderEvent
from webapp.patients.models import Patient
from webapp.visits.models import Diagnosis, Visit

ORDER_FIELDS = (
    "accession_number", "order_number", "status", "priority", "modality", "body_part", "procedure_code",
    "procedure_name", "laterality", "clinical_indication", "clinical_history", "ordered_date", "scheduled_date",
    "performed_date", "completed_date", "reported_date", "cancelled_date", "cancellation_reason", "findings",
    "impression", "study_instance_uid", "scheduled_station_ae", "number_of_images",
)


def _json(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _person(session: Session, user_id) -> dict | None:
    user = session.get(User, user_id) if user_id else None
    if user is None:
        return None
    return {"id": user.username, "name": user.display_name, "provider_id": user.provider_id}


def with_ehr_numbers(session: Session, snapshots: dict[int, dict]) -> dict[int, dict]:
    """The snapshots with the EHR's placer order and visit numbers where it sent the order or visit.

    Read when the message is sent (the numbers never change, and an order from the EHR gets its
    placer number row just after create_order has written the order's first message).
    """
    order_ids = {snapshot["order_id"] for snapshot in snapshots.values()}
    visit_ids = {snapshot["visit"]["id"] for snapshot in snapshots.values()}
    placers = dict(session.execute(
        select(Hl7PlacerOrder.order_id, Hl7PlacerOrder.placer_number)
        .where(Hl7PlacerOrder.order_id.in_([uuid.UUID(key) for key in order_ids]))
    ).all()) if order_ids else {}
    visits = dict(session.execute(
        select(Hl7VisitNumber.visit_id, Hl7VisitNumber.visit_number)
        .where(Hl7VisitNumber.visit_id.in_([uuid.UUID(key) for key in visit_ids]))
    ).all()) if visit_ids else {}
    result = {}
    for key, snapshot in snapshots.items():
        placer = placers.get(uuid.UUID(snapshot["order_id"]))
        number = visits.get(uuid.UUID(snapshot["visit"]["id"]))
        result[key] = snapshot | {
            "placer_number": placer or snapshot["placer_number"],
            "visit": snapshot["visit"] | ({"number": number} if number else {}),
        }
    return result


def _report_details(session: Session, order: ImagingOrder):
    """The report's details, also when the signature has just added them (not flushed yet)."""
    from webapp.reporting.models import ReportDetails

    for obj in session.new:
        if isinstance(obj, ReportDetails) and obj.order_id == order.id:
            return obj
    return order.report_details


def _coded_answers(session: Session, details) -> list[dict]:
    """A structured (MRRT) template's coded answers, for coded OBX."""
    from webapp.reporting import mrrt
    from webapp.reporting.models import ReportTemplate

    if details is None or not details.field_values or not details.template_code:
        return []
    template = session.get(ReportTemplate, details.template_code)
    return mrrt.coded_answers(template.structure if template else None, details.field_values)


def cleared_fields(changes: dict | None) -> list[str]:
    """The order's values that the change took away (``{"from": a value, "to": None}``): the
    message sends them as HL7's null value, so the receiver deletes what it holds."""
    return sorted(name for name, change in (changes or {}).items()
                  if isinstance(change, dict) and change.keys() >= {"from", "to"}
                  and change["to"] is None and change["from"] not in (None, ""))


def order_snapshot(session: Session, order: ImagingOrder, event: OrderEvent) -> dict[str, Any]:
    """Everything the ORM/ORU of ``event`` says, as JSON values (read without flushing)."""
    details = _report_details(session, order) if order.status in ("completed", "reported") else None
    patient = session.get(Patient, order.patient_id)
    visit = session.get(Visit, order.visit_id)
    diagnosis = session.get(Diagnosis, order.diagnosis_id) if order.diagnosis_id else None
    return {
        "event_type": event.event_type,
        "at": _json(event.created_at),
        # The change itself: the status it left, why (a cancel's, an unbooking's or a late
        # booking's reason; its note), and the values it took away.
        "from_status": event.from_status,
        "reason": (event.changes or {}).get("reason"),
        "note": event.note,
        "cleared": cleared_fields(event.changes),
        "order_id": str(order.id),
        "version": event.order_version,
        **{name: _json(getattr(order, name)) for name in ORDER_FIELDS},
        "placer_number": order.order_number,  # the EHR's own, when it sent the order: see with_ehr_numbers
        "patient": {
            "mrn": patient.mrn, "first_name": patient.first_name, "last_name": patient.last_name,
            "date_of_birth": _json(patient.date_of_birth), "sex": patient.sex, "mrn_issuer": patient.mrn_issuer,
        },
        "visit": {"id": str(visit.id), "number": str(visit.id), "date": _json(visit.visit_date)},
        "diagnosis": {"code": diagnosis.code, "description": diagnosis.description} if diagnosis else None,
        "ordering_provider": _person(session, order.ordered_by),
        "radiologist": _person(session, order.reporting_radiologist),
        # The impression of a trainee's preliminary report when the co-signed one says otherwise.
        "impression_changed_from": (details.preliminary_impression
                                    if details is not None and details.impression_changed else None),
        "coded": _coded_answers(session, details),
        # Addenda under the signed report (the one being added is in the list already).
        "addenda": [{"text": a.text, "author": a.author_label, "created_at": _json(a.created_at)}
                    for a in order.addenda] if order.status == "reported" else [],
    }
