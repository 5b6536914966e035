"""The report editor's form (Flask-WTF, CSRF included); the limits are the rules' (imaging.rules)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from webapp.imaging.rules import TEXT_LIMITS


def _section(label: str, name: str, rows: int) -> TextAreaField:
    return TextAreaField(label, validators=[Optional(), Length(max=TEXT_LIMITS[name])], render_kw={"rows": rows})


class ReportForm(FlaskForm):
    version = IntegerField("Version", validators=[Optional()], render_kw={"hidden": True})
    # The draft version this page shows (its saves and its signature name it: 412 when another
    # tab or radiologist changed the draft since), and which editor page this is.
    draft_version = IntegerField("Draft version", validators=[Optional(), NumberRange(min=0, max=2**31 - 1)])
    editor_token = HiddenField(validators=[Optional(), Length(max=40)])
    # "Keep my text": the stored version the radiologist has now seen and overwrites.
    resolve_version = IntegerField("Overwrite version", validators=[Optional(), NumberRange(min=0, max=2**31 - 1)])
    template_code = HiddenField()
    technique = _section("Technique", "technique", 3)
    comparison = _section("Comparison", "comparison", 2)
    findings = _section("Findings", "findings", 12)
    impression = _section("Impression", "impression", 4)
    critical = BooleanField("Critical finding: the ordering doctor must acknowledge it")
    critical_note = TextAreaField("What is critical (a short note)",
                                  validators=[Optional(), Length(max=TEXT_LIMITS["critical_note"])],
                                  render_kw={"rows": 2})

    def sections(self) -> dict:
        return {name: self[name].data for name in ("technique", "comparison", "findings", "impression")}


class TemplateChoice(FlaskForm):
    template_code = HiddenField()


class PlainForm(FlaskForm):
    """A button that changes something: CSRF only."""


class TakeOverForm(FlaskForm):
    reason = TextAreaField("Why you take the study over", validators=[DataRequired(), Length(max=TEXT_LIMITS["reason"])],
                           render_kw={"rows": 2})


class CosignForm(FlaskForm):
    """An attending's co-signature of a trainee's preliminary report, with edits."""

    version = IntegerField("Version", validators=[Optional()], render_kw={"hidden": True})
    technique = _section("Technique", "technique", 3)
    comparison = _section("Comparison", "comparison", 2)
    findings = _section("Findings", "findings", 12)
    impression = _section("Impression", "impression", 4)

    def sections(self) -> dict:
        return {name: self[name].data for name in ("technique", "comparison", "findings", "impression")}
