"""Logging reads of patient data: who was shown which patients, when, by which request.

Every view that shows a patient's data (an order, a list or search of orders or patients, a
visit, the dashboard's queues, the worklist) calls ``record_read`` with the patients it is about
to show. Nothing is written then: after the view, one ``patient_access_log`` row is written for
the request, naming every patient it showed in ``patient_access_log_patients`` (a search that
returned two patients' orders is one row naming both; twenty orders of one patient name it once).
A request that showed nobody writes no row, unless it searched (``q=``): a search that found
nobody is still someone looking a person up, which auditors want to see. People who are not
registered patients (a PACS study whose DICOM Patient ID is no MRN of ours) are named as text in
``subjects`` (``record_read(..., subjects=[...])``): their reads are logged too, and
``flask audit access`` finds them by that Patient ID.

Where the row goes (the request's view is done by then):

* PostgreSQL: in the request's own transaction, then committed (no second connection; what the
  request loaded stays loaded). One statement: the access row and its patients together.
* SQLite, a read (GET): the request's read transaction is ended (it wrote nothing, and the
  answer is built), then the row goes in a short writing transaction of its own; the read
  transaction could not become a writer without risking "database is locked".
* SQLite, a writing request (POST…): in the request's session, committed. Views commit or roll
  back their own work before they render, so this commits the row alone.

If the row cannot be written the answer is replaced by an error (503 when the database is
unreachable, else 500): nothing is shown unlogged. Answers that are 500s themselves showed
nothing and write no row.

``log_patient_access`` writes one row at once, for code outside a view's request cycle.

A live region that identical screens share (webapp.web.live_cache) names its patients once:
its renderer stores them as a set (``patient_set_id``: one ``patient_access_sets`` row per
distinct set of patients, with its ``patient_access_set_patients``, committed before anyone
names it), and each viewer's row points at the set instead of repeating ~170 patient rows for
every viewer and every event. "Who saw this patient" finds both kinds of rows
(webapp.audit.access_report).

Those viewers' rows (a GET whose read names only a stored set) are written in batches, not one
by one: the row is made when the answer is (its time, user, request), queued in the process, and
every ``ACCESS_LOG_BATCH_SECONDS`` (1) the queue is inserted in one statement. Twenty-four
tablets re-fetching one event's worklist made 24 INSERTs and 24 COMMITs, half of each viewer's
cost (bench/README.md); now one. A queue that cannot be written is kept and tried again; past
``_MAX_PENDING`` rows (the database has refused them for a while) a viewer's row is written at
once again, so the refusal reaches the answer (503) and nothing more is shown unlogged. The
queue is written when the process exits (``atexit``, gunicorn's ``worker_exit``) and before the
log is read in this process (``flush_batches``); a process killed outright loses at most the
last second's queued rows of such reads. ``0`` writes every row at once, as before.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import threading
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy import ARRAY, Integer, Uuid, bindparam, cast, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from webapp.audit.models import PatientAccessLog, PatientAccessLogPatient, PatientAccessSet, PatientAccessSetPatient
from webapp.db_types import utcnow
from webapp.extensions import _wants_write_lock, commit_keeping_state, db, end_read_transaction, writing
from webapp.faults import DATABASE_UNAVAILABLE, database_unavailable

log = logging.getLogger(__name__)

_G_KEY = "patient_reads"
_BATCH_KEY = "access_log_batch"
_MAX_PENDING = 20_000  # queued rows per process before rows are written at once again
_ACCESS = PatientAccessLog.__table__
_PATIENTS = PatientAccessLogPatient.__table__
_SETS = PatientAccessSet.__table__
_SET_PATIENTS = PatientAccessSetPatient.__table__
_COLUMNS = ("accessed_at", "user_id", "username", "user_role", "what", "request_path", "remote_addr", "search",
            "subjects", "patient_set_id")

# Built once; SQLAlchemy caches their compiled forms.
_INSERT_ACCESS = insert(_ACCESS).returning(_ACCESS.c.id)
_INSERT_PATIENTS = insert(_PATIENTS)
_INSERT_ROWS = insert(_ACCESS)  # queued rows that name a set (_Batch), executemany
_INSERT_SET_PATIENTS = insert(_SET_PATIENTS)
# PostgreSQL: patient ids sent as one text ('id,id,…') and unnested by the server: psycopg dumps a
# list of UUIDs element by element, which cost more than the rest of a shared live region's answer
# (bench/README.md).
_IDS_FROM_TEXT = func.unnest(cast(func.string_to_array(bindparam("patient_ids"), ","), ARRAY(Uuid)))
# PostgreSQL: the access row and one row per patient in one statement (one round trip).
_new_access = insert(_ACCESS).values({name: bindparam(name) for name in _COLUMNS}) \
    .returning(_ACCESS.c.id).cte("new_access")
_INSERT_BOTH = insert(_PATIENTS).from_select(
    ["access_id", "patient_id"],
    select(_new_access.c.id, _IDS_FROM_TEXT),
)
_FIND_SET = select(_SETS.c.id).where(_SETS.c.digest == bindparam("digest"))
_NEW_SET = insert(_SETS).values(digest=bindparam("digest"), created_at=bindparam("created_at")).returning(_SETS.c.id)
_NEW_SET_PG = pg_insert(_SETS).values(digest=bindparam("digest"), created_at=bindparam("created_at")) \
    .on_conflict_do_nothing(index_elements=["digest"]).returning(_SETS.c.id)
_SET_PATIENTS_PG = insert(_SET_PATIENTS).from_select(
    ["set_id", "patient_id"],
    select(cast(bindparam("set_id"), Integer), _IDS_FROM_TEXT),
)


class PatientSet(frozenset):
    """The patients a shared live region shows, made once per version and worker (webapp.web.
    live_cache): every viewer's read names them, and building the set and the statement's text
    from 170 UUIDs per viewer cost a fifth of a shared answer."""

    def __new__(cls, ids: Iterable[uuid.UUID | str | None]) -> PatientSet:
        return super().__new__(cls, (_uuid(p) for p in ids if p is not None))

    @cached_property
    def text(self) -> str:
        """The ids in UUID order as one text ('id,id,…'), as the PostgreSQL statement takes them."""
        return _as_text(self)


@dataclass
class _Reads:
    """What one request has shown so far, written once after its view."""

    who: dict[str, Any]
    what: list[str] = field(default_factory=list)
    patients: set[uuid.UUID] | PatientSet = field(default_factory=set)
    subjects: list[str] = field(default_factory=list)
    patient_set: int | None = None  # a stored set of patients shown (patient_set_id), and its patients
    set_patients: frozenset = frozenset()


def init_app(app: Flask) -> None:
    app.after_request(_write_request_reads)
    seconds = float(app.config.get("ACCESS_LOG_BATCH_SECONDS", 1.0))
    if seconds > 0:
        app.extensions[_BATCH_KEY] = _Batch(app, seconds)


class _Batch:
    """One app's queued access rows (each viewer's row of a shared live region), written together."""

    def __init__(self, app: Flask, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        _batches.add(self)

    def add(self, values: dict[str, Any]) -> bool:
        """Queue a row; False when too many wait already (the caller writes it at once)."""
        with self._lock:
            if len(self._rows) >= _MAX_PENDING:
                return False
            self._rows.append(values)
            self._schedule()
        return True

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.seconds, self._flush_later)
            self._timer.daemon = True
            self._timer.start()

    def _flush_later(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.flush()
        except Exception as exc:  # kept and tried again (flush put them back)
            log.error("access log: %d queued row(s) not written, tried again in %.1f s (%s: %s)",
                      self.pending(), self.seconds, type(exc).__name__, exc)
            with self._lock:
                if self._rows:
                    self._schedule()

    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def close(self) -> int:
        """Write what is queued and stop the timer (an app that is done: tests)."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        return self.flush()

    def flush(self) -> int:
        """Write every queued row now, in one statement; the rows stay queued if it fails."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            with self.app.app_context(), writing(), db.engine.begin() as connection:
                connection.execute(_INSERT_ROWS, rows)
        except BaseException:
            with self._lock:
                self._rows[:0] = rows
            raise
        return len(rows)


_batches: weakref.WeakSet[_Batch] = weakref.WeakSet()


def flush_batches(app: Flask | None = None) -> int:
    """Write the queued rows now: ``app``'s, or every app's in this process (at exit). Before the
    log is read here (``audit access``), and by gunicorn's ``worker_exit``."""
    batches = [app.extensions.get(_BATCH_KEY)] if app is not None else list(_batches)
    written = 0
    for batch in batches:
        if batch is None:
            continue
        try:
            written += batch.flush()
        except Exception as exc:
            log.error("access log: %d queued row(s) not written (%s: %s)", batch.pending(), type(exc).__name__, exc)
    return written


