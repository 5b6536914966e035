"""Following Orthanc's change feed: every stable study is recorded and matched, once.

The follower keeps its place (the last change ``Seq`` handled) in ``pacs_follow_state``, in the
same transaction as the study the change brought, so a restart resumes where it stopped and
nothing is recorded twice (a study seen again with the same images changes nothing). Orthanc
being down is no crash: the pass stops, the follower logs one line and tries again after a
growing pause (1 s, 2 s, 4 s … up to ``PACS_MAX_BACKOFF_SECONDS``), and logs when it is back.
Each study is read from Orthanc before its transaction starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from webapp.db_retry import run_in_transaction
from webapp.db_types import utcnow
from webapp.errors import ServiceError
from webapp.extensions import db, writing
from webapp.pacs import matching
from webapp.pacs.client import OrthancClient, OrthancNotFound, OrthancUnavailable
from webapp.pacs.models import FOLLOW_POSITION, PacsFollowState
from webapp.pacs.studies import read_study

log = logging.getLogger(__name__)

STABLE_STUDY = "StableStudy"
PAGE = 100


def position() -> int:
    state = db.session.get(PacsFollowState, FOLLOW_POSITION)
    return state.last_change if state else 0


def _set_position(seq: int) -> None:
    state = db.session.get(PacsFollowState, FOLLOW_POSITION)
    if state is None:
        state = PacsFollowState(name=FOLLOW_POSITION, last_change=0)
        db.session.add(state)
    state.last_change = max(state.last_change or 0, int(seq))
    state.updated_at = utcnow()


class Follower:
    def __init__(self, app: Flask, client: OrthancClient | None = None) -> None:
        self.app = app
        self.client = client or OrthancClient.from_config(app.config)

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
                if change.get("ChangeType") == STABLE_STUDY and change.get("ResourceType") == "Study":
                    recorded += self.record(change["ID"], change["Seq"])
            last = int(page.get("Last") or since)
            if last > since:
                self._commit(lambda last=last: _set_position(last), "PACS feed position")
            since = last
            if page.get("Done", True) or not changes:
                return recorded

    def rescan(self, date_from: date, date_to: date) -> int:
        """Record every study Orthanc holds of these study dates (the feed position stays)."""
        ids = self.client.find_studies({"StudyDate": f"{date_from:%Y%m%d}-{date_to:%Y%m%d}"})
        return sum(self.record(orthanc_id) for orthanc_id in ids)

    def follow(self, stop: threading.Event, poll: float | None = None, max_backoff: float | None = None) -> None:
        """Pass after pass until ``stop`` is set; Orthanc or the database being down only pauses it."""
        poll = self.app.config["PACS_POLL_SECONDS"] if poll is None else poll
        max_backoff = self.app.config["PACS_MAX_BACKOFF_SECONDS"] if max_backoff is None else max_backoff
        backoff, failing = 1.0, False
        while not stop.is_set():
            try:
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
