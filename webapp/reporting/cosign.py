"""Trainees and co-signature.

A trainee radiologist (``users.is_trainee``) signs a **preliminary** report (the order's
``preliminary`` action): the ordering doctor reads it at once, marked preliminary (the API's
``state: "preliminary"``, FHIR ``DiagnosticReport.status = preliminary``, HL7 ORU OBR-25 ``P``),
and the order stays ``completed``. An attending radiologist (any radiologist who is no trainee)
co-signs it (the ``cosign`` action), with edits if need be and with no claim needed: the report
becomes final and the order ``reported``. When the final impression differs from the one the
ordering doctor read in the preliminary report, the order says so (``impression_changed``) and the
co-signature's event and ORU carry both impressions.
"""

from __future__ import annotations

from datetime import datetime

from webapp.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed
from webapp.extensions import db
from webapp.reporting import claims, critical, drafts
from webapp.reporting.models import ReportDetails


def user_of(actor):
    from webapp.auth.models import User

    return db.session.get(User, actor.user_id) if actor.user_id else None


def is_trainee(user) -> bool:
    return bool(getattr(user, "is_trainee", False))


def is_preliminary(order) -> bool:
    """A trainee signed the report and no attending has co-signed it yet."""
    details = order.report_details
    return order.status == "completed" and details is not None and details.preliminary_at is not None


def report_state(order) -> str | None:
    if order.status == "reported":
        return "final"
    return "preliminary" if is_preliminary(order) else None


def _same(a: str | None, b: str | None) -> bool:
    return " ".join((a or "").split()) == " ".join((b or "").split())


def _details(order) -> ReportDetails:
    details = order.report_details
    if details is None:
        details = ReportDetails(order_id=order.id)
        db.session.add(details)
        order.report_details = details
    return details


def preliminary_step(order, actor, values: dict, moment: datetime) -> dict:
    """A trainee signs: the report is preliminary (the order stays completed)."""
    if not is_trainee(user_of(actor)):
        raise PermissionDenied("Only a trainee's signature makes a preliminary report.")
    if is_preliminary(order):
        raise TransitionNotAllowed(f"Order {order.accession_number} has a preliminary report already: "
                                   "an attending co-signs it.")
    note = critical.critical_note(values)
    errors: dict[str, str] = {}
    template_code = drafts.check_template(values["template_code"], errors)
    if errors:
        raise ValidationFailed(errors)
    order.findings, order.impression, order.report_text = values["findings"], values["impression"], values["report_text"]
    with db.session.no_autoflush:
        draft = drafts.get_draft(order)
    details = _details(order)
    details.technique, details.comparison, details.template_code = values["technique"], values["comparison"], template_code
    details.field_values = draft.field_values if draft is not None else None
    details.preliminary_by, details.preliminary_at, details.preliminary_impression = actor.user_id, moment, order.impression
    order.reporting_radiologist = actor.user_id
    drafts.discard(order)
    claims.end(order)
    # Every section signed, as the chain keeps it (webapp.audit.results compares the rows with it).
    changes: dict = {"preliminary": {name: values[name] for name in ("findings", "impression", "report_text",
                                                                     "technique", "comparison")
                                     if values[name] is not None}}
    if note is not None:
        changes["critical"] = critical.raise_critical(order, actor, note, moment)
    return changes


def cosign_step(order, actor, values: dict, moment: datetime) -> dict:
    """An attending co-signs a trainee's preliminary report (with edits): final, order reported.

    No autoflush inside: a lazy load (the trainee) flushing the edited order half-way would move
    its version twice for one change, and ``audit verify`` would find a version with no event."""
    with db.session.no_autoflush:
        return _cosign(order, actor, values, moment)


def _cosign(order, actor, values: dict, moment: datetime) -> dict:
    user = user_of(actor)
    if user is None or is_trainee(user):
        raise PermissionDenied("A trainee cannot co-sign: an attending radiologist does.")
    if not is_preliminary(order):
        raise TransitionNotAllowed(f"Order {order.accession_number} has no preliminary report to co-sign.")
    details = order.report_details
    edited = {}
    for name in ("findings", "impression", "report_text"):
        if values.get(name) is not None and values[name] != getattr(order, name):
            edited[name] = values[name]
            setattr(order, name, values[name])
    for name in ("technique", "comparison"):
        if values.get(name) is not None and values[name] != getattr(details, name):
            edited[name] = values[name]
            setattr(details, name, values[name])
    if not order.findings or not order.impression:
        raise ValidationFailed({name: "Required to sign." for name in ("findings", "impression")
                                if not getattr(order, name)})
    details.cosigned_by, details.cosigned_at = actor.user_id, moment
    details.impression_changed = not _same(details.preliminary_impression, order.impression)
    order.reported_date = moment
    order.reporting_radiologist = actor.user_id
    changes: dict = {"cosign": edited, "trainee": details.trainee.display_name if details.trainee else None}
    if details.impression_changed:
        changes["impression_changed"] = {"from": details.preliminary_impression, "to": order.impression}
    return changes
