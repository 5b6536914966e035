"""Heartbeats of the background commands (the outbox dispatcher, the HL7 listener, the PACS
follower): each running instance writes ``beat_at`` every BEAT_SECONDS from a thread of its
own, so that an administrator sees on ``/admin/outbox`` whether outbound HL7 is running on any
host, and so that a dispatcher that died (``kill -9``) gives back the messages it claimed but had
not started to send at once instead of after their lease (``webapp.outbox.dispatcher``).

An instance is alive while its last beat is younger than STALE_SECONDS (three beats).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import String, delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db, writing

log = logging.getLogger(__name__)
BEAT_SECONDS = 5.0
STALE_SECONDS = 15.0
FORGET_AFTER = timedelta(days=1)  # rows of instances gone this long are removed


class ProcessHeartbeat(db.Model):
    __tablename__ = "process_heartbeats"

    instance: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid:random
    role: Mapped[str] = mapped_column(String(32), index=True)  # "outbox dispatcher", ...
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)


def instance_name(prefix: str = "") -> str:
    return f"{prefix}{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"[:128]


def beat(role: str, instance: str, *, now: datetime | None = None) -> None:
    """Record that ``instance`` of ``role`` is alive (commits)."""
    now = now or utcnow()
    with writing():
        updated = db.session.execute(
            update(ProcessHeartbeat).where(ProcessHeartbeat.instance == instance).values(beat_at=now)
        ).rowcount
        if not updated:
            db.session.add(ProcessHeartbeat(instance=instance, role=role, started_at=now, beat_at=now))
            db.session.execute(delete(ProcessHeartbeat).where(ProcessHeartbeat.beat_at < now - FORGET_AFTER))
        db.session.commit()


def stopped(instance: str) -> None:
    """A clean stop: the instance's row goes (commits)."""
    with writing():
        db.session.execute(delete(ProcessHeartbeat).where(ProcessHeartbeat.instance == instance))
        db.session.commit()


def alive_instances(now: datetime | None = None):
    """A subquery of the instances that beat within STALE_SECONDS."""
    now = now or utcnow()
    return select(ProcessHeartbeat.instance).where(ProcessHeartbeat.beat_at >= now - timedelta(seconds=STALE_SECONDS))


def latest(role: str) -> ProcessHeartbeat | None:
    return db.session.scalar(
        select(ProcessHeartbeat).where(ProcessHeartbeat.role == role).order_by(ProcessHeartbeat.beat_at.desc()).limit(1)
    )


def is_alive(row: ProcessHeartbeat | None, now: datetime | None = None) -> bool:
    return row is not None and (now or utcnow()) - row.beat_at < timedelta(seconds=STALE_SECONDS)


def keep_beating(app: Flask, role: str, instance: str, stop: threading.Event) -> threading.Thread:
    """A daemon thread that beats every BEAT_SECONDS until ``stop`` is set, then removes the row."""

    def run() -> None:
        while True:
            try:
                with app.app_context():
                    if stop.is_set():
                        stopped(instance)
                        return
                    beat(role, instance)
            except SQLAlchemyError as exc:  # the database is away: beat again later
                log.warning("%s: heartbeat not recorded (%s)", role, type(exc).__name__)
                with app.app_context():
                    db.session.rollback()
            stop.wait(BEAT_SECONDS)

    thread = threading.Thread(target=run, name=f"heartbeat {role}", daemon=True)
    thread.start()
    return thread