atexit.register(flush_batches)


def close_batch(app: Flask) -> int:
    """Write ``app``'s queued rows and stop its timer (an app being disposed of)."""
    batch = app.extensions.get(_BATCH_KEY)
    return batch.close() if batch is not None else 0


def record_read(user: Any, what: str, patient_ids: Iterable[uuid.UUID | str | None],
                subjects: Iterable[str] = (), patient_set: int | None = None) -> None:
    """Note that this request shows ``user`` ``what`` (e.g. "order list") of these patients.

    Call it with the patients actually shown (the page's orders' patients, the search's
    patients), and ``subjects``: the people shown who are no registered patient, as text (e.g.
    "MRN-X (DOE JANE)"); calls within one request add up to one row. Outside a request the row
    is written at once. ``patient_set``: the id :func:`patient_set_id` gave for exactly these
    patients (a shared live region): the row names the set instead of a row per patient.
    """
    patients = patient_ids if isinstance(patient_ids, PatientSet) else {
        _uuid(p) for p in patient_ids if p is not None}
    named = [text for text in (_clean(s) for s in subjects) if text]
    if not has_request_context():
        values = _values(_who(user), what) | {"subjects": _subjects(named), "patient_set_id": patient_set}
        _write(values, set() if patient_set is not None else patients, finish=False)
        return
    reads = g.get(_G_KEY)
    if reads is None:
        reads = _Reads(who=_who(user))
        setattr(g, _G_KEY, reads)
    if what not in reads.what:
        reads.what.append(what)
    if patient_set is not None and reads.patient_set is None:
        reads.patient_set, reads.set_patients = patient_set, patients
    elif not reads.patients:
        reads.patients = patients
    else:
        reads.patients = set(reads.patients) | patients
    reads.subjects.extend(text for text in named if text not in reads.subjects)


