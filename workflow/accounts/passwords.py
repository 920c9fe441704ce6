"""Changing and resetting passwords: by the person (设置 → 修改密码), by an administrator
(a temporary password that must be changed at the next login), and by e-mail (忘记密码:
a single-use link that expires). Each ends the person's other sessions and tokens and
is recorded on their audit trail."""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from werkzeug.security import check_password_hash

from workflow.accounts import operations, sessions, trail
from workflow.accounts.models import PasswordReset, User
from workflow.core import outbox
from workflow.core.errors import Invalid, NotFound
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.permissions import account_keeper, allow

RESET_TOPIC = "user.password_reset"
# A person asks for at most this many reset e-mails an hour; more asks send nothing
# (and say the same as ever).
RESETS_PER_HOUR = 3
# Letters and digits that cannot be mistaken for one another when read out or copied.
_TEMPORARY = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# The fields of the password forms (page and API), which an ``Invalid`` names.
CURRENT, NEW, CONFIRM = "current_password", "new_password", "confirm_password"


def password_matches(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password or "")


def change_password(user: User, current: str, new: str, confirm: str | None = None, *,
                    session_id: int | None = None, token_id: int | None = None,
                    ip: str | None = None) -> None:
    """The person changes their own password, giving the current one. Their other
    sessions and every API token end (but the session or token they change it from)."""
    errors: dict[str, str] = {}
    if not password_matches(user, current):
        errors[CURRENT] = "当前密码不正确"
    if confirm is not None and new != confirm:
        errors[CONFIRM] = "两次输入的新密码不一致"
    elif new and new == current:
        errors[NEW] = "新密码不能与当前密码相同"
    if errors:
        raise Invalid("密码未修改：" + "；".join(errors.values()), details=errors)
    try:
        operations.set_password(user, new, keep_session=session_id, keep_token=token_id)
    except Invalid as err:
        raise Invalid(f"密码未修改：{err.message}",
                      details={NEW: err.message}) from err
    user.must_change_password = False
    trail.record(user, "password_changed", user, ip=ip)


def temporary_password() -> str:
    """Twelve letters and digits: passes the password rules, easy to read out."""
    while True:
        word = "".join(secrets.choice(_TEMPORARY) for _ in range(12))
        if any(c.isdigit() for c in word) and len(set(word)) >= 8:
            return word


def reset_password(actor: User, user: User, ip: str | None = None) -> str:
    """An administrator gives the person a temporary password (shown once, to tell
    them); they must choose their own at the next login. Every session and token of
    theirs ends."""
    allow(account_keeper(actor), "只有系统管理员可以重置他人的密码")
    word = temporary_password()
    operations.set_password(user, word, reason="admin")
    user.must_change_password = True
    trail.record(user, "password_reset", actor, ip=ip)
    return word


# ---- 忘记密码: a link by e-mail ---------------------------------------------------------

def _accounts_for(identifier: str) -> list[User]:
    identifier = (identifier or "").replace("\x00", "").strip()[:254]
    if not identifier:
        return []
    if "@" in identifier:
        where = sa.func.lower(User.email) == identifier.lower()
    else:
        where = User.username == identifier
    return list(db.session.scalars(sa.select(User).where(
        where, User.active.is_(True), User.email.is_not(None))))


def request_reset(identifier: str, ip: str | None = None) -> None:
    """Send a reset link to the account(s) with this username or e-mail address, if
    any. The caller answers the same whatever happened: nobody learns from it whether an
    account exists. The e-mail goes through the outbox and the notify feature, which
    also makes the link (``issue_reset_token``)."""
    since = utcnow() - timedelta(hours=1)
    for user in _accounts_for(identifier):
        asked = db.session.scalar(sa.select(sa.func.count()).where(
            OutboxEvent.topic == RESET_TOPIC, OutboxEvent.entity_type == "user",
            OutboxEvent.entity_id == user.id, OutboxEvent.created_at >= since)) or 0
        if asked < RESETS_PER_HOUR:
            outbox.emit(RESET_TOPIC, "user", user.id, {"ip": ip})


def issue_reset_token(user: User, ip: str | None = None) -> str:
    """A new reset link's token for ``user`` (its hash is stored, not the token)."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    db.session.add(PasswordReset(user_id=user.id, token_hash=sessions.digest(raw),
                                 created_at=now, expires_at=now + timedelta(minutes=minutes),
                                 ip=ip))
    db.session.flush()
    return raw


def _link(raw: str, lock: bool = False) -> PasswordReset:
    query = sa.select(PasswordReset).where(PasswordReset.token_hash == sessions.digest(raw))
    row = db.session.scalar(query.with_for_update() if lock else query)
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise NotFound("重置链接无效或已过期，请重新申请")
    return row


def reset_link_user(raw: str, lock: bool = False) -> User:
    """Whose password the link resets; 404 when it was used, expired or never was."""
    user = db.session.get(User, _link(raw, lock).user_id)
    if user is None or not user.active:
        raise NotFound("重置链接无效或已过期，请重新申请")
    return user


def reset_with_link(raw: str, new: str, confirm: str, ip: str | None = None) -> User:
    """Set the password through the link, which then works no more (nor does any other
    link of the person's). Every session and token of theirs ends."""
    row = _link(raw, lock=True)
    user = reset_link_user(raw)
    if new != confirm:
        raise Invalid("两次输入的新密码不一致",
                      details={CONFIRM: "两次输入的新密码不一致"})
    try:
        operations.set_password(user, new, reason="password")
    except Invalid as err:
        raise Invalid(err.message, details={NEW: err.message}) from err
    now = utcnow()
    row.used_at = now
    db.session.execute(sa.update(PasswordReset).where(
        PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)).values(used_at=now))
    user.must_change_password = False
    trail.record(user, "password_reset_by_email", user, ip=ip)
    return user


def sign_out_everywhere(actor: User, user: User, ip: str | None = None) -> tuple[int, int]:
    """强制下线: an administrator ends every session and token of the person."""
    allow(account_keeper(actor), "只有系统管理员可以强制他人下线")
    counted = sessions.revoke_everything(user.id, "admin")
    trail.record(user, "signed_out_everywhere", actor, ip=ip,
                 data={"sessions": counted[0], "tokens": counted[1]})
    return counted
