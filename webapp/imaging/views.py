"""Imaging pages: the order list, the order detail with its actions, and the order form.

Thin views: parse the form, call imaging.services (which asks imaging.workflow who may do what),
commit once, render. htmx requests get a block of the same template (render_page).
"""

from __future__ import annotations

import secrets
import uuid

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.audit import record_read
from webapp.auth.access import roles_required
from webapp.auth.roles import CAN_VIEW_ORDERS
from webapp.errors import (
    NotFound,
    PermissionDenied,
    ServiceError,
    StaleVersion,
    TransitionNotAllowed,
    ValidationFailed,
)
from webapp.extensions import db
from webapp.imaging import actions, bp, queries, services, workflow
from webapp.imaging.forms import EditOrderForm, ImagingOrderForm, action_form, choices
from webapp.imaging.models import (
    PRIORITY_LABELS,
    STATUS_LABELS,
    BodyPart,
    ImagingModality,
    ImagingOrder,
    OrderFormSubmission,
    Procedure,
)
from webapp.visits.models import Visit
from webapp.web.htmx import htmx_target, is_htmx, render_page

PAGE_SIZE = 25
ORDERS_CHANGED = "orders-changed"  # HX-Trigger event after any write; listeners may refresh


def _order_or_404(order_id) -> ImagingOrder:
    try:
        return queries.get_order(order_id)
    except NotFound:
        abort(404)


def _active_modalities() -> list[ImagingModality]:
    return list(db.session.scalars(
        select(ImagingModality).where(ImagingModality.is_active.is_(True)).order_by(ImagingModality.sort_order)
    ))


# ---------------------------------------------------------------------------- order list


@bp.route("/imaging/orders")
@roles_required(CAN_VIEW_ORDERS)
def order_list():
    errors: dict[str, str] = {}
    try:
        filters = queries.OrderFilter.from_args(request.args)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        filters = queries.OrderFilter()
    cursor = request.args.get("cursor") or None
    try:
        orders, next_cursor = queries.list_orders(filters, limit=PAGE_SIZE, cursor=cursor)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        cursor = None
        orders, next_cursor = queries.list_orders(filters, limit=PAGE_SIZE)
    record_read(current_user, "order list", [o.patient_id for o in orders])
    # Input that was not understood is said on the page, which lists the orders without it (422).
    return render_page(
        "imaging/order_list.html", "results", status=422 if errors else 200,
        orders=orders, next_cursor=next_cursor, cursor=cursor, filters=filters, errors=errors,
        args=request.args, modalities=_active_modalities(), statuses=STATUS_LABELS, priorities=PRIORITY_LABELS,
    )


# ---------------------------------------------------------------------------- order detail and actions


def _action_forms(order: ImagingOrder, allowed: list[str], given: dict | None = None) -> dict:
    """A form per allowed action (note included), keeping a submitted one with its errors."""
    forms = {}
    for action in allowed:
        if actions.ACTIONS[action].step is None:  # e.g. "edit": a page of its own
            continue
        if given and action in given:
            form = given[action]
        else:
            form = action_form(actions.ACTIONS[action])(prefix=action, formdata=None)
            form.version.data = order.version
            form.set_defaults(order.scheduled_date)
        if "station_ae" in form:
            form.set_stations(queries.active_stations(order.modality), order.scheduled_station_ae)
        forms[action] = form
    return forms


def _detail(order: ImagingOrder, *, forms: dict | None = None, message=None, status: int = 200, open_action=None):
    allowed = services.allowed_actions_for(current_user, order)
    events = queries.order_events(order)
    record_read(current_user, f"order {order.accession_number}", [order.patient_id])
    response = render_page(
        "imaging/order_detail.html", "order_main", status=status,
        order=order, events=events, allowed=allowed, event_changes=_readable_changes(order, events),
        forms=_action_forms(order, allowed, forms), message=message, open_action=open_action,
        actions=actions.ACTIONS, timeline_entry=actions.timeline_entry,
    )
    return response


# What the timeline calls the fields of an "updated" event (services.update_order's diff), in this order.
CHANGE_LABELS = {
    "modality": "Modality",
    "body_part": "Body part",
    "laterality": "Laterality",
    "procedure_code": "Procedure",
    "priority": "Priority",
    "diagnosis_id": "Diagnosis",
    "clinical_indication": "Clinical indication",
    "clinical_history": "Clinical history",
    "special_instructions": "Special instructions",
    "scheduled_station_ae": "Booked scanner",
}


