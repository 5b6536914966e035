"""The order form's page, shared by placing an order (new_order.py) and correcting one
(edit_order.py): the dependent choices (body parts by modality, procedures by both), the side of
a paired body part, and the page or its blocks."""

from __future__ import annotations

from flask_login import current_user

from webapp.audit import record_read
from webapp.imaging import catalogue
from webapp.imaging.forms import ImagingOrderForm, choices
from webapp.imaging.models import CONTRAST_LABELS
from webapp.safety import screening
from webapp.visits.models import Visit
from webapp.web.htmx import render_page

CORRECT_TEXT = "Please correct the highlighted fields."
NO_DIAGNOSIS = "none"  # the diagnosis select's "another problem": no linked diagnosis, chosen on purpose
CHOOSE_DIAGNOSIS_TEXT = "Choose the diagnosis this order is for, or “Another problem”."


def _offer(field, first: str, rows: list, value, label):
    """Offer ``rows`` in a select (``first`` for no choice); a value no longer offered is cleared.
    Returns the row chosen, if any."""
    field.choices = choices([("", first)] + [(value(row), label(row)) for row in rows])
    chosen = next((row for row in rows if value(row) == field.data), None)
    if chosen is None:
        field.data = ""
    return chosen


def fill_choices(form: ImagingOrderForm, visit: Visit) -> dict:
    """Body parts filtered by the modality, procedures by both; dependent values no longer offered
    are cleared. Returns what the template needs to know (laterality shown or not)."""
    modality = _offer(form.modality, "Choose a modality", catalogue.active_modalities(),
                      lambda m: m.code, lambda m: m.name)
    body_part = _offer(form.body_part, "Choose a body part", catalogue.body_parts(modality and modality.code),
                       lambda p: p.code, lambda p: p.name)
    procedures = catalogue.procedures(modality.code, body_part and body_part.code) if modality else []
    procedure = _offer(form.procedure_code, "Not specified" if procedures else "Choose modality and body part first",
                       procedures, lambda p: p.code, lambda p: f"{p.code} — {p.name}")
    needs_side = bool(procedure.requires_laterality if procedure else (body_part and body_part.is_paired))
    if not needs_side and not form.laterality.errors:
        form.laterality.data = ""
    fixed_side = procedure.fixed_laterality if procedure else None
    if fixed_side and not form.laterality.data:  # a side given stays: a contradiction is refused, not fixed
        form.laterality.data = fixed_side
    _offer_diagnoses(form, visit)
    code = procedure.code if procedure else ""
    if form.contrast_for.data != code or form.contrast.data not in CONTRAST_LABELS:
        form.contrast.data = screening.default_contrast(procedure)  # a new procedure: its default contrast
        form.contrast_for.data = code
    alerts = (screening.alerts_for_exam(visit.patient, modality.code, body_part.code, form.contrast.data)
              if modality and body_part else [])
    return {"show_laterality": needs_side or bool(form.laterality.errors), "body_part": body_part,
            "fixed_side": fixed_side, "preview_alerts": alerts,
            "preview_protocol": bool(modality) and screening.needs_protocol(procedure, modality.code, form.contrast.data)}


def _offer_diagnoses(form: ImagingOrderForm, visit: Visit) -> None:
    """The visit's diagnoses, and "another problem" (no link) as a choice of its own; with two or
    more diagnoses the first option asks the doctor to choose."""
    pairs = [(str(d.id), d.label) for d in visit.diagnoses]
    first = [("", "Choose the diagnosis")] if len(pairs) > 1 else []
    form.diagnosis_id.choices = choices(first + pairs + [(NO_DIAGNOSIS, "Another problem (no linked diagnosis)")])
    if not visit.diagnoses and not form.diagnosis_id.data:
        form.diagnosis_id.data = NO_DIAGNOSIS


def order_form_valid(form: ImagingOrderForm, visit: Visit) -> bool:
    """The order form's own checks, plus the side of a paired body part: the service says so too,
    but said here it shows together with the other field errors."""
    shown = fill_choices(form, visit)
    valid = form.validate()
    if shown["show_laterality"] and not form.laterality.data:
        form.laterality.errors = [*form.laterality.errors, "Say which side: this body part is paired."]
        valid = False
    if not form.diagnosis_id.data and len(visit.diagnoses) > 1:  # the doctor chooses: no silent default
        form.diagnosis_id.errors = [*form.diagnosis_id.errors, CHOOSE_DIAGNOSIS_TEXT]
        valid = False
    return valid


def order_values(form: ImagingOrderForm) -> dict:
    """The form's values as services.create_order and update_order take them."""
    return {
        "modality": form.modality.data,
        "body_part": form.body_part.data,
        "procedure_code": form.procedure_code.data or None,
        "laterality": form.laterality.data or None,
        "clinical_indication": form.clinical_indication.data,
        "clinical_history": form.clinical_history.data,
        "special_instructions": form.special_instructions.data,
        "priority": form.priority.data,
        "diagnosis_id": None if form.diagnosis_id.data in ("", NO_DIAGNOSIS) else form.diagnosis_id.data,
        "contrast": form.contrast.data,
    }


def form_page(form: ImagingOrderForm, visit: Visit, read: tuple[str, object], *, status: int = 200,
              block: str = "form_panel", **context):
    """The order form (or its ``block``), its choices filled. ``read``: what the access log
    records and whose (the form shows the visit's diagnoses and notes; the choices block does not)."""
    extra = fill_choices(form, visit)
    if block != "choices":
        what, patient_id = read
        record_read(current_user, what, [patient_id])
    return render_page("imaging/order_form.html", block, status=status, form=form, visit=visit, **context, **extra)
