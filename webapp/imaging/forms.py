"""Forms of the imaging pages (Flask-WTF, CSRF included). Business rules stay in the services
(limits and checks in webapp.imaging.rules); an order action's form is built from its definition."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import cache

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, TextAreaField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional, ValidationError

from webapp.db_types import clinic_today, clinic_zone, utcnow
from webapp.imaging.actions import ActionField, OrderAction
from webapp.imaging.models import CONTRAST_LABELS, PRIORITY_LABELS
from webapp.imaging.rules import MAX_IMAGES, TEXT_LIMITS

SLOT_MINUTES = 5  # STAT and urgent orders are offered the next slot of this many minutes, today


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as select choices."""
    return [SelectChoice(value, label) for value, label in pairs]


class TextLimit:
    """At most ``limit`` characters, refused with the field's label (never cut). It sets no
    ``maxlength`` (the browser would cut a paste silently): the field macro shows a counter
    (``data-limit``, static/forms.js) that turns red past the limit."""

    def __init__(self, limit: int):
        self.limit = limit
        self.field_flags = {"textlimit": limit}

    def __call__(self, form, field) -> None:
        length = len((field.data or "").strip())
        if length > self.limit:
            raise ValidationError(
                f"{field.label.text} is too long: at most {self.limit:,} characters, you have {length:,}. "
                "Shorten it; nothing was saved."
            )


def next_slot(now: datetime | None = None) -> datetime:
    """The next whole SLOT_MINUTES of the clinic's clock (the moment itself when on a slot)."""
    local = (now or utcnow()).astimezone(clinic_zone()).replace(second=0, microsecond=0)
    return local + timedelta(minutes=-local.minute % SLOT_MINUTES)


class VersionedForm(FlaskForm):
    """Every action on an order carries the version the user saw (a stale one is refused)."""

    version = IntegerField("Version", validators=[InputRequired()], render_kw={"hidden": True})


class ActionForm(VersionedForm):
    """The form of an order action (imaging.actions), built from its fields by action_form();
    its prefix is the action's name."""

    action: OrderAction

    def set_stations(self, stations, booked: str | None) -> None:
        """The scanners an order can be booked on (only for actions with a booking field)."""
        if "station_ae" not in self:
            return
        self.station_ae.choices = [("", "Not booked on a scanner")] + [
            (s.ae_title, f"{s.ae_title}" + (f" ({s.room})" if s.room else "")) for s in stations
        ]
        if self.station_ae.data is None:
            self.station_ae.data = booked or ""

    def set_defaults(self, current: datetime | None, priority: str = "routine", now: datetime | None = None) -> None:
        """A date and time to start from: the one booked; else for STAT and urgent orders the next
        5-minute slot today; else tomorrow at nine."""
        if "date" not in self or self.date.data is not None or self.time.data is not None:
            return
        if current is not None:
            local = current.astimezone(clinic_zone())
        elif priority in ("stat", "urgent"):
            local = next_slot(now)
        else:
            local = datetime.combine(clinic_today(now) + timedelta(days=1), time(9, 0))
        self.date.data, self.time.data = local.date(), local.time().replace(second=0, microsecond=0)

    def scheduled_at(self) -> datetime:
        """The chosen date and time in the clinic's zone (APP_TIMEZONE), as an aware datetime."""
        return datetime.combine(self.date.data, self.time.data, clinic_zone())

    def values(self) -> dict:
        """The submitted values as the service takes them (services.apply_action)."""
        return {f.name: self.scheduled_at() if f.kind == "moment" else self[f.name].data
                for f in self.action.fields if f.on_form}

    @property
    def renamed(self) -> dict[str, str]:
        """The service's name of a value -> the form field that shows its error."""
        return {f.name: "date" for f in self.action.fields if f.kind == "moment"}


