"""The reporting pages: the report editor and the readable report at /imaging/orders/{id}/report,
the critical-result banner of every page, acknowledging, and /dashboard/metrics.

Thin views, as in webapp.imaging.views: parse, call webapp.reporting (whose writes go through
webapp.imaging.services), commit through ``saving()``, render.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import date
from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS, Role
from webapp.db_types import utcnow
from webapp.errors import ValidationFailed
from webapp.extensions import db
from webapp.imaging import queries
from webapp.imaging import services as services_imaging
from webapp.imaging.models import PRIORITY_LABELS
from webapp.reporting import claims, cosign, critical, drafts, live, metrics, services, templates
from webapp.reporting.forms import CosignForm, PlainForm, ReportForm, TakeOverForm
from webapp.reporting.models import ReportTemplate
from webapp.web import local_time
from webapp.web.htmx import is_htmx, render_page
from webapp.web.service_calls import discard, or_404, saving

bp = Blueprint("reporting", __name__)

METRICS_ROLES = (Role.DOCTOR, Role.ADMIN)
ACKNOWLEDGERS = (Role.DOCTOR, Role.ADMIN)


# ---------------------------------------------------------------------------- the report page


def _editor(order, form: ReportForm | None = None, *, status: int = 200, message=None, conflict=None):
    """The editor. Opening it claims the study for the radiologist; when another radiologist holds
    it, the page says who and since when, and shows their draft read-only (with "take over" for
    attendings). ``conflict``: the stored draft another tab or radiologist saved (both texts shown)."""
    claim = _claim_on_open(order)
    draft = drafts.get_draft(order)
    if form is None:
        form = ReportForm(formdata=None, obj=draft)
        form.version.data = order.version
        form.draft_version.data = drafts.draft_version(draft)
        form.editor_token.data = secrets.token_urlsafe(16)
    record_read(current_user, f"report editor of order {order.accession_number}", [order.patient_id])
    return render_page(
        "reporting/editor.html", status=status, order=order, form=form, draft=draft, message=message,
        templates=templates.for_order(order), priors=services.priors(order), plain=PlainForm(),
        claim=claim, held_by_other=claim is not None and claim.user_id != current_user.id, conflict=conflict,
        structure=_structure(draft), answers=_answers(draft),
        may_take_over=claims.may_take_over(current_user), take_over_form=TakeOverForm(),
    )


def _structure(draft) -> dict | None:
    """The structured (MRRT) template the draft started from, if any: the editor shows its fields."""
    template = db.session.get(ReportTemplate, draft.template_code) if draft and draft.template_code else None
    return template.structure if template is not None else None


def _answers(draft) -> dict:
    """What the page shows in the structured fields: what was posted, else the draft's answers."""
    if request.method == "POST" and request.form.get("mrrt_present"):
        return _posted_answers()
    return (draft.field_values if draft else None) or {}


def _posted_answers() -> dict:
    return {key.removeprefix("mrrt-"): value for key, value in request.form.items() if key.startswith("mrrt-")}


def _values(form: ReportForm) -> dict:
    """The editor's sections and, when the page showed a structured template, its answers."""
    values = form.sections()
    if request.form.get("mrrt_present"):
        values["fields"] = _posted_answers()
    return values


def _claim_on_open(order):
    """Claim the study (or refresh one's claim) and commit; the active claim, whoever holds it."""
    with saving() as outcome:
        claims.claim(current_user, order)
    if outcome.refused and not isinstance(outcome.refused, claims.ClaimHeld):
        return None
    return claims.current(order.id)


@bp.route("/imaging/orders/<uuid:order_id>/report")
@roles_required(CAN_VIEW_ORDERS)
def report_page(order_id: uuid.UUID):
    """Radiologists write the report of a completed order here; everyone reads the signed one."""
    order = or_404(queries.get_order, order_id)
    preliminary = cosign.is_preliminary(order)
    if preliminary and drafts.may_draft(current_user) and not cosign.is_trainee(current_user):
        return _cosign_page(order)
    if order.status == "completed" and not preliminary and drafts.may_draft(current_user):
        return _editor(order)
    record_read(current_user, f"report of order {order.accession_number}", [order.patient_id])
    return render_page("reporting/report.html", order=order, priors=services.priors(order), preliminary=preliminary)


def _cosign_page(order, form: CosignForm | None = None, *, status: int = 200, message=None):
    """An attending co-signs a trainee's preliminary report here, editing it if need be."""
    details = order.report_details
    if form is None:
        form = CosignForm(formdata=None, findings=order.findings, impression=order.impression,
                          technique=details.technique, comparison=details.comparison, version=order.version)
    record_read(current_user, f"co-signature of order {order.accession_number}", [order.patient_id])
    return render_page("reporting/cosign.html", status=status, order=order, form=form, details=details,
                       message=message, priors=services.priors(order))