def _readable_changes(order: ImagingOrder, events) -> dict[int, list[tuple[str, str, str]]]:
    """{event id: [(field label, old, new), ...]} for the order's "updated" events, with names
    instead of codes ("Body part", "Chest", "Abdomen"). Queries only when there are such events."""
    result: dict[int, list[tuple[str, str, str]]] = {}
    diagnoses: dict[str, str] | None = None

    def show(name: str, value, names: dict) -> str:
        nonlocal diagnoses
        if value in (None, ""):
            return "not specified" if name == "procedure_code" else "none"
        if name == "modality":
            row = db.session.get(ImagingModality, value)
            return row.name if row else str(value)
        if name == "body_part":
            row = db.session.get(BodyPart, value)
            return row.name if row else str(value)
        if name == "priority":
            return PRIORITY_LABELS.get(value, str(value))
        if name == "laterality":
            return str(value).capitalize()
        if name == "procedure_code":
            return f"{names[value]} (CPT {value})" if names.get(value) else f"CPT {value}"
        if name == "diagnosis_id":
            if diagnoses is None:
                diagnoses = {str(d.id): d.label for d in order.visit.diagnoses}
            return diagnoses.get(str(value), "a diagnosis no longer on the visit")
        return str(value)

    for event in events:
        if event.event_type != "updated" or not isinstance(event.changes, dict):
            continue
        diff = {name: change for name, change in event.changes.items() if isinstance(change, dict)}
        procedure_names = diff.get("procedure_name", {})
        names = {diff.get("procedure_code", {}).get("from"): procedure_names.get("from"),
                 diff.get("procedure_code", {}).get("to"): procedure_names.get("to")}
        order_of_fields = [*CHANGE_LABELS, *sorted(set(diff) - set(CHANGE_LABELS) - {"procedure_name"})]
        result[event.id] = [
            (CHANGE_LABELS.get(name) or name.replace("_", " ").capitalize(),
             show(name, diff[name].get("from"), names), show(name, diff[name].get("to"), names))
            for name in order_of_fields if name in diff
        ]
    return result


@bp.route("/imaging/orders/<uuid:order_id>")
@roles_required(CAN_VIEW_ORDERS)
def order_detail(order_id: uuid.UUID):
    return _detail(_order_or_404(order_id))


STALE_TEXT = (
    "Someone else changed order {acc} while you were looking at it. Nothing was saved. "
    "Below is its current state: check it, then try again if it is still needed."
)


@bp.route("/imaging/orders/<uuid:order_id>/actions/<action>", methods=["POST"])
@roles_required(CAN_VIEW_ORDERS)
def order_action(order_id: uuid.UUID, action: str):
    definition = actions.ACTIONS.get(action)
    if definition is None or definition.step is None:
        abort(404)
    order = _order_or_404(order_id)
    form = action_form(definition)(prefix=action)
    if not form.validate_on_submit():
        db.session.rollback()
        if form.csrf_token.errors if hasattr(form, "csrf_token") else False:
            abort(400)
        return _detail(order, forms={action: form}, status=422, open_action=action,
                       message=("danger", "Please correct the form below."))
    seen_version = form.version.data
    try:
        services.apply_action(current_user, order, action, expected_version=seen_version, **form.values())
        db.session.commit()
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    except ValidationFailed as exc:
        db.session.rollback()
        order = _order_or_404(order_id)
        _add_field_errors(form, exc.errors, renamed=form.renamed)
        return _detail(order, forms={action: form}, status=422, open_action=action,
                       message=("danger", "; ".join(exc.errors.values()) or exc.detail))
    except (StaleVersion, TransitionNotAllowed) as exc:
        db.session.rollback()
        order = _order_or_404(order_id)
        if isinstance(exc, StaleVersion) or order.version != seen_version:
            text = STALE_TEXT.format(acc=order.accession_number)
        else:
            text = exc.detail
        if not is_htmx():
            flash(text, "warning")
            return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
        return _detail(order, message=("warning", text), status=409)
    text = definition.success_text.format(acc=order.accession_number, when=_local(order.scheduled_date))
    if not is_htmx():
        flash(text, "success")
        return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
    response = _detail(order, message=("success", text))
    response.headers["HX-Trigger"] = ORDERS_CHANGED
    return response


def _local(moment) -> str:
    from webapp.web import local_time

    return local_time(moment)


# ---------------------------------------------------------------------------- the order form


def _token_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="imaging-order-form")


