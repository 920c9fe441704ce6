"""Sessions and API tokens that the server can end.

A web session is a ``UserSession`` row; the signed cookie carries its id and a random
secret (``"<id>.<secret>"``) of which the row keeps the SHA-256. Flask-Login's user loader
(``workflow/accounts/views.py``) checks the row on every request: revoked, past its
absolute limit (``SESSION_ABSOLUTE_HOURS``) or idle longer than
``PERMANENT_SESSION_LIFETIME``, the cookie no longer signs anyone in, even replayed.

An API token is random, handed out once and kept as its SHA-256 only (``ApiToken``), with
an expiry (``API_TOKEN_HOURS``); ``DELETE /api/v1/auth/token`` revokes it.

A password change, a reset, a second factor enrolled or reset, and an administrator's
强制下线 revoke the person's sessions and tokens (``revoke_everything``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from workflow.accounts.models import ApiToken, User, UserSession
from workflow.core.errors import Unauthenticated
from workflow.core.models import db, utcnow
from workflow.core.models.base import SQLITE_BUSY_MS

# ``last_seen_at``/``last_used_at`` move at most this often (a write per minute, not per
# request).
TOUCH = timedelta(minutes=1)
TOKEN_PREFIX = "kjf_"  # noqa: S105 (a marker that secret scanners recognise, no secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@contextmanager
def _brief_patience(conn: sa.Connection) -> Iterator[None]:
    """On SQLite, the mark waits a moment for the write lock, not a writer's 30 s: a page
    viewed while a job holds the lock answers at once."""
    raw = conn.connection.dbapi_connection if conn.dialect.name == "sqlite" else None
    if raw is None:
        yield
        return
    raw.execute("PRAGMA busy_timeout=200")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")


def _touch(model: Any, row: Any, column: str, now: datetime, writer: bool) -> None:
    """Move ``row.<column>`` to ``now``. A request that writes does it in its own
    transaction. A reading one does it in a short transaction of its own, so that a page
    view never turns its reading transaction into a writing one: on SQLite that upgrade
    fails at once when another process has written since the page began reading."""
    if writer:
        setattr(row, column, now)
        return
    try:
        with db.engine.connect() as conn, _brief_patience(conn):
            conn.execute(sa.update(model).where(model.id == row.id).values({column: now}))
            conn.commit()
    except sa.exc.OperationalError:
        # SQLite busy with a long write (a job): the mark is bookkeeping, never a reason
        # to refuse or hold up the request; the next one makes it.
        return
    set_committed_value(row, column, now)


# ---- web sessions ------------------------------------------------------------------------

def idle_limit() -> timedelta:
    return current_app.permanent_session_lifetime


def start_session(user: User, ip: str | None, user_agent: str | None) -> str:
    """A new session for ``user``; what the cookie carries (shown only here)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(user_id=user.id, secret_hash=digest(secret), created_at=now,
                      last_seen_at=now, ip=ip, user_agent=(user_agent or "")[:200] or None,
                      expires_at=now + timedelta(
                          hours=current_app.config["SESSION_ABSOLUTE_HOURS"]))
    db.session.add(row)
    db.session.flush()
    return f"{row.id}.{secret}"


def _parse(value: Any) -> tuple[int, str] | None:
    if not isinstance(value, str):
        return None
    ident, _, secret = value.partition(".")
    if not (ident.isascii() and ident.isdigit() and len(ident) <= 10 and secret):
        return None
    return int(ident), secret


def live(row: UserSession, now: datetime) -> bool:
    return (row.revoked_at is None and row.expires_at > now
            and row.last_seen_at + idle_limit() > now)