@bp.route("/imaging/orders/<uuid:order_id>/report/cosign", methods=["POST"])
@roles_required([Role.RADIOLOGIST])
def cosign_report(order_id: uuid.UUID):
    """Co-sign (with edits): the report is final, the order reported; then the next to report."""
    order = or_404(queries.get_order, order_id)
    form = CosignForm()
    if not form.validate_on_submit():
        discard()
        return _cosign_page(order, form, status=422, message=("danger", "Please correct the form below."))
    with saving() as outcome:
        services.cosign_report(current_user, order, form.sections(), expected_version=form.version.data)
    if outcome.refused:
        order = or_404(queries.get_order, order_id)
        if not cosign.is_preliminary(order):
            flash(outcome.refused.detail, "warning")
            return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
        return _cosign_page(order, form, status=outcome.refused.status, message=("danger", outcome.refused.detail))
    flash(f"Report for order {order.accession_number} co-signed: it is final.", "success")
    return redirect(url_for("imaging.order_detail", order_id=order.id), 303)


def _posted(order_id: uuid.UUID) -> tuple[Any, ReportForm, bool]:
    """The order (404 when unknown) and the editor's posted form; an invalid form rolls back."""
    order = or_404(queries.get_order, order_id)
    form = ReportForm()
    valid = form.validate_on_submit()
    if not valid:
        discard()
    return order, form, valid


def _seen_version(form: ReportForm) -> int | None:
    """The draft version the page names: the one it shows, or the stored one it chose to overwrite."""
    return form.resolve_version.data if form.resolve_version.data is not None else form.draft_version.data


def _refused(order, form: ReportForm, refused):
    """The editor again after a refused save or signature: both texts when the draft changed
    (the autosave gets only the status line and the two texts, swapped in place)."""
    conflict = refused.draft if isinstance(refused, drafts.DraftChanged) else None
    if conflict is None and isinstance(refused, drafts.DraftChanged):
        conflict = drafts.ReportDraft(order_id=order.id, version=0)
    if conflict is not None and is_htmx():
        body = render_template("reporting/_draft_conflict_oob.html", order=order, form=form, conflict=conflict,
                               draft_url=url_for("reporting.save_draft", order_id=order.id))
        return body, 412
    status = refused.status if refused.status in (409, 412) else 422
    errors = getattr(refused, "errors", {}) or {}
    for name, text in errors.items():
        if name in form:
            form[name].errors = [*form[name].errors, text]
    kind = "warning" if status in (409, 412) else "danger"
    return _editor(order, form, status=status, conflict=conflict,
                   message=(kind, _refusal_text(form, errors) or refused.detail))


@bp.route("/imaging/orders/<uuid:order_id>/report/draft", methods=["POST"])
@roles_required([Role.RADIOLOGIST])
def save_draft(order_id: uuid.UUID):
    """The editor's autosave (htmx, every few seconds and on leaving a field), its button, and
    the page's last save when it is left (navigator.sendBeacon, CSRF token included)."""
    order, form, valid = _posted(order_id)
    if not valid:
        return _editor(order, form, status=422, message=("danger", "The draft was not saved: see below."))
    with saving() as outcome:
        draft = drafts.save_draft(current_user, order, _values(form), expected_version=_seen_version(form),
                                  editor_token=form.editor_token.data or None)
        version = draft.version
    if outcome.refused:
        return _refused(order, form, outcome.refused)
    saved = f"Draft saved at {local_time(utcnow(), '%H:%M:%S')}."
    if is_htmx():
        return (f'<span id="draft-status" class="small text-body-secondary" role="status">{saved}</span>'
                f'<input type="hidden" id="draft_version" name="draft_version" value="{version}" hx-swap-oob="true">')
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
        drafts.save_draft(current_user, order, form.sections(), expected_version=_seen_version(form),
                          editor_token=form.editor_token.data or None)
        drafts.apply_template(current_user, order, request.form.get("choose_template"))
    if isinstance(outcome.refused, drafts.DraftChanged):
        return _refused(order, form, outcome.refused)
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
    """Save what is on the screen and sign it, in one transaction (the draft must still be the
    version the page showed: else both texts are shown and nothing is signed), then open the
    next order of the "To report" queue that no other radiologist is reading."""
    order, form, valid = _posted(order_id)
    if not valid:
        return _editor(order, form, status=422, message=("danger", "Please correct the form below."))
    token = form.editor_token.data or None
    with saving() as outcome:
        draft = drafts.save_draft(current_user, order, _values(form), expected_version=_seen_version(form),
                                  editor_token=token)
        services.sign(current_user, order, critical_flag=form.critical.data, critical_note=form.critical_note.data,
                      expected_version=form.version.data, draft_version=draft.version, editor_token=token)
    if outcome.refused:
        order = or_404(queries.get_order, order_id)
        if order.status != "completed":
            flash(outcome.refused.detail, "warning")
            return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
        if isinstance(outcome.refused, ValidationFailed):
            # What is on the screen is kept: saved as the draft, then the form again with its errors.
            with saving() as kept:
                drafts.save_draft(current_user, order, _values(form), expected_version=_seen_version(form),
                                  editor_token=token)
            if not kept.refused:
                form.draft_version.data, form.resolve_version.data = drafts.draft_version(drafts.get_draft(order)), None
        return _refused(order, form, outcome.refused)
    flash(f"Report for order {order.accession_number} signed.", "success")
    following = services.next_to_report(after=order.id, reader=current_user)
    if following is None:
        return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
    return redirect(url_for("reporting.report_page", order_id=following.id), 303)