def _new_form_token(visit: Visit) -> str:
    return _token_serializer().dumps([str(current_user.id), str(visit.id), secrets.token_urlsafe(18)])


def _form_token_nonce(token: str | None, visit: Visit) -> str | None:
    """The one-time part of a token this server issued to this user for this visit (a day at most)."""
    try:
        user_id, visit_id, nonce = _token_serializer().loads(token or "", max_age=24 * 3600)
    except (BadSignature, ValueError, TypeError):
        return None
    if user_id != str(current_user.id) or visit_id != str(visit.id):
        return None
    return nonce


def _add_field_errors(form, errors: dict[str, str], renamed: dict[str, str] | None = None) -> None:
    """Show the service's field errors (ValidationFailed.errors) beside the form's fields."""
    for name, text in errors.items():
        field = getattr(form, (renamed or {}).get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, text]


def _order_form_valid(form: ImagingOrderForm, choices: dict) -> bool:
    """The order form's own checks, plus the side of a paired body part: the service says so too,
    but said here it shows together with the other field errors."""
    valid = form.validate()
    if choices["show_laterality"] and not form.laterality.data:
        form.laterality.errors = [*form.laterality.errors, "Say which side: this body part is paired."]
        valid = False
    return valid


def _fill_choices(form: ImagingOrderForm, visit: Visit) -> dict:
    """Body parts filtered by the modality, procedures by both; dependent values no longer offered
    are cleared. Returns what the template needs to know (laterality shown or not)."""
    modalities = _active_modalities()
    form.modality.choices = choices([("", "Choose a modality")] + [(m.code, m.name) for m in modalities])
    modality = form.modality.data if form.modality.data in {m.code for m in modalities} else None
    if not modality:
        form.modality.data = ""

    parts = list(db.session.scalars(select(BodyPart).order_by(BodyPart.sort_order)))
    if modality:
        parts = [p for p in parts if modality in p.modalities]
    form.body_part.choices = choices([("", "Choose a body part")] + [(p.code, p.name) for p in parts])
    body_part = next((p for p in parts if p.code == form.body_part.data), None)
    if body_part is None:
        form.body_part.data = ""

    statement = select(Procedure).where(Procedure.is_active.is_(True)).order_by(Procedure.name)
    if modality:
        statement = statement.where(Procedure.modality == modality)
    if body_part:
        statement = statement.where(Procedure.body_part == body_part.code)
    procedures = list(db.session.scalars(statement)) if modality else []
    form.procedure_code.choices = choices(
        [("", "Not specified" if procedures else "Choose modality and body part first")]
        + [(p.code, f"{p.code} — {p.name}") for p in procedures]
    )
    procedure = next((p for p in procedures if p.code == form.procedure_code.data), None)
    if procedure is None:
        form.procedure_code.data = ""

    needs_side = bool(procedure.requires_laterality if procedure else (body_part and body_part.is_paired))
    if not needs_side and not form.laterality.errors:
        form.laterality.data = ""

    form.diagnosis_id.choices = choices([("", "No linked diagnosis")] + [(str(d.id), d.label) for d in visit.diagnoses])
    return {"show_laterality": needs_side or bool(form.laterality.errors), "body_part": body_part}


def _prefill(form: ImagingOrderForm, visit: Visit) -> None:
    """Clinical indication from the visit's primary diagnosis, history from its clinical notes."""
    diagnosis = visit.primary_diagnosis
    if diagnosis is not None:
        form.diagnosis_id.data = str(diagnosis.id)
        form.clinical_indication.data = f"{diagnosis.description} ({diagnosis.code})"
    form.clinical_history.data = visit.clinical_notes or ""
    form.priority.data = "routine"


def _visit_or_404(visit_id) -> Visit:
    try:
        visit = db.session.get(Visit, uuid.UUID(str(visit_id)))
    except (ValueError, TypeError):
        visit = None
    if visit is None:
        abort(404)
    return visit


def _form_page(form, visit, *, status=200, block="form_panel", message=None):
    extra = _fill_choices(form, visit)
    if block != "choices":  # the form shows the visit's diagnoses and notes; the choices do not
        record_read(current_user, f"order form for the visit of {visit.visit_date:%Y-%m-%d}", [visit.patient_id])
    return render_page("imaging/order_form.html", block, status=status, form=form, visit=visit,
                       message=message, **extra)