def patient_set_id(patients: PatientSet) -> int | None:
    """The id of the stored set of exactly these patients, written and committed first when it is
    new (on a connection of its own, so that a read naming it can commit in any transaction).
    Found again by its digest: a region whose patients stay the same over events names one set."""
    if not patients:
        return None
    # The request's (read) transaction ends first, so that its connection is back in the pool
    # before another is taken: fifteen concurrent renders each holding one and waiting for a second
    # held every connection of a worker's pool (bench.peak: 30 s waits, then 503s). A request with
    # changes of its own (never a live GET) names the patients in its row instead.
    if not end_read_transaction():
        return None
    digest = hashlib.sha1(patients.text.encode()).hexdigest()
    with writing(), db.engine.begin() as connection:
        found = connection.execute(_FIND_SET, {"digest": digest}).scalar()
        if found is not None:
            return found
        if connection.dialect.name == "postgresql":
            new = connection.execute(_NEW_SET_PG, {"digest": digest, "created_at": utcnow()}).scalar()
            if new is None:  # another process wrote it meanwhile (the conflict waited for its commit)
                return connection.execute(_FIND_SET, {"digest": digest}).scalar_one()
            connection.execute(_SET_PATIENTS_PG, {"set_id": new, "patient_ids": patients.text})
            return new
        new = connection.execute(_NEW_SET, {"digest": digest, "created_at": utcnow()}).scalar_one()
        connection.execute(_INSERT_SET_PATIENTS, [{"set_id": new, "patient_id": p} for p in patients])
        return new


