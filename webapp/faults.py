"""What the app answers while the database is unreachable.

Every request runs in one transaction that commits once at the end, so a request the database
drops out of commits nothing: the handler rolls back, and the user gets a 503 (a
problem+json under /api, a plain page elsewhere) with no stack trace and a Retry-After. When
the database returns, the pool's pre-ping replaces dead connections, so the next request works
with no restart.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from markupsafe import escape
from sqlalchemy import exc as sa_exc

from webapp.errors import problem, wants_problem_json
from webapp.extensions import db

# What SQLAlchemy raises when it cannot reach the database or loses it mid-request (also
# SQLite's "database is locked" after the busy timeout: try again later is right for it too).
DATABASE_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
RETRY_AFTER_SECONDS = 15

UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Temporarily unavailable · Imaging orders</title>
</head>
<body>
  <main>
    <h1>The system is temporarily unavailable</h1>
    <p>The order database cannot be reached at the moment. Nothing was half-saved: a change
       is either stored completely or not at all.</p>
    <p>The system recovers by itself when the database is back. If you were saving something,
       open the order again in a minute and check whether it was stored before you repeat it.</p>
    <p><a href="{url}">Try again</a></p>
  </main>
</body>
</html>
"""


# What the 503 says, by cause: the database unreachable, too slow, or (after the retries of
# webapp.db_retry) still losing lock conflicts. None of them left anything half-written.
UNREACHABLE = "The database cannot be reached; nothing was changed. Try again shortly."
TOO_SLOW = ("The database did not answer in time. A change is stored completely or not at all: "
            "if you were changing something, check whether it was stored before you repeat it.")
CONFLICT = "The change kept colliding with others made at the same moment and was not saved. Try again."
# statement_timeout / canceled, lock_timeout
TIMEOUT_SQLSTATES = frozenset({"57014", "55P03"})


def _detail(error: Exception) -> str:
    from webapp.db_retry import is_lock_conflict

    orig = getattr(error, "orig", error)
    if is_lock_conflict(error):
        return CONFLICT
    if getattr(orig, "sqlstate", None) in TIMEOUT_SQLSTATES or getattr(orig, "timed_out", False):
        return TOO_SLOW
    return UNREACHABLE


def database_unavailable(error: Exception) -> Response:
    """503 without details: roll back what the request began, log one line, tell the user."""
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the pool discards it
        pass
    reason = str(getattr(error, "orig", error)).strip().splitlines()[0:1]
    current_app.logger.warning(
        "Database unavailable during %s %s: %s", request.method, request.path, reason[0] if reason else type(error)
    )
    if wants_problem_json():
        response = problem(503, "Service unavailable", _detail(error))
    else:
        # Not rendered through Flask's templates: their context processors would load the
        # signed-in user from the database that is not there.
        again = request.full_path.rstrip("?") if request.method == "GET" else "/"
        response = Response(UNAVAILABLE_PAGE.format(url=escape(again)), status=503, mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def register_fault_handlers(app: Flask) -> None:
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, database_unavailable)