def _created(order: ImagingOrder, visit: Visit):
    if not is_htmx():
        flash(f"Imaging order placed. Accession number {order.accession_number}.", "success")
        return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
    record_read(current_user, f"order {order.accession_number}", [visit.patient_id])
    response = render_page(
        "imaging/order_form.html", "created", order=order, visit=visit,
        oob=(("visits/detail.html", "orders"),), orders=queries.visit_orders(visit.id),
        may_order=workflow.may_create(current_user.role),
    )
    response.headers["HX-Trigger"] = ORDERS_CHANGED
    return response


@bp.route("/imaging/orders/new", methods=["GET", "POST"])
@roles_required(CAN_VIEW_ORDERS)
def new_order():
    if not workflow.may_create(current_user.role):
        abort(403)
    visit = _visit_or_404(request.values.get("visit_id"))
    if request.method == "GET":
        if htmx_target() == "order-choices":  # a select changed: refresh the dependent choices
            form = ImagingOrderForm(formdata=request.args)
            return _form_page(form, visit, block="choices")
        form = ImagingOrderForm(formdata=None)
        form.visit_id.data = str(visit.id)
        form.form_token.data = _new_form_token(visit)
        _prefill(form, visit)
        return _form_page(form, visit)

    form = ImagingOrderForm()
    if request.form.get("refresh"):  # without JavaScript: "Update choices" re-renders the form
        _fill_choices(form, visit)
        return _form_page(form, visit)
    if not _order_form_valid(form, _fill_choices(form, visit)):
        return _form_page(form, visit, status=422, message="Please correct the highlighted fields.")
    nonce = _form_token_nonce(form.form_token.data, visit)
    if nonce is None:
        form.form_token.data = _new_form_token(visit)
        return _form_page(form, visit, status=422,
                          message="This form has expired. Check the values and submit it again.")

    existing = db.session.get(OrderFormSubmission, nonce)
    if existing is not None and existing.order_id is not None:
        return _created(queries.get_order(existing.order_id), visit)
    try:
        submission = OrderFormSubmission(token=nonce, user_id=current_user.id)
        db.session.add(submission)
        db.session.flush()
    except IntegrityError:
        # The same form is being submitted at this very moment (double click): wait for it.
        db.session.rollback()
        existing = db.session.get(OrderFormSubmission, nonce)
        if existing is not None and existing.order_id is not None:
            return _created(queries.get_order(existing.order_id), visit)
        abort(409)
    try:
        order = services.create_order(
            current_user._get_current_object(),
            patient_id=visit.patient_id, visit_id=visit.id,
            modality=form.modality.data, body_part=form.body_part.data,
            procedure_code=form.procedure_code.data or None, laterality=form.laterality.data or None,
            clinical_indication=form.clinical_indication.data, clinical_history=form.clinical_history.data,
            special_instructions=form.special_instructions.data, priority=form.priority.data,
            diagnosis_id=form.diagnosis_id.data or None,
        )
        submission.order_id = order.id
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        visit = _visit_or_404(visit.id)
        _add_field_errors(form, exc.errors)
        return _form_page(form, visit, status=422, message="Please correct the highlighted fields.")
    except ServiceError as exc:
        db.session.rollback()
        abort(exc.status)
    return _created(order, visit)


# ---------------------------------------------------------------------------- correcting an order

EDIT_CLOSED_TEXT = "Order {acc} is {status} and can no longer be edited. Below is its current state."
NOTHING_CHANGED_TEXT = "Nothing was changed, so nothing was saved. Change a field, or cancel."


def _edit_form_for(order: ImagingOrder) -> EditOrderForm:
    """The order form filled with the order's current values and version."""
    form = EditOrderForm(formdata=None)
    form.version.data = order.version
    form.modality.data = order.modality
    form.body_part.data = order.body_part
    form.procedure_code.data = order.procedure_code or ""
    form.laterality.data = order.laterality or ""
    form.diagnosis_id.data = str(order.diagnosis_id) if order.diagnosis_id else ""
    form.clinical_indication.data = order.clinical_indication
    form.clinical_history.data = order.clinical_history or ""
    form.special_instructions.data = order.special_instructions or ""
    form.priority.data = order.priority
    return form


def _edit_page(form: EditOrderForm, order: ImagingOrder, *, status=200, block="form_panel", message=None,
               message_kind="danger"):
    extra = _fill_choices(form, order.visit)
    if block != "choices":
        record_read(current_user, f"order {order.accession_number}", [order.patient_id])
    # In the dialog the form posts through htmx; as a page of its own it posts and redirects (PRG).
    return render_page("imaging/order_form.html", block, status=status, form=form, visit=order.visit,
                       editing=order, in_dialog=is_htmx(), message=message, message_kind=message_kind, **extra)


