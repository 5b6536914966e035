"""Reporting's tables: report drafts, report templates, addenda and critical results.

* ``report_drafts``: one row per completed order a radiologist is writing; the editor's autosave
  overwrites it every few seconds. It is no change to the order (no order event, no version, no
  live event): a draft saved every few seconds must not flood the audit chain or every open
  page. Signing (the order's ``report`` action) copies it onto the order and deletes it.
  Each save bumps the draft's ``version`` (its ETag ``"draft-N"``): a save or a signature that
  names an older version is refused (412), so nobody signs or overwrites text they have not seen.
  ``editor_token`` names the editor page (one per opened tab) that saved it last: that tab's own
  saves still in flight are not a conflict; another tab's are.
* ``report_claims``: who is reading a study now (webapp.reporting.claims); the primary key on
  ``order_id`` lets the database, not a check-then-insert, decide between two radiologists.
* ``report_details``: the signed report's technique, comparison and template (the order holds
  findings and impression).
* ``report_templates``: starting text per modality and body part (``flask templates``).
* ``report_addenda``: text added after sign-off (the ``addendum`` action; its event is audited).
* ``critical_results``: a critical finding raised when signing or with an addendum, and who
  acknowledged it when (the ``acknowledge`` action; audited as an order event), or when it was
  escalated for want of an acknowledgement (webapp.reporting.escalation; also an order event).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db

REPORT_SECTIONS = ("technique", "comparison", "findings", "impression")


class ReportDraft(db.Model):
    __tablename__ = "report_drafts"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_orders.id"), primary_key=True)
    technique: Mapped[str | None] = mapped_column(Text)
    comparison: Mapped[str | None] = mapped_column(Text)
    findings: Mapped[str | None] = mapped_column(Text)
    impression: Mapped[str | None] = mapped_column(Text)
    template_code: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    editor_token: Mapped[str | None] = mapped_column(String(40))
    field_values: Mapped[dict | None] = mapped_column(JSON)  # a structured (MRRT) template's answers

    author = relationship("User")


class ReportClaim(db.Model):
    """A radiologist reading a study: one row per order at most (the primary key). An idle claim
    (``last_active_at`` older than REPORT_CLAIM_IDLE_MINUTES) has lapsed and may be taken."""

    __tablename__ = "report_claims"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_orders.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_active_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    reader = relationship("User")


class ReportDetails(db.Model):
    """The signed report's sections beyond the order's findings and impression (the order holds
    those, as the seed model has them): technique, comparison, and the template it started from.
    Written once, by the ``report`` action, when the report has any of them."""

    __tablename__ = "report_details"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_orders.id"), primary_key=True)
    technique: Mapped[str | None] = mapped_column(Text)
    comparison: Mapped[str | None] = mapped_column(Text)
    template_code: Mapped[str | None] = mapped_column(String(32))
    # A trainee's signature (webapp.reporting.cosign): the report is preliminary until an
    # attending co-signs it; the impression the ordering doctor read then, and whether the final
    # one says something else.
    preliminary_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    preliminary_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    preliminary_impression: Mapped[str | None] = mapped_column(Text)
    cosigned_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    cosigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    impression_changed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # The answers to a structured (MRRT) template's fields, as signed.
    field_values: Mapped[dict | None] = mapped_column(JSON)

    order = relationship("ImagingOrder", backref=backref("report_details", uselist=False))
    trainee = relationship("User", foreign_keys=[preliminary_by])
    cosigner = relationship("User", foreign_keys=[cosigned_by])


class ReportTemplate(db.Model):
    __tablename__ = "report_templates"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    modality: Mapped[str] = mapped_column(ForeignKey("imaging_modalities.code"), index=True)
    body_part: Mapped[str | None] = mapped_column(ForeignKey("body_parts.code"))  # None: any body part
    technique: Mapped[str] = mapped_column(Text, default="")
    findings: Mapped[str] = mapped_column(Text, default="")
    impression: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # An imported IHE MRRT template (webapp.reporting.mrrt): its identifier (unique) and fields.
    identifier: Mapped[str | None] = mapped_column(String(200), unique=True)
    structure: Mapped[dict | None] = mapped_column(JSON)


class ReportAddendum(db.Model):
    __tablename__ = "report_addenda"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_orders.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    author_label: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # The order's JSON lists them as ``addenda`` (a list page loads them in one query:
    # webapp.reporting.services.preload_addenda).
    order = relationship("ImagingOrder", backref=backref("addenda", order_by="ReportAddendum.id"))

    @property
    def author(self) -> str:
        return self.author_label


class CriticalResult(db.Model):
    __tablename__ = "critical_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_orders.id"), index=True)
    # Whom it is for: the ordering doctor when it was raised.
    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text)
    raised_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    raised_by_label: Mapped[str] = mapped_column(String(128))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_by_label: Mapped[str | None] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    on_behalf: Mapped[bool] = mapped_column(Boolean, default=False)  # acknowledged by someone else
    # Still open CRITICAL_ACK_MINUTES after it was raised: when it was escalated (once; webapp.reporting.escalation).
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order = relationship("ImagingOrder", backref=backref("critical_results", order_by="CriticalResult.id"))

    __table_args__ = (
        Index("ix_critical_results_open", "acknowledged_at", "doctor_id"),
        Index("ix_critical_results_raised_at", "raised_at"),
    )

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None

    @property
    def is_escalated(self) -> bool:
        return self.acknowledged_at is None and self.escalated_at is not None


class PeerReview(db.Model):
    """A radiologist's RADPEER score of another radiologist's signed report (webapp.reporting.peer_review):
    one per study (the unique key refuses a second), never one's own."""

    __tablename__ = "peer_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_orders.id"), unique=True)
    reader_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    modality: Mapped[str] = mapped_column(String(10))
    score: Mapped[str] = mapped_column(String(2))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order = relationship("ImagingOrder")
    reader = relationship("User", foreign_keys=[reader_id])
    reviewer = relationship("User", foreign_keys=[reviewer_id])


# Addenda are text added under a signed report, never edited or removed: append-only by trigger
# like the audit tables (webapp.audit.guards), and checked against the chain by `audit verify`.
from webapp.audit.guards import guard_on_create  # noqa: E402

guard_on_create(ReportAddendum.__table__)