def session_user(value: Any, user_id: str, *, writer: bool
                 ) -> tuple[User, UserSession] | None:
    """The person and session that the cookie's ``value`` stands for, or None when the
    session was ended, ran out, or never was."""
    parsed = _parse(value)
    if parsed is None:
        return None
    row = db.session.get(UserSession, parsed[0])
    if row is None or not hmac.compare_digest(row.secret_hash, digest(parsed[1])) \
            or str(row.user_id) != user_id:
        return None
    now = utcnow()
    if not live(row, now):
        return None
    # Its roles with it: one statement, on every request.
    user = db.session.get(User, row.user_id, options=[joinedload(User.role_rows)])
    if user is None or not user.active:
        return None
    if now - row.last_seen_at >= TOUCH:
        _touch(UserSession, row, "last_seen_at", now, writer)
    return user, row


def session_id(value: Any) -> int | None:
    parsed = _parse(value)
    return parsed[0] if parsed else None


def end_session(row_id: int | None, reason: str = "logout") -> None:
    if row_id is None:
        return
    db.session.execute(sa.update(UserSession).where(
        UserSession.id == row_id, UserSession.revoked_at.is_(None)).values(
        revoked_at=utcnow(), revoked_reason=reason))


def revoke_sessions(user_id: int, reason: str, keep: int | None = None) -> int:
    """End every session of the person (but ``keep``); how many were live."""
    now = utcnow()
    query = sa.update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None),
        UserSession.expires_at > now)
    if keep is not None:
        query = query.where(UserSession.id != keep)
    result = db.session.execute(query.values(revoked_at=now, revoked_reason=reason))
    return int(result.rowcount)  # type: ignore[attr-defined]


def sessions_of(user: User) -> list[UserSession]:
    """The person's live sessions, the latest first."""
    now = utcnow()
    rows = db.session.scalars(sa.select(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None),
        UserSession.expires_at > now, UserSession.last_seen_at > now - idle_limit())
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc()))
    return list(rows)


# ---- API tokens --------------------------------------------------------------------------

def issue_token(user: User, ip: str | None = None) -> tuple[str, ApiToken]:
    """A new bearer token for ``user`` (the only time it is seen) and its row."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(user_id=user.id, token_hash=digest(raw), created_at=now, ip=ip,
                   expires_at=now + timedelta(hours=current_app.config["API_TOKEN_HOURS"]))
    db.session.add(row)
    db.session.flush()
    return raw, row


def token_user(raw: str, *, writer: bool) -> tuple[User, ApiToken]:
    """The person a bearer token stands for, and its row; 401 when it is unknown,
    revoked or expired."""
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest(raw)))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("令牌无效")
    now = utcnow()
    if row.expires_at <= now:
        raise Unauthenticated("令牌已过期，请重新获取")
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthenticated("令牌无效")
    if row.last_used_at is None or now - row.last_used_at >= TOUCH:
        _touch(ApiToken, row, "last_used_at", now, writer)
    return user, row


def revoke_token(row: ApiToken, reason: str = "deleted") -> None:
    if row.revoked_at is None:
        row.revoked_at, row.revoked_reason = utcnow(), reason


def revoke_tokens(user_id: int, reason: str, keep: int | None = None) -> int:
    now = utcnow()
    query = sa.update(ApiToken).where(ApiToken.user_id == user_id,
                                      ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
    if keep is not None:
        query = query.where(ApiToken.id != keep)
    result = db.session.execute(query.values(revoked_at=now, revoked_reason=reason))
    return int(result.rowcount)  # type: ignore[attr-defined]


def tokens_of(user: User) -> list[ApiToken]:
    """The person's tokens still good, the latest first."""
    return list(db.session.scalars(sa.select(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
        ApiToken.expires_at > utcnow()).order_by(ApiToken.id.desc())))


def revoke_everything(user_id: int, reason: str, *, keep_session: int | None = None,
                      keep_token: int | None = None) -> tuple[int, int]:
    """Every session and token of the person (but those kept); how many of each."""
    return (revoke_sessions(user_id, reason, keep_session),
            revoke_tokens(user_id, reason, keep_token))
