"""Report drafts: the editor's autosave, and starting text from a template.

A draft is no change to the order: no order event, no order version, no live event (see
webapp.reporting.models). Only radiologists write and read drafts, and only on completed orders,
and only the radiologist who holds the study's claim (webapp.reporting.claims; saving claims a
study nobody holds). The draft has a version of its own: a save that names an older one is
refused (DraftChanged, 412) and nothing is overwritten, unless the older version was saved by the
same editor page (``editor_token``: its own autosave still in flight).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from webapp.auth.roles import Role
from webapp.db_types import utcnow
from webapp.errors import PermissionDenied, StaleVersion, TransitionNotAllowed, ValidationFailed
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder
from webapp.imaging.rules import clean_text
from webapp.reporting import mrrt
from webapp.reporting.models import REPORT_SECTIONS, ReportDraft, ReportTemplate

DRAFT_ROLES = frozenset({str(Role.RADIOLOGIST)})


class DraftChanged(StaleVersion, title="The report draft was changed by someone else", kind="stale-draft"):
    """The draft is not the version the radiologist saw (412); ``draft`` is the stored one."""

    def __init__(self, detail: str, draft: ReportDraft | None) -> None:
        super().__init__(detail)
        self.draft = draft
        self.current_draft_version = draft.version if draft else 0

    def extra(self) -> dict:
        return {"current_draft_version": self.current_draft_version}


def draft_version(draft: ReportDraft | None) -> int:
    """0 before the first save."""
    return draft.version if draft is not None else 0


def draft_etag(draft: ReportDraft | None) -> str:
    return f'"draft-{draft_version(draft)}"'


def check_draft_version(draft: ReportDraft | None, expected: int | None, editor_token: str | None = None) -> None:
    """Refuse (DraftChanged) when ``expected`` is not the stored draft's version; None checks nothing.
    An older version is no conflict when this very editor page saved the newer one."""
    if expected is None or expected == draft_version(draft):
        return
    if editor_token and draft is not None and draft.editor_token == editor_token and expected < draft.version:
        return
    who = draft.author.display_name if draft is not None and draft.author else "someone"
    when = f" at {draft.updated_at:%H:%M:%S} UTC" if draft is not None and draft.updated_at else ""
    raise DraftChanged(f"The draft was changed by {who}{when} since you opened it (version "
                       f"{draft_version(draft)}, you had {expected}): nothing was saved or signed.", draft)


def may_draft(user) -> bool:
    return getattr(user, "role", None) in DRAFT_ROLES


def _check_writer(user, order) -> None:
    if not may_draft(user):
        raise PermissionDenied("Only radiologists write reports.")
    if order.status != "completed":
        raise TransitionNotAllowed(
            f"Order {order.accession_number} is {order.status_label.lower()}: only a completed scan is reported."
        )
    if order.report_details is not None and order.report_details.preliminary_at is not None:
        raise TransitionNotAllowed(f"Order {order.accession_number} has a trainee's preliminary report: an attending "
                                   "co-signs it (POST …/report/cosign, edits allowed).")


def get_draft(order) -> ReportDraft | None:
    """The stored draft as it is in the database now (not a copy this session read earlier)."""
    return db.session.execute(
        select(ReportDraft).where(ReportDraft.order_id == order.id).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def check_template(code: Any, errors: dict[str, str]) -> str | None:
    """An active template's code, or None; anything else is an error of ``template_code``."""
    code = clean_text(code, "template_code", errors)
    if code is None:
        return None
    template = db.session.get(ReportTemplate, code)
    if template is None or not template.is_active:
        errors["template_code"] = "No active report template has this code."
        return None
    return code


def save_draft(user, order, values: dict[str, Any], *, expected_version: int | None = None,
               editor_token: str | None = None) -> ReportDraft:
    """Save the sections given (others keep their text); flushes, never commits. ``expected_version``:
    the draft version the writer saw (412 when it changed since); the writer must hold the claim (409)."""
    from webapp.reporting import claims

    _check_writer(user, order)
    unknown = set(values) - {*REPORT_SECTIONS, "template_code", "fields"}
    if unknown:
        raise TypeError(f"Unknown report values: {', '.join(sorted(unknown))}")
    errors: dict[str, str] = {}
    clean = {name: clean_text(values[name], name, errors) for name in REPORT_SECTIONS if name in values}
    if "template_code" in values:
        clean["template_code"] = check_template(values["template_code"], errors)
    answers = values.get("fields")
    if errors:
        raise ValidationFailed(errors)
    # The order's row lock: two autosaves of one order (two tabs) queue instead of both inserting.
    db.session.execute(select(ImagingOrder.id).where(ImagingOrder.id == order.id).with_for_update())
    claims.require_holder(user, order)
    draft = get_draft(order)
    check_draft_version(draft, expected_version, editor_token)
    if draft is None:
        draft = ReportDraft(order_id=order.id, version=0)
    for name, value in clean.items():
        setattr(draft, name, value)
    if answers is not None:
        # A structured (MRRT) template's answers: only its fields, a choice only among its options.
        template = db.session.get(ReportTemplate, draft.template_code) if draft.template_code else None
        draft.field_values = mrrt.clean_answers(template.structure if template else None, answers, errors) or None
        if errors:
            raise ValidationFailed(errors)
    draft.updated_at, draft.updated_by = utcnow(), user.id
    draft.version = draft_version(draft) + 1
    draft.editor_token = editor_token
    db.session.add(draft)
    db.session.flush()
    return draft


def apply_template(user, order, code: Any) -> ReportDraft:
    """Start from a template: its text goes into the draft's empty sections."""
    _check_writer(user, order)
    errors: dict[str, str] = {}
    code = check_template(code, errors)
    if code is None:
        raise ValidationFailed(errors or {"template_code": "Choose a template."})
    template = db.session.get(ReportTemplate, code)
    draft = get_draft(order)
    current = {name: getattr(draft, name) if draft else None for name in ("technique", "findings", "impression")}
    values = {name: getattr(template, name) for name, text in current.items() if not text}
    return save_draft(user, order, values | {"template_code": code}, editor_token=draft.editor_token if draft else None)


def discard(order) -> None:
    """The report is signed: its draft goes (the order holds the report now). Without autoflush:
    the order's half-made change is flushed once, by the service, with its new status."""
    with db.session.no_autoflush:
        db.session.execute(delete(ReportDraft).where(ReportDraft.order_id == order.id))


def draft_order_ids(order_ids) -> set:
    """Which of these orders have a report draft (the queue's "Report draft")."""
    ids = list(order_ids)
    if not ids:
        return set()
    return set(db.session.scalars(select(ReportDraft.order_id).where(ReportDraft.order_id.in_(ids))))
