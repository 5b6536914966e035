"""Fixtures of the hardening tests: throwaway databases for migrations and restores."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@pytest.fixture
def scratch_database(database_url, tmp_path):
    """scratch_database() -> URL of a new, empty database on the test's backend (dropped afterwards)."""
    created: list[str] = []
    url = make_url(database_url)

    def factory() -> str:
        if url.get_backend_name() == "sqlite":
            return f"sqlite:///{tmp_path / f'scratch-{uuid.uuid4().hex[:6]}.db'}"
        name = f"{url.database}_s{uuid.uuid4().hex[:6]}"
        with _admin(url) as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return url.set(database=name).render_as_string(hide_password=False)

    yield factory
    if created:
        with _admin(url) as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _admin(url):
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()