def _clean(text: str) -> str:
    """One line of printable text (no NUL, which PostgreSQL refuses, nor control characters)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(text or "")).split())


def _subjects(named: list[str]) -> str | None:
    return "; ".join(named) or None


def log_patient_access(user: Any, patient_id: uuid.UUID | str, what: str) -> None:
    """Write a row now: ``user`` was shown ``what`` (e.g. "imaging history") of one patient.

    For code outside the request cycle of ``record_read`` (views use ``record_read``). In a read
    request the row is committed at once; in a writing request or a ``writing()`` block it joins
    the caller's transaction.
    """
    _write(_values(_who(user), what), {_uuid(patient_id)}, finish=False)


def _write_request_reads(response: Response) -> Response:
    reads: _Reads | None = g.pop(_G_KEY, None)
    if reads is None or response.status_code >= 500:
        return response
    values = _values(reads.who, "; ".join(reads.what)) | {"subjects": _subjects(reads.subjects),
                                                          "patient_set_id": reads.patient_set}
    patients = reads.patients
    if reads.set_patients and patients:
        patients = set(patients) - reads.set_patients  # named by the set already
    if reads.patient_set is not None and not patients and request.method == "GET" and _queued(values):
        return response
    if patients or reads.patient_set is not None or values["search"] or values["subjects"]:
        try:
            _write(values, patients, finish=True)
        except DATABASE_UNAVAILABLE as exc:  # as for the view's own queries: a 503, not a 500
            return database_unavailable(exc)
    return response


def _queued(values: dict[str, Any]) -> bool:
    """Queue a read row that names a stored set only (a viewer of a shared live region); False
    when rows are written one by one (``ACCESS_LOG_BATCH_SECONDS`` 0) or too many wait."""
    batch = current_app.extensions.get(_BATCH_KEY)
    return batch is not None and batch.add(values)


_as_int = attrgetter("int")


def _as_text(patients: Iterable[uuid.UUID]) -> str:
    return ",".join(map(str, sorted(patients, key=_as_int)))  # UUID order, no Python __lt__ per comparison


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _who(user: Any) -> dict[str, Any]:
    return {
        "user_id": getattr(user, "id", None),
        "username": (getattr(user, "username", None) or str(getattr(user, "label", "unknown")))[:64],
        "user_role": str(getattr(user, "role", "") or "")[:16],
    }


def _values(who: dict[str, Any], what: str) -> dict[str, Any]:
    values = who | {"accessed_at": utcnow(), "what": what[:200], "request_path": None, "remote_addr": None,
                    "search": None, "subjects": None, "patient_set_id": None}
    if has_request_context():
        values["request_path"] = f"{request.method} {request.full_path.rstrip('?')}"[:300]
        values["remote_addr"] = (request.remote_addr or "")[:64] or None
        values["search"] = (request.args.get("q") or "").strip()[:200] or None
    return values


def _write(values: dict[str, Any], patients: set[uuid.UUID] | PatientSet, *, finish: bool) -> None:
    """Insert the row and its patients. ``finish``: the request's view is done, so a writing
    request's transaction is committed here (else it joins the caller's, who commits)."""
    if _wants_write_lock():
        _insert(db.session, values, patients)
        if finish:
            commit_keeping_state()
        return
    if db.engine.dialect.name == "postgresql":
        _insert(db.session, values, patients)
        commit_keeping_state()
        return
    if finish:
        # The answer is built: end the read transaction first (it wrote nothing). A commit while
        # this process still reads from the WAL cannot let SQLite restart the WAL, so once it
        # has grown past the auto-checkpoint size every commit checkpoints (an fsync) again.
        db.session.rollback()
    with writing(), db.engine.begin() as connection:
        _insert(connection, values, patients)


def _insert(executor, values: dict[str, Any], patients: set[uuid.UUID] | PatientSet) -> None:
    """One statement on PostgreSQL; on SQLite (in-process, no round trips) the access row, then
    its patients in one executemany. Patients go in UUID order."""
    if db.engine.dialect.name == "postgresql":
        text = patients.text if isinstance(patients, PatientSet) else _as_text(patients)
        executor.execute(_INSERT_BOTH, values | {"patient_ids": text})
        return
    access_id = executor.execute(_INSERT_ACCESS, values).scalar_one()
    if patients:
        executor.execute(_INSERT_PATIENTS, [{"access_id": access_id, "patient_id": p}
                                            for p in sorted(patients, key=_as_int)])
