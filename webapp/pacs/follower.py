"""Following Orthanc's change feed: every stable study is recorded and matched, once.

The follower keeps its place (the last change ``Seq`` handled) in ``pacs_follow_state``, in the
same transaction as the study the change brought, so a restart resumes where it stopped and
nothing is recorded twice (a study seen again with the same images changes nothing). Orthanc
being down is no crash: the pass stops, the follower logs one line and tries again after a
growing pause (1 s, 2 s, 4 s … up to ``PACS_MAX_BACKOFF_SECONDS``), and logs when it is back.
Each study is read from Orthanc before its transaction starts.

A ``StableStudy`` change is not enough on its own: Orthanc keeps the studies it waits on in
memory, so a study still arriving when Orthanc stops (or is killed) never becomes a
``StableStudy`` change (issue 26, item 3). The follower therefore also reconciles (``reconcile``):

* every study it saw a ``NewStudy`` change for is remembered; when no ``StableStudy`` came
  within ``PACS_STABLE_WAIT_SECONDS`` (Orthanc's ``StableAge`` and a margin) and Orthanc says the
  study is stable (``IsStable``), it is recorded as the ``StableStudy`` change would have;
* when Orthanc answers again after an outage, when its feed goes back (a new Orthanc database),
  when the follower starts, and every ``PACS_RECONCILE_SECONDS``: the remembered studies at once,
  and every stable study Orthanc holds of yesterday's and today's study dates that is not yet
  recorded (``/tools/find``, the query ``pacs sync --from/--to`` uses).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from webapp.db_retry import run_in_transaction
from webapp.db_types import utcnow
from webapp.errors import ServiceError
from webapp.extensions import db, writing
from webapp.pacs import matching
from webapp.pacs.client import OrthancClient, OrthancNotFound, OrthancUnavailable
from webapp.pacs.models import FOLLOW_POSITION, PacsFollowState, PacsStudy
from webapp.pacs.studies import read_study

log = logging.getLogger(__name__)

STABLE_STUDY = "StableStudy"
NEW_STUDY = "NewStudy"
PAGE = 100


def position() -> int:
    state = db.session.get(PacsFollowState, FOLLOW_POSITION)
    return state.last_change if state else 0


def _set_position(seq: int, *, back: bool = False) -> None:
    """Move the position forward to ``seq`` (``back``: to ``seq`` even if lower, a new feed)."""
    state = db.session.get(PacsFollowState, FOLLOW_POSITION)
    if state is None:
        state = PacsFollowState(name=FOLLOW_POSITION, last_change=0)
        db.session.add(state)
    state.last_change = int(seq) if back else max(state.last_change or 0, int(seq))
    state.updated_at = utcnow()


class Follower:
    def __init__(self, app: Flask, client: OrthancClient | None = None) -> None:
        self.app = app
        self.client = client or OrthancClient.from_config(app.config)
        # Studies seen arriving (NewStudy) and not yet stable: Orthanc id -> when (monotonic).
        self.arriving: dict[str, float] = {}
        self.stable_wait = float(app.config.get("PACS_STABLE_WAIT_SECONDS", 120))

    # ------------------------------------------------------------------ one study

    def _commit(self, work: Callable[[], object], what: str):
        def attempt():
            result = work()
            db.session.commit()
            return result

        with self.app.app_context(), writing():
            try:
                return run_in_transaction(attempt, what)
            except BaseException:
                db.session.rollback()
                raise

    def record(self, orthanc_id: str, seq: int | None = None) -> bool:
        """Read one study from Orthanc and record it (and the feed position, if given)."""
        try:
            summary = read_study(self.client, orthanc_id)
        except OrthancNotFound:
            log.info("PACS: study %s is no longer in Orthanc; skipped", orthanc_id)
            summary = None

        def work():
            if summary is not None:
                study = matching.record_study(summary)
                self._log_outcome(study)
            if seq is not None:
                _set_position(seq)

        self._commit(work, f"PACS study {orthanc_id}")
        return summary is not None

    @staticmethod
    def _log_outcome(study) -> None:
        if study.order_id is not None:
            log.info("PACS: study %s (%s series, %s images) is on order %s", study.study_instance_uid,
                     study.series_count, study.instance_count, study.order.accession_number if study.order else "")
        else:
            log.warning("PACS: study %s held for review: %s", study.study_instance_uid, study.hold_reason)

    # ------------------------------------------------------------------ passes

    def sync(self) -> int:
        """Read the change feed from the stored position to its end; the number of studies recorded."""
        with self.app.app_context():
            since = position()
            db.session.rollback()
        recorded = 0
        while True:
            page = self.client.changes(since, PAGE)
            changes = page.get("Changes") or []
            for change in changes:
                if change.get("ResourceType") != "Study":
                    continue
                if change.get("ChangeType") == NEW_STUDY:
                    self.arriving.setdefault(change["ID"], time.monotonic())
                elif change.get("ChangeType") == STABLE_STUDY:
                    self.arriving.pop(change["ID"], None)
                    recorded += self.record(change["ID"], change["Seq"])
            last = int(page.get("Last") or since)
            if last < since:  # the feed went back: a new Orthanc database; start it from its end
                log.warning("PACS: Orthanc's change feed went back from %s to %s; reconciling recent studies",
                            since, last)
                self._commit(lambda last=last: _set_position(last, back=True), "PACS feed position")
                return recorded + self.reconcile()
            if last > since:
                self._commit(lambda last=last: _set_position(last), "PACS feed position")
            since = last
            if page.get("Done", True) or not changes:
                return recorded + self.settle()

    def _stable(self, orthanc_id: str) -> bool | None:
        """Orthanc's ``IsStable`` of a study; None when the study is gone."""
        try:
            return bool(self.client.study(orthanc_id).get("IsStable"))
        except OrthancNotFound:
            return None

    def settle(self, *, now: bool = False) -> int:
        """Record the studies seen arriving that got no StableStudy change in time but are stable
        (``now``: without waiting, after an outage); the number recorded."""
        recorded = 0
        for orthanc_id, seen in list(self.arriving.items()):
            if not now and time.monotonic() - seen < self.stable_wait:
                continue
            stable = self._stable(orthanc_id)
            if stable is None:
                self.arriving.pop(orthanc_id, None)
            elif stable:  # Orthanc will send no StableStudy for it any more (or has, and it is seen twice)
                log.warning("PACS: study %s is stable without a StableStudy change; recording it", orthanc_id)
                recorded += self.record(orthanc_id)
                self.arriving.pop(orthanc_id, None)
        return recorded

    def reconcile(self) -> int:
        """The studies seen arriving at once, then the stable studies of yesterday's and today's
        study dates not recorded yet; the number recorded."""
        recorded = self.settle(now=True)
        today = date.today()
        found = self.client.find_studies_expanded(
            {"StudyDate": f"{today - timedelta(days=1):%Y%m%d}-{today:%Y%m%d}"})
        stable = {item["ID"] for item in found if item.get("IsStable")}
        if not stable:
            return recorded
        with self.app.app_context():
            known = set(db.session.scalars(select(PacsStudy.orthanc_id).where(PacsStudy.orthanc_id.in_(stable))))
            db.session.rollback()
        for orthanc_id in sorted(stable - known):
            log.warning("PACS: study %s was never recorded from the change feed; recording it", orthanc_id)
            recorded += self.record(orthanc_id)
        return recorded

    def rescan(self, date_from: date, date_to: date) -> int:
        """Record every study Orthanc holds of these study dates (the feed position stays)."""
        ids = self.client.find_studies({"StudyDate": f"{date_from:%Y%m%d}-{date_to:%Y%m%d}"})
        return sum(self.record(orthanc_id) for orthanc_id in ids)

    def follow(self, stop: threading.Event, poll: float | None = None, max_backoff: float | None = None) -> None:
        """Pass after pass until ``stop`` is set; Orthanc or the database being down only pauses it."""
        poll = self.app.config["PACS_POLL_SECONDS"] if poll is None else poll
        max_backoff = self.app.config["PACS_MAX_BACKOFF_SECONDS"] if max_backoff is None else max_backoff
        every = float(self.app.config.get("PACS_RECONCILE_SECONDS", 600))
        backoff, failing, due = 1.0, False, 0.0  # reconcile on start: studies may have come while we were away
        while not stop.is_set():
            try:
                if failing or time.monotonic() >= due:
                    self.reconcile()
                    due = time.monotonic() + every
                self.sync()
            except (OrthancUnavailable, SQLAlchemyError, ServiceError) as exc:
                log.warning("PACS: %s (%s); trying again in %.0f s", _trouble(exc), exc, min(backoff, max_backoff))
                failing = True
                stop.wait(min(backoff, max_backoff))
                backoff = min(backoff * 2, max_backoff)
                continue
            if failing:
                log.info("PACS: Orthanc answers again at %s; following from change %s", self.client.url,
                         self._position())
                failing, backoff = False, 1.0
            stop.wait(poll)

    def _position(self) -> int:
        with self.app.app_context():
            return position()


def _trouble(exc: Exception) -> str:
    if isinstance(exc, OrthancUnavailable):
        return "Orthanc is unavailable"
    if isinstance(exc, SQLAlchemyError):
        return "the database is unavailable"
    return "a study could not be recorded"
