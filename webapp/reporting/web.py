"""The reporting pages: the report editor and the readable report at /imaging/orders/{id}/report,
the critical-result banner of every page, acknowledging, and /dashboard/metrics.

Thin views, as in webapp.imaging.views: parse, call webapp.reporting (whose writes go through
webapp.imaging.services), commit through ``saving()``, render.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, request, url_for
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS, Role
from webapp.db_types import utcnow
from webapp.errors import ValidationFailed
from webapp.imaging import queries
from webapp.imaging.models import PRIORITY_LABELS
from webapp.reporting import critical, drafts, live, metrics, services, templates
from webapp.reporting.forms import PlainForm, ReportForm
from webapp.web import local_time
from webapp.web.htmx import is_htmx, render_page
from webapp.web.service_calls import discard, or_404, saving

bp = Blueprint("reporting", __name__)

METRICS_ROLES = (Role.DOCTOR, Role.ADMIN)
ACKNOWLEDGERS = (Role.DOCTOR, Role.ADMIN)


# ---------------------------------------------------------------------------- the report page


def _editor(order, form: ReportForm | None = None, *, status: int = 200, message=None):
    draft = drafts.get_draft(order)
    if form is None:
        form = ReportForm(formdata=None, obj=draft)
        form.version.data = order.version
    record_read(current_user, f"report editor of order {order.accession_number}", [order.patient_id])
    return render_page(
        "reporting/editor.html", status=status, order=order, form=form, draft=draft, message=message,
        templates=templates.for_order(order), priors=services.priors(order), plain=PlainForm(),
    )


@bp.route("/imaging/orders/<uuid:order_id>/report")
@roles_required(CAN_VIEW_ORDERS)
def report_page(order_id: uuid.UUID):
    """Radiologists write the report of a completed order here; everyone reads the signed one."""
    order = or_404(queries.get_order, order_id)
    if order.status == "completed" and drafts.may_draft(current_user):
        return _editor(order)
    record_read(current_user, f"report of order {order.accession_number}", [order.patient_id])
    return render_page("reporting/report.html", order=order, priors=services.priors(order))


def _posted(order_id: uuid.UUID) -> tuple[Any, ReportForm, bool]:
    """The order (404 when unknown) and the editor's posted form; an invalid form rolls back."""
    order = or_404(queries.get_order, order_id)
    form = ReportForm()
    valid = form.validate_on_submit()
    if not valid:
        discard()
    return order, form, valid


@bp.route("/imaging/orders/<uuid:order_id>/report/draft", methods=["POST"])
@roles_required([Role.RADIOLOGIST])
def save_draft(order_id: uuid.UUID):
    """The editor's autosave (htmx, every few seconds and on leaving a field) or its button."""
    order, form, valid = _posted(order_id)
    if not valid:
        return _editor(order, form, status=422, message=("danger", "The draft was not saved: see below."))
    with saving() as outcome:
        drafts.save_draft(current_user, order, form.sections())
    if outcome.refused:
        return _editor(order, form, status=409, message=("warning", outcome.refused.detail))
    saved = f"Draft saved at {local_time(utcnow(), '%H:%M:%S')}."
    if is_htmx():
        return f'<span id="draft-status" class="small text-body-secondary" role="status">{saved}</span>'
    flash(saved, "success")
    return redirect(url_for("reporting.report_page", order_id=order.id), 303)


@bp.route("/imaging/orders/<uuid:order_id>/report/template", methods=["POST"])
@roles_required([Role.RADIOLOGIST])
def use_template(order_id: uuid.UUID):
    """Start from a template: its text fills the draft's empty sections (what was typed is kept)."""
    order, form, valid = _posted(order_id)
    if not valid:
        abort(400)
    with saving() as outcome:
        drafts.save_draft(current_user, order, form.sections())
        drafts.apply_template(current_user, order, request.form.get("choose_template"))
    if outcome.refused:
        flash(outcome.refused.detail if not isinstance(outcome.refused, ValidationFailed)
              else "; ".join(outcome.refused.errors.values()), "warning")
    return redirect(url_for("reporting.report_page", order_id=order.id), 303)


def _refusal_text(form, errors: dict[str, str]) -> str:
    """One sentence for the editor: the empty sections by name ("Enter the findings and the
    impression before signing."), then any other refusal with its field's label."""
    missing = [form[name].label.text.lower() for name, text in errors.items()
               if name in form and text == "This field is required."]
    others = [f"{form[name].label.text if name in form else name}: {text}" for name, text in errors.items()
              if not (name in form and text == "This field is required.")]
    parts = [f"Enter the {' and the '.join(missing)} before signing."] if missing else []
    return " ".join(parts + [f"{text}." if not text.endswith(".") else text for text in others])


