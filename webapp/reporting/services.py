"""Reporting's services: sign a draft, add an addendum, acknowledge a critical result, and
what the report pages read (the report as the API gives it, the priors, the next order to report).

Signing, addenda and acknowledgements are order actions (webapp.imaging.actions): they go
through webapp.imaging.services like every change to an order. These functions flush and never
commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm.attributes import set_committed_value

from webapp.db_types import utcnow
from webapp.errors import PermissionDenied
from webapp.extensions import db
from webapp.imaging import queries, services
from webapp.imaging.models import ImagingOrder
from webapp.reporting import claims, cosign, critical, drafts
from webapp.reporting.models import REPORT_SECTIONS, ReportAddendum, ReportClaim, ReportDetails

PRIORITY_RANK = case({"stat": 0, "urgent": 1}, value=ImagingOrder.priority, else_=2)


def sign(user, order: ImagingOrder, *, critical_flag: Any = False, critical_note: Any = None,
         expected_version: int | None = None, draft_version: int | None = None,
         editor_token: str | None = None) -> ImagingOrder:
    """Sign the radiologist's draft: the order becomes ``reported`` (findings and impression required).

    Exactly the text the radiologist saw is signed: ``draft_version`` is the draft version they
    read (412 when it changed since). Without one, the draft must be the signer's own last save
    (412 when another radiologist saved it last). The signer must hold the study's claim (409)."""
    if not drafts.may_draft(user):
        raise PermissionDenied("Only radiologists sign reports.")
    claims.require_holder(user, order)
    draft = drafts.get_draft(order)
    if draft_version is not None:
        drafts.check_draft_version(draft, draft_version, editor_token)
    elif draft is not None and draft.updated_by != user.id:
        raise drafts.DraftChanged("Another radiologist saved this draft last: read it and sign with its "
                                  "draft_version (nothing was signed).", draft)
    sections = {name: getattr(draft, name) if draft else None for name in REPORT_SECTIONS}
    if cosign.is_trainee(user):
        # A trainee's signature: a preliminary report; the order stays completed (webapp.reporting.cosign).
        return services.apply_action(
            user, order, "preliminary", expected_version=expected_version, report_text=None,
            template_code=draft.template_code if draft else None, critical=critical_flag,
            critical_note=critical_note, **sections,
        )
    return services.change_status(
        user, order, "reported", expected_version=expected_version, report_text=None,
        template_code=draft.template_code if draft else None, critical=critical_flag, critical_note=critical_note,
        **sections,
    )


def cosign_report(user, order: ImagingOrder, edits: dict[str, Any], *, expected_version: int | None = None,
                  note: Any = None) -> ImagingOrder:
    """An attending co-signs a trainee's preliminary report, with ``edits`` (findings, impression,
    technique, comparison; those left out keep their text): final, the order reported. No claim needed."""
    if not drafts.may_draft(user):
        raise PermissionDenied("Only an attending radiologist co-signs reports.")
    if cosign.is_trainee(user):
        raise PermissionDenied("A trainee cannot co-sign: an attending radiologist does.")
    return services.apply_action(user, order, "cosign", expected_version=expected_version, note=note, **edits)


def add_addendum(user, order: ImagingOrder, text: Any, *, critical_flag: Any = False, critical_note: Any = None,
                 expected_version: int | None = None) -> ImagingOrder:
    return services.apply_action(user, order, "addendum", expected_version=expected_version, addendum=text,
                                 critical=critical_flag, critical_note=critical_note)


def acknowledge(user, critical_id: int):
    """Acknowledge a critical result (the ordering doctor, or a doctor or admin on their behalf)."""
    # The order's lock first, then the result as it stands under it: an acknowledgement committed
    # meanwhile is seen (409), never acknowledged twice.
    order = queries.get_order(critical.order_id_of(critical_id), for_update=True, references=False)
    services.apply_action(user, order, "acknowledge", critical_id=critical_id)
    return critical.get(critical_id)


# ---------------------------------------------------------------------------- reading


@dataclass
class ReportView:
    """A report as the API and the pages show it."""

    state: str  # "draft", "preliminary" (a trainee signed) or "final"
    technique: str | None = None
    comparison: str | None = None
    findings: str | None = None
    impression: str | None = None
    template_code: str | None = None
    updated_at: datetime | None = None
    signed_by: str | None = None
    signed_at: datetime | None = None
    addenda: list = field(default_factory=list)
    draft_version: int | None = None
    fields: dict | None = None


def report_view(user, order: ImagingOrder) -> ReportView:
    """The signed report, final or preliminary (anyone who may see the order), or the draft
    (radiologists only)."""
    state = cosign.report_state(order)
    if state is not None:
        details = order.report_details
        signed_at = order.reported_date if state == "final" else details.preliminary_at
        return ReportView(
            state, details.technique if details else None, details.comparison if details else None,
            order.findings, order.impression, details.template_code if details else None, signed_at,
            order.radiologist.display_name if order.radiologist else None, signed_at, list(order.addenda),
            fields=details.field_values if details else None,
        )
    if not drafts.may_draft(user):
        raise PermissionDenied("Only radiologists see a report before it is signed.")
    draft = drafts.get_draft(order)
    if draft is None:
        return ReportView("draft", draft_version=0)
    return ReportView("draft", *(getattr(draft, name) for name in REPORT_SECTIONS), draft.template_code,
                      draft.updated_at, draft_version=draft.version, fields=draft.field_values)


def preload_addenda(orders: list[ImagingOrder]) -> None:
    """Load the addenda of a page of orders in one query (not one per order)."""
    if not orders:
        return
    found: dict = defaultdict(list)
    statement = select(ReportAddendum).where(ReportAddendum.order_id.in_([o.id for o in orders]))
    for addendum in db.session.scalars(statement.order_by(ReportAddendum.id)):
        found[addendum.order_id].append(addendum)
    for order in orders:
        set_committed_value(order, "addenda", found[order.id])


def priors(order: ImagingOrder, limit: int = 10) -> list[ImagingOrder]:
    """The patient's earlier orders: the same body part first, then the newest."""
    same_part = case((ImagingOrder.body_part == order.body_part, 0), else_=1)
    statement = (
        select(ImagingOrder)
        .where(ImagingOrder.patient_id == order.patient_id, ImagingOrder.id != order.id,
               ImagingOrder.ordered_date <= order.ordered_date)
        .order_by(same_part, ImagingOrder.ordered_date.desc(), ImagingOrder.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(statement).unique().scalars())


def next_to_report(after: uuid.UUID | None = None, reader=None) -> ImagingOrder | None:
    """The first order of the "To report" queue: completed, STAT then urgent then routine, oldest
    first; with ``reader``, none another radiologist is reading (an active claim) and, for a
    trainee, none waiting for an attending's co-signature."""
    statement = select(ImagingOrder).where(ImagingOrder.status == "completed")
    if after is not None:
        statement = statement.where(ImagingOrder.id != after)
    if reader is not None:
        held = select(ReportClaim.order_id).where(ReportClaim.user_id != reader.id,
                                                  ReportClaim.last_active_at > utcnow() - claims.idle_limit())
        statement = statement.where(ImagingOrder.id.not_in(held))
        if cosign.is_trainee(reader):  # a preliminary report waits for an attending, not for them
            waiting = select(ReportDetails.order_id).where(ReportDetails.preliminary_at.is_not(None))
            statement = statement.where(ImagingOrder.id.not_in(waiting))
    statement = statement.order_by(PRIORITY_RANK, ImagingOrder.ordered_date, ImagingOrder.id).limit(1)
    return db.session.execute(statement).unique().scalar_one_or_none()