def _same_value(submitted, current) -> bool:
    """A form value equals the stored one (None is empty; line endings and outer spaces aside)."""
    def plain(value) -> str:
        return "" if value is None else str(value).replace("\r\n", "\n").strip()

    return plain(submitted) == plain(current)


def _form_changes(form: EditOrderForm, order: ImagingOrder) -> dict:
    """The fields the doctor changed, as services.update_order takes them (the rest keep their value)."""
    submitted = {
        "modality": form.modality.data,
        "body_part": form.body_part.data,
        "procedure_code": form.procedure_code.data or None,
        "laterality": form.laterality.data or None,
        "clinical_indication": form.clinical_indication.data,
        "clinical_history": form.clinical_history.data,
        "special_instructions": form.special_instructions.data,
        "priority": form.priority.data,
        "diagnosis_id": form.diagnosis_id.data or None,
    }
    return {name: value for name, value in submitted.items() if not _same_value(value, getattr(order, name))}


def _back_to_order(order: ImagingOrder, kind: str, text: str, *, status: int = 200, changed: bool = False):
    """The order page with a message: a redirect (flash) for a plain request; for htmx the
    #order-main region, swapped in place of the page's one (the dialog then closes, app.js)."""
    if not is_htmx():
        flash(text, kind)
        return redirect(url_for("imaging.order_detail", order_id=order.id), 303)
    response = _detail(order, message=(kind, text), status=status)
    response.headers["HX-Retarget"] = "#order-main"
    response.headers["HX-Reswap"] = "outerHTML"
    if changed:
        response.headers["HX-Trigger"] = ORDERS_CHANGED
    return response


@bp.route("/imaging/orders/<uuid:order_id>/edit", methods=["GET", "POST"])
@roles_required(workflow.EDIT_ROLES)
def edit_order(order_id: uuid.UUID):
    if request.method == "GET":
        order = _order_or_404(order_id)
        if htmx_target() == "order-choices":  # a select changed: refresh the dependent choices
            return _edit_page(EditOrderForm(formdata=request.args), order, block="choices")
        if "edit" not in services.allowed_actions_for(current_user, order):
            return _back_to_order(order, "warning", EDIT_CLOSED_TEXT.format(
                acc=order.accession_number, status=order.status_label.lower()), status=409)
        return _edit_page(_edit_form_for(order), order)

    try:  # the row stays locked until the commit, as for the API's PUT
        order = queries.get_order(order_id, for_update=True)
    except NotFound:
        abort(404)
    form = EditOrderForm()
    if request.form.get("refresh"):  # without JavaScript: "Update choices" re-renders the form
        return _edit_page(form, order)
    if not _order_form_valid(form, _fill_choices(form, order.visit)):
        return _edit_page(form, order, status=422, message="Please correct the highlighted fields.")

    seen_version = form.version.data
    station_before = order.scheduled_station_ae
    changes = _form_changes(form, order)
    try:
        services.update_order(current_user._get_current_object(), order, changes, expected_version=seen_version)
        changed = order.version != seen_version
        db.session.commit()
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    except ValidationFailed as exc:
        db.session.rollback()
        order = _order_or_404(order_id)
        _add_field_errors(form, exc.errors)
        return _edit_page(form, order, status=422, message="Please correct the highlighted fields.")
    except (StaleVersion, TransitionNotAllowed) as exc:
        db.session.rollback()
        order = _order_or_404(order_id)
        if isinstance(exc, StaleVersion) or order.version != seen_version:
            text = STALE_TEXT.format(acc=order.accession_number)
        else:
            text = EDIT_CLOSED_TEXT.format(acc=order.accession_number, status=order.status_label.lower())
        return _back_to_order(order, "warning", text, status=409)
    if not changed:
        return _edit_page(form, order, message=NOTHING_CHANGED_TEXT, message_kind="info")
    labels = [CHANGE_LABELS[name].lower() for name in CHANGE_LABELS if name in changes]
    text = f"Order {order.accession_number} is updated" + (f": {', '.join(labels)}." if labels else ".")
    if station_before and not order.scheduled_station_ae:
        text += (f" It is no longer booked on scanner {station_before} (another modality):"
                 " the scheduler books a new one.")
    return _back_to_order(order, "success", text, changed=True)
