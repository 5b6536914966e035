"""``flask --app wsgi audit verify``, ``audit access PATIENT`` and ``flask --app wsgi backup``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.audit.access_report import access_rows, describe_access, find_patient_id, subject_rows
from webapp.audit.chain import verify_chain
from webapp.audit.results import verify_results
from webapp.backup import BackupFailed, backup_database
from webapp.extensions import db


def register(app: Flask) -> None:
    audit_group = AppGroup("audit", help="Check the audit trail.")
    app.cli.add_command(audit_group)

    @audit_group.command("verify")
    def verify_command() -> None:
        """Walk the order events' hash chain, then check that every report, addendum and critical
        result still reads as the chain recorded it; report the first problem (exit status 1)."""
        result = verify_chain(db.session)
        altered = verify_results(db.session) if result.ok else None
        db.session.rollback()
        if result.ok and altered is None:
            click.echo(f"OK: {result.checked} events, chain intact, results as recorded; "
                       f"head event {result.head_id}, hash {result.head_hash}")
            return
        if altered:
            click.echo(f"ALTERED: {altered}", err=True)
        else:
            click.echo(f"BROKEN after {result.checked} good events: {result.problem}", err=True)
        raise SystemExit(1)

    @audit_group.command("access")
    @click.argument("patient")
    @click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True,
                  help="Show at most this many reads, newest first.")
    def access_command(patient: str, limit: int) -> None:
        """Who was shown PATIENT's data (id or MRN): single records, lists and searches alike.
        PATIENT may also be the Patient ID of someone who is no registered patient (a PACS study's)."""
        patient_id = find_patient_id(patient)
        if patient_id is None:
            rows = subject_rows(patient, limit)
            db.session.rollback()
            if not rows:
                raise click.ClickException(f"No patient with id or MRN {patient!r}, and no read of an "
                                           "unregistered person with that Patient ID.")
            for row, shown in rows:
                click.echo(describe_access(row, shown))
            click.echo(f"{len(rows)} reads of unregistered Patient ID {patient!r} shown (newest first).")
            return
        rows = access_rows(patient_id, limit)
        db.session.rollback()
        for row, shown in rows:
            click.echo(describe_access(row, shown))
        click.echo(f"{len(rows)} reads of patient {patient_id} shown (newest first).")

    @app.cli.command("backup")
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Where to write the copy (default: instance/backups/<db>-<UTC time>).")
    def backup_command(output: Path | None) -> None:
        """Write a consistent copy of the database (SQLite backup API, or pg_dump)."""
        try:
            path = backup_database(output)
        except BackupFailed as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Backup written to {path} ({path.stat().st_size} bytes).")
