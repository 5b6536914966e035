"""Database triggers that keep ``order_status_counts`` exact: the dashboard's figures.

Why: the dashboard shows how many orders are in each status, open orders per modality and open
STAT/urgent orders. Counted from ``imaging_orders`` that meant reading index entries for every
cancelled (and, before that, every) order: p50 11.8 / p95 13.5 ms at 1,000,000 orders on
PostgreSQL (bench/, scenario 2), against a target of p95 ≤ 10 ms. ``order_status_counts`` holds
one row per (status, modality, priority) with how many orders have it (at most 6 × 6 × 3 rows),
so the dashboard reads a few dozen rows whatever the size of the history.

How it stays exact: row triggers on ``imaging_orders``, in the same transaction as the change,
whoever sends it (services, DICOM, a plain SQL ``UPDATE``):

- ``AFTER INSERT``: add one to the new order's key (an upsert: the row is created on first use);
- ``AFTER DELETE``: take one from the old key;
- ``AFTER UPDATE`` only when status, modality or priority actually changes: take one from the
  old key and add one to the new. On PostgreSQL the two statements run in key order (the
  smaller (status, modality, priority) first), so two transactions moving orders in opposite
  directions lock the two rows in the same order and cannot deadlock.
- PostgreSQL ``AFTER TRUNCATE`` of ``imaging_orders`` empties the counts too.

Rows that reach zero stay, with ``orders = 0``. The app never writes this table. The cost is
one more row lock per created order and per status change, held to the commit: every
change of the same (status, modality, priority) queues on that row.

The triggers are created by the migration and, for ``db.create_all()``, by ``after_create``
hooks on both tables (whichever is created second installs them, so the order in which tables
are created does not matter). Bulk loads that bypass or drop them (bench/generate.py) rebuild
the table afterwards with :data:`REBUILD_STATEMENTS`.

On SQLite a later batch-mode migration that recreates ``imaging_orders`` (``batch_alter_table``
copies it into a new table) drops its triggers with the old table: such a migration must call
:func:`install_count_triggers` again, and should rebuild the counts if rows changed meanwhile.
"""

from __future__ import annotations

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection

ORDERS_TABLE = "imaging_orders"
COUNTS_TABLE = "order_status_counts"
KEY = ("status", "modality", "priority")

TRIGGER_NAMES = (
    "imaging_orders_count_insert",
    "imaging_orders_count_delete",
    "imaging_orders_count_update",
    "imaging_orders_count_truncate",  # PostgreSQL only
)
_PG_FUNCTION_NAME = "order_status_counts_track"

_KEY_COLUMNS = ", ".join(KEY)


def _add(row: str) -> str:
    return (
        f"INSERT INTO {COUNTS_TABLE} ({_KEY_COLUMNS}, orders) "
        f"VALUES ({row}.status, {row}.modality, {row}.priority, 1) "
        f"ON CONFLICT ({_KEY_COLUMNS}) DO UPDATE SET orders = {COUNTS_TABLE}.orders + 1"
    )


def _take(row: str) -> str:
    return (
        f"UPDATE {COUNTS_TABLE} SET orders = orders - 1 "
        f"WHERE status = {row}.status AND modality = {row}.modality AND priority = {row}.priority"
    )


_KEY_CHANGED_PG = (
    "OLD.status IS DISTINCT FROM NEW.status OR OLD.modality IS DISTINCT FROM NEW.modality "
    "OR OLD.priority IS DISTINCT FROM NEW.priority"
)
_KEY_CHANGED_SQLITE = "OLD.status IS NOT NEW.status OR OLD.modality IS NOT NEW.modality OR OLD.priority IS NOT NEW.priority"

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {_PG_FUNCTION_NAME}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_add("NEW")};
    ELSIF TG_OP = 'DELETE' THEN
        {_take("OLD")};
    ELSIF TG_OP = 'TRUNCATE' THEN
        DELETE FROM {COUNTS_TABLE};
    -- UPDATE of the key: both rows, the smaller key first (a consistent lock order: no deadlock).
    ELSIF (OLD.status, OLD.modality, OLD.priority) < (NEW.status, NEW.modality, NEW.priority) THEN
        {_take("OLD")};
        {_add("NEW")};
    ELSE
        {_add("NEW")};
        {_take("OLD")};
    END IF;
    RETURN NULL;
