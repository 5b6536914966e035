"""`flask --app wsgi backup` writes a copy that restores with every order and an intact audit chain."""

from __future__ import annotations

import shutil
import subprocess

from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.services import require
from webapp import create_app
from webapp.audit.chain import verify_chain
from webapp.config import TestConfig
from webapp.extensions import db
from webapp.imaging.models import ImagingOrder


def _orders(app) -> list[tuple[str, str, int]]:
    with app.app_context():
        rows = db.session.execute(
            select(ImagingOrder.accession_number, ImagingOrder.status, ImagingOrder.version)
            .order_by(ImagingOrder.accession_number)
        ).all()
        return [tuple(row) for row in rows]


def test_backup_restores_with_every_order(app, runner, make_order, scratch_database, tmp_path):
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            require(shutil.which("pg_dump") is not None and shutil.which("pg_restore") is not None,
                    "pg_dump and pg_restore (postgresql-client)")
    for status in ("ordered", "scheduled", "in_progress", "completed", "reported", "cancelled"):
        make_order(status)
    expected = _orders(app)
    assert len(expected) == 6

    output = tmp_path / "backups" / "copy.bak"
    result = runner.invoke(args=["backup", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert output.stat().st_size > 0
    assert not list(output.parent.glob(".*partial"))
    make_order()  # written after the backup: must not be in the copy

    # Restore as docs/security.md says, into a fresh database.
    restored_url = scratch_database()
    if make_url(restored_url).get_backend_name() == "sqlite":
        shutil.copyfile(output, make_url(restored_url).database)
    else:
        subprocess.run(
            ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
             f"--dbname={make_url(restored_url).set(drivername='postgresql').render_as_string(hide_password=False)}",
             str(output)],
            check=True, capture_output=True, timeout=120,
        )
    restored = create_app(TestConfig(restored_url))
    assert _orders(restored) == expected
    with restored.app_context():
        check = verify_chain(db.session)
        assert check.ok and check.checked == 1 + 2 + 3 + 4 + 5 + 2, check.problem
        db.engine.dispose()


def test_backup_without_output_uses_the_instance_folder(app, runner, make_order, tmp_path):
    make_order()
    app.instance_path = str(tmp_path)
    result = runner.invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    written = list((tmp_path / "backups").iterdir())
    assert len(written) == 1 and str(written[0]) in result.output
