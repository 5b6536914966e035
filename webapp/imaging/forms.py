"""Forms of the imaging pages (Flask-WTF, CSRF included). Business rules stay in services."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, TextAreaField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from webapp.db_types import clinic_today, clinic_zone
from webapp.imaging.models import PRIORITY_LABELS
from webapp.imaging.services import TEXT_LIMITS


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as select choices."""
    return [SelectChoice(value, label) for value, label in pairs]


class VersionedForm(FlaskForm):
    """Every action on an order carries the version the user saw (a stale one is refused)."""

    version = IntegerField("Version", validators=[InputRequired()], render_kw={"hidden": True})


class StartForm(VersionedForm):
    pass


class ScheduleForm(VersionedForm):
    date = DateField("Date", validators=[InputRequired(message="Choose a date.")])
    time = TimeField("Time", validators=[InputRequired(message="Choose a time.")])
    # The scanner booked (its DICOM AE title); the service checks it is an active station of the
    # order's modality, so the choices are not validated here.
    station_ae = SelectField("Scanner", validate_choice=False, validators=[Optional()])

    def set_stations(self, stations, booked: str | None) -> None:
        self.station_ae.choices = [("", "Not booked on a scanner")] + [
            (s.ae_title, f"{s.ae_title}" + (f" ({s.room})" if s.room else "")) for s in stations
        ]
        if self.station_ae.data is None:
            self.station_ae.data = booked or ""

    def set_defaults(self, current: datetime | None) -> None:
        if self.date.data is None and self.time.data is None:
            if current is not None:
                local = current.astimezone(clinic_zone())
                self.date.data, self.time.data = local.date(), local.time().replace(second=0, microsecond=0)
            else:
                self.date.data, self.time.data = clinic_today() + timedelta(days=1), time(9, 0)

    def scheduled_at(self) -> datetime:
        """The chosen date and time in the clinic's zone (APP_TIMEZONE), as an aware datetime."""
        return datetime.combine(self.date.data, self.time.data, clinic_zone())


class CompleteForm(VersionedForm):
    number_of_images = IntegerField(
        "Number of images", validators=[Optional(), NumberRange(min=0, max=100_000)]
    )


class ReportForm(VersionedForm):
    findings = TextAreaField("Findings", validators=[DataRequired(), Length(max=TEXT_LIMITS["findings"])])
    impression = TextAreaField("Impression", validators=[DataRequired(), Length(max=TEXT_LIMITS["impression"])])
    report_text = TextAreaField("Report text", validators=[Optional(), Length(max=TEXT_LIMITS["report_text"])])


class CancelForm(VersionedForm):
    reason = TextAreaField("Reason for cancelling", validators=[DataRequired(), Length(max=TEXT_LIMITS["reason"])])


class NoteForm(VersionedForm):
    note = TextAreaField("Note", validators=[DataRequired(), Length(max=TEXT_LIMITS["note"])])


# Action name (as in imaging.workflow) -> form class; the form's prefix is the action name.
ACTION_FORMS = {
    "schedule": ScheduleForm,
    "reschedule": ScheduleForm,
    "start": StartForm,
    "complete": CompleteForm,
    "report": ReportForm,
    "cancel": CancelForm,
    "note": NoteForm,
}


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
    diagnosis_id = SelectField("Diagnosis this order is for", validators=[Optional()])
    clinical_indication = TextAreaField(
        "Clinical indication", validators=[DataRequired(), Length(max=TEXT_LIMITS["clinical_indication"])],
        render_kw={"rows": 2},
    )
    clinical_history = TextAreaField(
        "Clinical history", validators=[Optional(), Length(max=TEXT_LIMITS["clinical_history"])], render_kw={"rows": 3}
    )
    priority = SelectField(
        "Priority", choices=choices(PRIORITY_LABELS.items()), default="routine", validators=[DataRequired()]
    )
    special_instructions = TextAreaField(
        "Special instructions", validators=[Optional(), Length(max=TEXT_LIMITS["special_instructions"])],
        render_kw={"rows": 2},
    )



class EditOrderForm(ImagingOrderForm):
    """The order form again, to correct an order: it carries the version the doctor saw instead of
    the visit and the one-time token (a resent form meets the new version and changes nothing)."""

    visit_id = None
    form_token = None
    version = IntegerField("Version", validators=[InputRequired()], render_kw={"hidden": True})
