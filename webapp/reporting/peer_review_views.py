"""The peer review pages: ``/peer-review`` (a radiologist's queue of others' sampled reports, each
scored with RADPEER) and ``/admin/peer-review`` (the QA queue of 2b/3a/3b and each reader's
discrepancy rate by modality). Thin views over webapp.reporting.peer_review."""

from __future__ import annotations

import uuid

from flask import flash, redirect, request, url_for
from flask_login import current_user

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import Role
from webapp.imaging import queries
from webapp.reporting import peer_review
from webapp.reporting.forms import PlainForm
from webapp.reporting.web import bp
from webapp.web.htmx import render_page
from webapp.web.service_calls import discard, or_404, saving


@bp.route("/peer-review")
@roles_required({Role.RADIOLOGIST})
def peer_review_queue():
    orders = peer_review.offered_to(current_user)
    record_read(current_user, "peer review queue", [o.patient_id for o in orders])
    return render_page("reporting/peer_review.html", orders=orders, scores=peer_review.SCORES, plain=PlainForm())


@bp.route("/imaging/orders/<uuid:order_id>/peer-review", methods=["POST"])
@roles_required({Role.RADIOLOGIST})
def add_peer_review(order_id: uuid.UUID):
    order = or_404(queries.get_order, order_id)
    if not PlainForm().validate_on_submit():
        discard()
        flash("The form has expired: please try again.", "warning")
        return redirect(url_for("reporting.peer_review_queue"), 303)
    with saving() as outcome:
        peer_review.review(current_user, order, request.form.get("score"), request.form.get("comment"))
    if outcome.refused:
        errors = getattr(outcome.refused, "errors", {}) or {}
        flash(f"Order {order.accession_number}: " + ("; ".join(errors.values()) or outcome.refused.detail), "warning")
    else:
        flash(f"Peer review of order {order.accession_number} recorded.", "success")
    return redirect(url_for("reporting.peer_review_queue"), 303)


@bp.route("/admin/peer-review")
@roles_required({Role.ADMIN})
def peer_review_admin():
    qa = peer_review.listing(200, qa_only=True)
    record_read(current_user, "peer review QA queue", [r.order.patient_id for r in qa])
    return render_page("reporting/peer_review_admin.html", qa=qa, rates=peer_review.discrepancy_rates())