@bp.route("/imaging/orders/<uuid:order_id>/report/release", methods=["POST"])
@roles_required([Role.RADIOLOGIST])
def release(order_id: uuid.UUID):
    """Give the study back to the queue (the draft stays)."""
    order = or_404(queries.get_order, order_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    with saving():
        claims.release(current_user, order)
    flash(f"Order {order.accession_number} is back in the queue for any radiologist.", "success")
    return redirect(url_for("dashboard.to_report"), 303)


@bp.route("/imaging/orders/<uuid:order_id>/report/take-over", methods=["POST"])
@roles_required([Role.RADIOLOGIST, Role.ADMIN])
def take_over(order_id: uuid.UUID):
    """An attending (or an administrator) takes over a study another radiologist holds, with a reason."""
    order = or_404(queries.get_order, order_id)
    form = TakeOverForm()
    if not form.validate_on_submit():
        discard()
        flash("Say why you take the study over.", "warning")
        return redirect(url_for("reporting.report_page", order_id=order.id), 303)
    with saving() as outcome:
        services_imaging.apply_action(current_user, order, "take_over", reason=form.reason.data)
    flash(outcome.refused.detail if outcome.refused else f"You have taken over order {order.accession_number}.",
          "warning" if outcome.refused else "success")
    target = "reporting.report_page" if current_user.role == Role.RADIOLOGIST else "imaging.order_detail"
    return redirect(url_for(target, order_id=order.id), 303)


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


@bp.route("/critical-results/<id:critical_id>/acknowledge", methods=["POST"])
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


def claims_shown(orders) -> dict:
    """Who is reading which of these completed orders (every queue and list shows it)."""
    if not current_user.is_authenticated or current_user.role == Role.DISPLAY:
        return {}
    return claims.active_claims(o.id for o in orders if o.status == "completed")


def overdue_count() -> tuple[int, int, int]:
    """How many critical results are overdue, the oldest one's age in minutes, and how many of them
    were escalated (the wall: counts only, no identities)."""
    now = utcnow()
    results = critical.overdue(now, limit=1000)
    return (len(results), max((critical.age_minutes(r, now) for r in results), default=0),
            sum(1 for r in results if r.escalated_at is not None))


# ---------------------------------------------------------------------------- metrics


def _day(name: str, errors: dict) -> date | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    from webapp.paging import FIRST_YEAR, LAST_YEAR

    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors[name] = "Give a date as YYYY-MM-DD."
        return None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        errors[name] = f"Give a date between the years {FIRST_YEAR} and {LAST_YEAR}."
        return None
    return day


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
    from webapp.reporting import peer_review_views, staff  # noqa: F401  (their routes are on bp)

    app.register_blueprint(bp)
    live.register_session_listeners()
    claims.register_session_listeners()
    templates.register(app)
    app.add_template_global(banner_results, "critical_banner_results")
    app.add_template_global(overdue_results, "overdue_critical_results")
    app.add_template_global(overdue_count, "overdue_critical_count")
    app.add_template_global(critical.ack_minutes_text, "critical_ack_minutes")
    app.add_template_global(drafts.draft_order_ids, "report_draft_ids")
    app.add_template_global(drafts_shown, "report_drafts_shown")
    app.add_template_global(claims_shown, "report_claims_shown")
    app.add_template_global(cosign.report_state, "report_state")
    app.add_template_global(services.priors, "report_priors")
