from __future__ import annotations

import uuid
from datetime import datetime

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.auth.roles import Role
from webapp.db_types import UTCDateTime, new_uuid, utcnow
from webapp.extensions import db


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(128), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    # The provider's identifier in the hospital's systems (an NPI, or the EHR's own number): how
    # HL7 ORC-12, OBR-16 and PV1-7/8 name this account (webapp.hl7.providers); unique when set.
    provider_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped whenever sessions and tokens issued before must stop working (logout, disable,
    # password change).
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def set_password(self, password: str) -> None:
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses disabled users
        return bool(self.is_enabled)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def is_trainee(self) -> bool:
        """A radiologist in training: their signature makes a preliminary report that an attending
        (a radiologist who is no trainee) co-signs (webapp.reporting.cosign). Kept in ``trainees``."""
        if self.id is None:
            return False
        return db.session.get(Trainee, self.id) is not None

    @is_trainee.setter
    def is_trainee(self, value: bool) -> None:
        row = db.session.get(Trainee, self.id)
        if value and row is None:
            db.session.add(Trainee(user_id=self.id))
        elif not value and row is not None:
            db.session.delete(row)

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    def get_id(self) -> str:
        return f"{self.id}:{self.session_generation}"

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class Trainee(db.Model):
    """A radiologist in training (one row per trainee; none for attendings and other roles)."""

    __tablename__ = "trainees"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