END
$$
"""


def trigger_statements(dialect: str) -> list[str]:
    """The SQL that creates the triggers (run :func:`drop_statements` first to replace them)."""
    if dialect == "postgresql":
        run = f"FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION_NAME}()"
        return [
            _PG_FUNCTION,
            f"CREATE TRIGGER imaging_orders_count_insert AFTER INSERT ON {ORDERS_TABLE} {run}",
            f"CREATE TRIGGER imaging_orders_count_delete AFTER DELETE ON {ORDERS_TABLE} {run}",
            f"CREATE TRIGGER imaging_orders_count_update AFTER UPDATE OF {_KEY_COLUMNS} ON {ORDERS_TABLE} "
            f"FOR EACH ROW WHEN ({_KEY_CHANGED_PG}) EXECUTE FUNCTION {_PG_FUNCTION_NAME}()",
            f"CREATE TRIGGER imaging_orders_count_truncate AFTER TRUNCATE ON {ORDERS_TABLE} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION_NAME}()",
        ]
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER imaging_orders_count_insert AFTER INSERT ON {ORDERS_TABLE} FOR EACH ROW "
            f"BEGIN {_add('NEW')}; END",
            f"CREATE TRIGGER imaging_orders_count_delete AFTER DELETE ON {ORDERS_TABLE} FOR EACH ROW "
            f"BEGIN {_take('OLD')}; END",
            # One writer at a time on SQLite: the order of the two statements does not matter.
            f"CREATE TRIGGER imaging_orders_count_update AFTER UPDATE OF {_KEY_COLUMNS} ON {ORDERS_TABLE} "
            f"FOR EACH ROW WHEN {_KEY_CHANGED_SQLITE} BEGIN {_take('OLD')}; {_add('NEW')}; END",
        ]
    raise NotImplementedError(f"No order count triggers for {dialect}")


def drop_statements(dialect: str) -> list[str]:
    """The SQL that removes the triggers (the PostgreSQL function stays; it is replaced on install)."""
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {name} ON {ORDERS_TABLE}" for name in TRIGGER_NAMES]
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGER_NAMES[:3]]
    raise NotImplementedError(f"No order count triggers for {dialect}")


# Recount from the orders themselves: the migration's backfill and bench/generate.py after a
# bulk load. Run inside one transaction with the triggers in place (on PostgreSQL creating a
# trigger locks imaging_orders against writers until the commit, so nothing is missed).
BACKFILL_SQL = (
    f"INSERT INTO {COUNTS_TABLE} ({_KEY_COLUMNS}, orders) "
    f"SELECT {_KEY_COLUMNS}, count(*) FROM {ORDERS_TABLE} GROUP BY {_KEY_COLUMNS}"
)
REBUILD_STATEMENTS = (f"DELETE FROM {COUNTS_TABLE}", BACKFILL_SQL)


def install_count_triggers(connection: Connection) -> None:
    """Create the triggers on ``imaging_orders`` (drops any old copy first)."""
    dialect = connection.dialect.name
    for statement in drop_statements(dialect) + trigger_statements(dialect):
        connection.execute(text(statement))


def drop_count_triggers(connection: Connection) -> None:
    """Remove the triggers and, on PostgreSQL, their function (the migration's downgrade)."""
    dialect = connection.dialect.name
    for statement in drop_statements(dialect):
        connection.execute(text(statement))
    if dialect == "postgresql":
        connection.execute(text(f"DROP FUNCTION IF EXISTS {_PG_FUNCTION_NAME}()"))


def stored_counts(connection: Connection) -> dict[tuple[str, str, str], int]:
    """The table's non-zero rows, keyed by (status, modality, priority)."""
    rows = connection.execute(text(f"SELECT {_KEY_COLUMNS}, orders FROM {COUNTS_TABLE} WHERE orders <> 0"))
    return {(status, modality, priority): orders for status, modality, priority, orders in rows}


def actual_counts(connection: Connection) -> dict[tuple[str, str, str], int]:
    """What the table should hold: the orders counted now (reads every order)."""
    rows = connection.execute(text(f"SELECT {_KEY_COLUMNS}, count(*) FROM {ORDERS_TABLE} GROUP BY {_KEY_COLUMNS}"))
    return {(status, modality, priority): orders for status, modality, priority, orders in rows}


def count_on_create(orders_table, counts_table) -> None:
    """Install the triggers when ``db.create_all()`` creates the tables, in whichever order."""

    def _after_create(target, connection, **_kw):
        other = counts_table if target is orders_table else orders_table
        if inspect(connection).has_table(other.name, schema=other.schema):
            install_count_triggers(connection)

    event.listen(orders_table, "after_create", _after_create)
    event.listen(counts_table, "after_create", _after_create)
