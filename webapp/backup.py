"""``flask --app wsgi backup``: a consistent copy of the database, while the app keeps running.

SQLite: the online backup API copies the database as of one read transaction (WAL included).
PostgreSQL: ``pg_dump --format=custom`` (one snapshot), restored with ``pg_restore``.
The copy is written beside the target under a temporary name and renamed when complete, so a
file with the final name is always a whole backup. The README says how to restore.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app
from sqlalchemy.engine import URL

from webapp.extensions import db


class BackupFailed(RuntimeError):
    pass


def default_backup_path(url: URL) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(current_app.instance_path) / "backups"
    if url.get_backend_name() == "sqlite":
        return folder / f"{Path(url.database or 'app').stem}-{stamp}.sqlite3"
    return folder / f"{url.database}-{stamp}.dump"


def backup_database(output: Path | None = None) -> Path:
    """Write a consistent copy of the app's database to ``output`` (or a timestamped file)."""
    url = db.engine.url
    target = Path(output) if output else default_backup_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        if url.get_backend_name() == "sqlite":
            _backup_sqlite(url, partial)
        elif url.get_backend_name() == "postgresql":
            _backup_postgresql(url, partial)
        else:
            raise BackupFailed(f"No backup method for {url.get_backend_name()}.")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _backup_sqlite(url: URL, partial: Path) -> None:
    if not url.database or url.database == ":memory:":
        raise BackupFailed("An in-memory database cannot be backed up.")
    source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
    destination = sqlite3.connect(partial)
    try:
        source.backup(destination)  # all pages in one step: one consistent snapshot
        check = destination.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupFailed(f"The copy failed its integrity check: {check}")
    finally:
        destination.close()
        source.close()


def _backup_postgresql(url: URL, partial: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupFailed("pg_dump is not installed (Debian: apt-get install postgresql-client).")
    env = dict(os.environ)
    # Connection settings through the environment, so the password never shows in `ps`.
    for key, value in (
        ("PGHOST", url.host), ("PGPORT", url.port), ("PGUSER", url.username),
        ("PGPASSWORD", url.password), ("PGDATABASE", url.database),
    ):
        if value is not None:
            env[key] = str(value)
    completed = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}"],
        env=env, capture_output=True, text=True, timeout=3600, check=False,
    )
    if completed.returncode != 0:
        raise BackupFailed(f"pg_dump failed: {completed.stderr.strip()}")
