"""Import every model so SQLAlchemy's metadata (and Alembic) sees the whole schema."""

from webapp.api.models import IdempotencyKey
from webapp.audit.models import PatientAccessLog, PatientAccessLogPatient, PatientAccessSet, PatientAccessSetPatient
from webapp.auth.models import User
from webapp.auth.throttle import LoginThrottle
from webapp.dicom.models import PerformedProcedureStep
from webapp.heartbeats import ProcessHeartbeat
from webapp.hl7.models import Hl7PlacerOrder, Hl7VisitNumber
from webapp.imaging.models import (
    BodyPart,
    ImagingModality,
    ImagingOrder,
    OrderCounter,
    OrderEvent,
    OrderFormSubmission,
    OrderStatusCount,
    Procedure,
    Station,
)
from webapp.outbox.models import OutboxAction, OutboxMessage
from webapp.pacs.models import PacsFollowState, PacsStudy
from webapp.patients.models import Patient
from webapp.reporting.models import CriticalResult, ReportAddendum, ReportDetails, ReportDraft, ReportTemplate
from webapp.safety.models import PatientSafety, SafetyRecordChange
from webapp.visits.models import Diagnosis, Visit

__all__ = [
    "BodyPart", "Diagnosis", "Hl7PlacerOrder", "Hl7VisitNumber", "IdempotencyKey", "ImagingModality",
    "ImagingOrder", "LoginThrottle", "OrderCounter", "OrderEvent", "OrderFormSubmission", "OrderStatusCount",
    "OutboxAction", "OutboxMessage", "PacsFollowState", "PacsStudy",
    "Patient", "PatientAccessLog",
    "PatientAccessLogPatient", "PatientAccessSet", "PatientAccessSetPatient",
    "PerformedProcedureStep", "ProcessHeartbeat", "Procedure", "Station", "User", "Visit",
    "CriticalResult", "ReportAddendum", "ReportDetails", "ReportDraft", "ReportTemplate",
    "PatientSafety", "SafetyRecordChange",
]
