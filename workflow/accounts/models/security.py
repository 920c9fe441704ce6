"""What a login leaves on the server: web sessions, API tokens, password-reset links and
the second factor. Secrets are kept only as SHA-256 hashes of random values (the cookie,
the bearer token, the e-mailed link and the recovery codes are never stored); the TOTP
seed is kept as it is, since the server must compute the same codes as the phone."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow.core.models.base import Base, UTCDateTime, utcnow

_USER = "user_account.id"


class UserSession(Base):
    """A signed-in browser. The cookie carries the row's id and a random secret whose
    hash is ``secret_hash``; the row is checked on every request, so revoking it (logout,
    a password change, an administrator's 强制下线) ends the session whatever cookie is
    replayed. ``expires_at`` is the absolute limit; ``last_seen_at`` the idle one."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey(_USER, ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # logout, password, admin, second_factor, others (the person ended their other sessions)
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(20))


class ApiToken(Base):
    """A bearer token of the API, known by its hash only; it expires, and is revoked by
    ``DELETE /api/v1/auth/token``, a password change or 强制下线."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey(_USER, ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(20))


class PasswordReset(Base):
    """A self-service reset link (忘记密码): single use, short-lived, known by its hash."""

    __tablename__ = "password_reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey(_USER, ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(sa.String(45))


class SecondFactor(Base):
    """A person's TOTP authenticator (两步验证), once enrolled. ``last_step`` is the
    time step of the last code accepted (a code is good once); ``failures`` wrong codes
    in a row, the last at ``failed_at``, make the person wait."""

    __tablename__ = "second_factor"
    __table_args__ = (sa.CheckConstraint("failures >= 0", name="failures_nonnegative"),)

    user_id: Mapped[int] = mapped_column(sa.ForeignKey(_USER, ondelete="CASCADE"),
                                         primary_key=True)
    secret: Mapped[str] = mapped_column(sa.String(64))
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    failures: Mapped[int] = mapped_column(default=0, server_default="0")
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RecoveryCode(Base):
    """One of the ten single-use recovery codes (恢复码) shown once at enrolment."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey(_USER, ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
