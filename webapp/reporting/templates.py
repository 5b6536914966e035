"""Report templates: starting text per modality and body part, a seeded set covering every
procedure of the catalogue (webapp.imaging.reference), managed with ``flask templates``."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import case, select

from webapp.extensions import db, writing
from webapp.imaging.models import BodyPart, ImagingModality
from webapp.reporting.models import ReportTemplate

TECHNIQUE = {
    "XRAY": "Radiographs of the {part} as listed.",
    "CT": "Axial CT of the {part} with multiplanar reformats; contrast as per the protocol.",
    "MRI": "Multiplanar multisequence MRI of the {part}.",
    "US": "Real-time grey-scale and Doppler ultrasound of the {part}.",
    "MG": "Standard craniocaudal and mediolateral oblique views.",
    "FL": "Fluoroscopic examination of the {part} with oral or rectal contrast.",
}
FINDINGS = "{part}: no abnormality detected."
IMPRESSION = "No acute abnormality."


def seed_set() -> list[dict]:
    """One template per (modality, body part) of the procedure catalogue."""
    from webapp.imaging.reference import BODY_PARTS, MODALITIES, PROCEDURES

    modality_names = {code: name for code, name, *_ in MODALITIES}
    part_names = {code: name for code, name, *_ in BODY_PARTS}
    pairs = sorted({(modality, body_part) for _, _, modality, body_part, _ in PROCEDURES})
    return [
        {
            "code": f"{modality}-{body_part}", "name": f"{modality_names[modality]} {part_names[body_part]}",
            "modality": modality, "body_part": body_part,
            "technique": TECHNIQUE[modality].format(part=part_names[body_part].lower()),
            "findings": FINDINGS.format(part=part_names[body_part]), "impression": IMPRESSION,
        }
        for modality, body_part in pairs
    ]


def load_report_templates() -> None:
    """Insert the seeded templates that are missing; an existing one keeps its text and state."""
    for values in seed_set():
        if db.session.get(ReportTemplate, values["code"]) is None:
            db.session.add(ReportTemplate(is_active=True, **values))
    db.session.flush()


def for_order(order) -> list[ReportTemplate]:
    """The active templates of the order's modality: its body part's first, then any body part's."""
    rank = case((ReportTemplate.body_part == order.body_part, 0), (ReportTemplate.body_part.is_(None), 1), else_=2)
    return list(db.session.scalars(
        select(ReportTemplate)
        .where(ReportTemplate.modality == order.modality, ReportTemplate.is_active.is_(True))
        .order_by(rank, ReportTemplate.name)
    ))


# ---------------------------------------------------------------------------- flask templates

templates_group = AppGroup("templates", help="Manage report templates.")


@templates_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also list disabled templates.")
def list_command(show_all: bool) -> None:
    """List the report templates (code, modality, body part, name)."""
    statement = select(ReportTemplate).order_by(ReportTemplate.modality, ReportTemplate.code)
    if not show_all:
        statement = statement.where(ReportTemplate.is_active.is_(True))
    for template in db.session.scalars(statement):
        state = "" if template.is_active else "  (disabled)"
        click.echo(f"{template.code:<20} {template.modality:<6} {template.body_part or 'any':<10} {template.name}{state}")


@templates_group.command("add")
@click.argument("code")
@click.option("--modality", required=True, help="Modality code (XRAY, CT, ...).")
@click.option("--body-part", default=None, help="Body part code; leave out for any body part.")
@click.option("--name", required=True)
@click.option("--technique", default="")
@click.option("--findings", default="")
@click.option("--impression", default="")
def add_command(code: str, modality: str, body_part: str | None, name: str, technique: str, findings: str,
                impression: str) -> None:
    """Add a template (or replace the text of an existing one and enable it)."""
    code = code.strip().upper()
    if not code or len(code) > 32:
        raise click.BadParameter("1 to 32 characters.", param_hint="CODE")
    with writing():
        if db.session.get(ImagingModality, modality.upper()) is None:
            raise click.BadParameter(f"No modality {modality}.", param_hint="--modality")
        if body_part and db.session.get(BodyPart, body_part.upper()) is None:
            raise click.BadParameter(f"No body part {body_part}.", param_hint="--body-part")
        template = db.session.get(ReportTemplate, code) or ReportTemplate(code=code)
        template.modality, template.body_part = modality.upper(), body_part.upper() if body_part else None
        template.name, template.technique, template.findings, template.impression = name, technique, findings, impression
        template.is_active = True
        db.session.add(template)
        db.session.commit()
    click.echo(f"Template {code} saved.")


@templates_group.command("disable")
@click.argument("code")
def disable_command(code: str) -> None:
    """Disable a template: the editor no longer offers it (reports that used it keep its code)."""
    with writing():
        template = db.session.get(ReportTemplate, code.strip().upper())
        if template is None:
            raise click.ClickException(f"No template {code}.")
        template.is_active = False
        db.session.commit()
    click.echo(f"Template {template.code} disabled.")


@templates_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--modality", default=None, help="Modality code (XRAY, CT, ...); default: the one its title names.")
@click.option("--body-part", default=None, help="Body part code; leave out for any body part.")
@click.option("--code", default=None, help="The template's code in this app (default: from its identifier).")
def import_command(file: str, modality: str | None, body_part: str | None, code: str | None) -> None:
    """Import an IHE MRRT template (HTML5, as RSNA RadReport publishes them); a template whose
    identifier was imported before is refused."""
    from pathlib import Path

    from webapp.reporting import mrrt

    try:
        structure = mrrt.parse(Path(file).read_text(encoding="utf-8"))
    except (mrrt.MrrtError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    modality = modality or mrrt.guess_modality(structure)
    if not modality:
        raise click.ClickException(f"{file}: its title names no modality: give one with --modality.")
    code = (code or "MRRT-" + "".join(c for c in structure["identifier"].split(".")[-1].upper() if c.isalnum()))[:32]
    with writing():
        if db.session.get(ImagingModality, modality.upper()) is None:
            raise click.BadParameter(f"No modality {modality}.", param_hint="--modality")
        if body_part and db.session.get(BodyPart, body_part.upper()) is None:
            raise click.BadParameter(f"No body part {body_part}.", param_hint="--body-part")
        if db.session.scalar(select(ReportTemplate).where(ReportTemplate.identifier == structure["identifier"])):
            raise click.ClickException(f"A template with the identifier {structure['identifier']} is imported already.")
        if db.session.get(ReportTemplate, code) is not None:
            raise click.ClickException(f"A template with the code {code} exists: give another with --code.")
        db.session.add(ReportTemplate(
            code=code, name=structure["title"], modality=modality.upper(),
            body_part=body_part.upper() if body_part else None, technique="", findings="", impression="",
            is_active=True, identifier=structure["identifier"], structure=structure))
        db.session.commit()
    fields = sum(len(s["fields"]) for s in structure["sections"])
    click.echo(f"Template {code} imported: {structure['title']} ({fields} fields).")


def register(app: Flask) -> None:
    app.cli.add_command(templates_group)
