"""/admin/durations (administrators): each procedure's typical duration, which a booking occupies
on its scanner (webapp.imaging.durations). One form per procedure; a bad value is refused with
its field named and changes nothing."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from webapp.auth.access import roles_required
from webapp.auth.roles import Role
from webapp.errors import ValidationFailed
from webapp.imaging import bp, durations
from webapp.web.htmx import render_page
from webapp.web.service_calls import or_404, saving


def _page(errors: dict[str, str] | None = None, status: int = 200, values: dict[str, str] | None = None):
    return render_page("admin/durations.html", status=status, procedures=durations.catalogue(),
                       defaults=durations.MODALITY_MINUTES, errors=errors or {}, values=values or {},
                       low=durations.MIN_MINUTES, high=durations.MAX_MINUTES)


@bp.route("/admin/durations")
@roles_required({Role.ADMIN})
def durations_page():
    return _page()


@bp.route("/admin/durations", methods=["POST"])
@roles_required({Role.ADMIN})
def set_duration():
    code = (request.form.get("code") or "").strip()[:16]
    minutes = (request.form.get("minutes") or "").strip()[:8]
    with saving() as outcome:
        procedure = or_404(durations.set_duration, code, minutes)
    if isinstance(outcome.refused, ValidationFailed):
        return _page(outcome.refused.errors, 422, {code: minutes})
    flash(f"{procedure.name}: {procedure.duration_minutes} minutes.", "success")
    return redirect(url_for("imaging.durations_page") + f"#duration-{code}", 303)