@bp.route("/imaging/orders/<uuid:order_id>/report/sign", methods=["POST"])
@roles_required([Role.RADIOLOGIST])
def sign(order_id: uuid.UUID):
    """Save what is on the screen, sign it, and open the next order of the "To report" queue."""
    order, form, valid = _posted(order_id)
    if not valid:
        return _editor(order, form, status=422, message=("danger", "Please correct the form below."))
    with saving() as outcome:  # what is on the screen is kept, also when signing is refused
        drafts.save_draft(current_user, order, form.sections())
    if not outcome.refused:
        with saving() as outcome:
            services.sign(current_user, order, critical_flag=form.critical.data,
                          critical_note=form.critical_note.data, expected_version=form.version.data)
    if outcome.refused:
        order = or_404(queries.get_order, order_id)
        if order.status != "completed":
            flash(outcome.refused.detail, "warning")
            return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
        errors = getattr(outcome.refused, "errors", {}) or {}
        for name, text in errors.items():
            if name in form:
                form[name].errors = [*form[name].errors, text]
        return _editor(order, form, status=422, message=("danger", _refusal_text(form, errors) or outcome.refused.detail))
    flash(f"Report for order {order.accession_number} signed.", "success")
    following = services.next_to_report(after=order.id)
    if following is None:
        return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
    return redirect(url_for("reporting.report_page", order_id=following.id), 303)


# ---------------------------------------------------------------------------- critical results


def banner_results() -> list:
    """The signed-in doctor's open critical results (the banner on every page); access-logged."""
    if not current_user.is_authenticated or current_user.role != Role.DOCTOR:
        return []
    results = critical.open_for_doctor(current_user.id)
    if results:
        record_read(current_user, "critical results", [r.order.patient_id for r in results])
    return results


@bp.route("/critical-results/banner")
@roles_required(CAN_VIEW_ORDERS)
def critical_banner():
    return render_page("reporting/_critical_banner.html", plain=PlainForm())


@bp.route("/critical-results/<int:critical_id>/acknowledge", methods=["POST"])
@roles_required(ACKNOWLEDGERS)
def acknowledge(critical_id: int):
    form = PlainForm()
    if not form.validate_on_submit():
        abort(400)
    result = or_404(critical.get, critical_id)
    order_id = result.order_id
    with saving() as outcome:
        services.acknowledge(current_user, critical_id)
    if is_htmx():
        return render_page("reporting/_critical_banner.html", plain=PlainForm())
    if outcome.refused:
        flash(outcome.refused.detail, "warning")
    else:
        flash("Critical result acknowledged.", "success")
    return redirect(url_for("imaging.order_detail", order_id=order_id), 303)


def overdue_results() -> list:
    """Overdue critical results with their age in minutes, for administrators' dashboard."""
    if not current_user.is_authenticated or current_user.role != Role.ADMIN:
        return []
    now = utcnow()
    results = critical.overdue(now)
    if results:
        record_read(current_user, "overdue critical results", [r.order.patient_id for r in results])
    return [(r, critical.age_minutes(r, now)) for r in results]


def drafts_shown(orders) -> set:
    """Which of these orders have a report draft, for radiologists (the queue's "Report draft")."""
    if not current_user.is_authenticated or current_user.role != Role.RADIOLOGIST:
        return set()
    return drafts.draft_order_ids(o.id for o in orders if o.status == "completed")


def overdue_count() -> tuple[int, int]:
    """How many critical results are overdue, and the oldest one's age in minutes (the wall: no identities)."""
    now = utcnow()
    results = critical.overdue(now, limit=1000)
    return len(results), max((critical.age_minutes(r, now) for r in results), default=0)


# ---------------------------------------------------------------------------- metrics


def _day(name: str, errors: dict) -> date | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = "Give a date as YYYY-MM-DD."
        return None


@bp.route("/dashboard/metrics")
@roles_required(METRICS_ROLES)
def metrics_page():
    from webapp.api.reporting import DEFAULT_PERIOD_DAYS, MAX_PERIOD_DAYS
    from webapp.db_types import clinic_day_bounds, clinic_today

    errors: dict[str, str] = {}
    last = _day("to", errors) or clinic_today()
    first = _day("from", errors) or date.fromordinal(last.toordinal() - DEFAULT_PERIOD_DAYS + 1)
    if first > last or (last - first).days > MAX_PERIOD_DAYS:
        errors["from"] = f"The period runs forwards, at most {MAX_PERIOD_DAYS} days."
        first = date.fromordinal(last.toordinal() - DEFAULT_PERIOD_DAYS + 1)
    figures = metrics.turnaround(clinic_day_bounds(first)[0], clinic_day_bounds(last)[1])
    return render_page("reporting/metrics.html", status=422 if errors else 200, figures=figures, first=first,
                       last=last, errors=errors, priorities=PRIORITY_LABELS, scales=_chart_scales(figures))


def _chart_scales(figures: dict) -> dict[str, float]:
    """Per interval, the longest bar or target the chart must hold (minutes)."""
    scales = {}
    for name, interval in figures["intervals"].items():
        summaries = [interval["all"], *interval["by_priority"].values(), *interval["by_modality"].values()]
        values = [s.get(key) for s in summaries for key in ("p90_minutes", "target_minutes")]
        scales[name] = max([abs(v) for v in values if v is not None] or [0])
    return scales


# ---------------------------------------------------------------------------- set-up


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    live.register_session_listeners()
    templates.register(app)
    app.add_template_global(banner_results, "critical_banner_results")
    app.add_template_global(overdue_results, "overdue_critical_results")
    app.add_template_global(overdue_count, "overdue_critical_count")
    app.add_template_global(critical.ack_minutes, "critical_ack_minutes")
    app.add_template_global(drafts.draft_order_ids, "report_draft_ids")
    app.add_template_global(drafts_shown, "report_drafts_shown")
    app.add_template_global(services.priors, "report_priors")
