"""Database triggers that make the audit tables append-only.

The app never updates or deletes audit rows (webapp.audit.chain refuses it in the session too),
but the rule has to hold for plain SQL as well: a ``BEFORE UPDATE OR DELETE`` trigger on SQLite
and PostgreSQL (plus ``BEFORE TRUNCATE`` on PostgreSQL) aborts the statement. The triggers are
created by the migration and, for ``db.create_all()``, by an ``after_create`` hook on each table.

There is no switch that turns them off for a session: dropping them takes the table owner's
DDL rights, which is what the test fixture does (in its own transaction) to empty the tables.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

AUDIT_TABLES = ("order_events", "patient_access_log", "patient_access_log_patients", "patient_access_sets",
                "patient_access_set_patients", "report_addenda", "safety_record_changes")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _statements(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_audit_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change()",
        ]
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
        ]
    raise NotImplementedError(f"No append-only triggers for {dialect}")


def _trigger_names(dialect: str, table: str) -> list[str]:
    suffixes = ("append_only", "no_truncate") if dialect == "postgresql" else ("no_update", "no_delete")
    return [f"{table}_{suffix}" for suffix in suffixes]


def install_guards(connection: Connection, tables: Iterable[str] = AUDIT_TABLES) -> None:
    """Create the append-only triggers on ``tables`` (drops any old copy first)."""
    dialect = connection.dialect.name
    drop_guards(connection, tables)
    if dialect == "postgresql":
        connection.execute(text(_PG_FUNCTION))
    for table in tables:
        for statement in _statements(dialect, table):
            connection.execute(text(statement))


def drop_guards(connection: Connection, tables: Iterable[str] = AUDIT_TABLES) -> None:
    """Remove the triggers (migrations' downgrade, and the test fixture that empties tables)."""
    dialect = connection.dialect.name
    for table in tables:
        for name in _trigger_names(dialect, table):
            if dialect == "postgresql":
                connection.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
            else:
                connection.execute(text(f"DROP TRIGGER IF EXISTS {name}"))


def guard_on_create(table) -> None:
    """Install the triggers whenever ``db.create_all()`` creates ``table``."""

    @event.listens_for(table, "after_create")
    def _after_create(target, connection, **_kw):
        install_guards(connection, [target.name])