def _form_fields(spec: ActionField) -> dict:
    """The form field(s) of an action's value."""
    if spec.kind == "moment":  # a date and a time input, in the clinic's zone
        return {
            "date": DateField("Date", validators=[InputRequired(message="Choose a date.")]),
            # 24-hour HH:MM as everywhere else on the pages: a text input, because Chromium's
            # type="time" follows the browser's locale and shows a 12-hour clock in en-US.
            "time": TimeField("Time (24 h)", validators=[InputRequired(message="Choose a time.")], render_kw={
                "type": "text", "inputmode": "numeric", "pattern": "([01][0-9]|2[0-3]):[0-5][0-9]",
                "placeholder": "HH:MM", "maxlength": 5, "autocomplete": "off", "title": "24-hour time, HH:MM"}),
        }
    if spec.kind == "booking":
        # The service checks it is an active station of the order's modality, so the choices
        # are not validated here.
        return {spec.name: SelectField(spec.label, validate_choice=False, validators=[Optional()])}
    if spec.kind == "flag":
        return {spec.name: BooleanField(spec.label)}
    if spec.kind == "count":
        return {spec.name: IntegerField(spec.label, validators=[Optional(), NumberRange(min=0, max=MAX_IMAGES)])}
    presence = DataRequired(message=f"Enter the {spec.label.lower()}.") if spec.required else Optional()
    return {spec.name: TextAreaField(spec.label, validators=[presence, TextLimit(spec.limit)])}


@cache
def action_form(action: OrderAction) -> type[ActionForm]:
    """The page form of an order action: its version plus a field per value it takes."""
    fields: dict = {"action": action}
    for spec in action.fields:
        if spec.on_form:
            fields |= _form_fields(spec)
    return type(f"{action.name.title()}Form", (ActionForm,), fields)


class ImagingOrderForm(FlaskForm):
    """The order form of the visit page (seed section 7)."""

    visit_id = HiddenField()
    form_token = HiddenField()
    modality = SelectField("Modality", validators=[DataRequired(message="Choose a modality.")])
    body_part = SelectField("Body part", validators=[DataRequired(message="Choose a body part.")])
    procedure_code = SelectField("Procedure (CPT code)", validators=[Optional()])
    laterality = SelectField(
        "Laterality",
        choices=choices([("", "Choose a side"), ("left", "Left"), ("right", "Right"), ("bilateral", "Bilateral")]),
        validators=[Optional()],
    )
    # Explicit: pre-selected only when the visit has exactly one diagnosis (views/new_order.py).
    diagnosis_id = SelectField("Diagnosis this order is for", validators=[Optional()])
    clinical_indication = TextAreaField(
        "Clinical indication",
        validators=[DataRequired(message="Enter the clinical indication."), TextLimit(TEXT_LIMITS["clinical_indication"])],
        render_kw={"rows": 2},
    )
    clinical_history = TextAreaField(
        "Clinical history", validators=[Optional(), TextLimit(TEXT_LIMITS["clinical_history"])], render_kw={"rows": 3}
    )
    priority = SelectField(
        "Priority", choices=choices(PRIORITY_LABELS.items()), default="routine",
        validators=[DataRequired(message="Choose a priority.")],
    )
    special_instructions = TextAreaField(
        "Special instructions", validators=[Optional(), TextLimit(TEXT_LIMITS["special_instructions"])],
        render_kw={"rows": 2},
    )
    # Safety screening: the contrast, defaulted from the procedure (``contrast_for`` remembers which
    # procedure the default was taken from, so that a doctor's own choice stays).
    contrast = SelectField("Contrast", choices=choices(CONTRAST_LABELS.items()), default="none",
                           validators=[DataRequired(message="Choose the contrast (or none).")])
    contrast_for = HiddenField()


class EditOrderForm(ImagingOrderForm):
    """The order form again, to correct an order: it carries the version the doctor saw instead of
    the visit and the one-time token (a resent form meets the new version and changes nothing)."""

    visit_id = None
    form_token = None
    version = IntegerField("Version", validators=[InputRequired()], render_kw={"hidden": True})
