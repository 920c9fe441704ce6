"""The second factor (两步验证): a TOTP authenticator app (RFC 6238, 6 digits, 30 s) and ten
single-use recovery codes (恢复码).

Required, where ``SECOND_FACTOR_REQUIRED`` (production), of officers, leaders, finance
staff and administrators (``permissions.second_factor_expected``): they are sent to
enrolment after their password until they have enrolled; optional for everyone else.
After the password, the login asks for a code; ``OTP_MAX_FAILURES`` wrong codes in a row
make the account wait ``OTP_LOCK_MINUTES``. A code is accepted once (its time step is
kept). Enrolment, disabling, a recovery code used and an administrator's reset are on
the person's audit trail.
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime, timedelta

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app

from workflow.accounts import sessions, trail
from workflow.accounts.models import RecoveryCode, SecondFactor, User
from workflow.core import uow
from workflow.core.errors import Conflict, Invalid, Throttled, Unauthenticated, wait_text
from workflow.core.models import db, utcnow
from workflow.permissions import account_keeper, allow, second_factor_expected

RECOVERY_CODES = 10
# Recovery codes: 12 characters of an alphabet without look-alikes (60 bits), read as
# three groups of four.
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_SIX_DIGITS = re.compile(r"^[0-9]{6}$")


def factor_of(user: User) -> SecondFactor | None:
    return db.session.get(SecondFactor, user.id)


def enabled(user: User) -> bool:
    return factor_of(user) is not None


def required(user: User) -> bool:
    """Must ``user`` have a second factor here (production, and one of the roles)?"""
    return bool(current_app.config["SECOND_FACTOR_REQUIRED"]) and second_factor_expected(user)


def must_enrol(user: User) -> bool:
    return required(user) and not enabled(user)


# ---- enrolment ---------------------------------------------------------------------------

def new_secret() -> str:
    return pyotp.random_base32()


def valid_secret(secret: object) -> bool:
    return isinstance(secret, str) and re.fullmatch(r"[A-Z2-7]{32}", secret) is not None


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(
        name=user.username, issuer_name=current_app.config["TOTP_ISSUER"])


def qr_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an SVG data URI, made here (no outside service)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def spaced(secret: str) -> str:
    """The secret as people type it into an app: groups of four."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _step(secret: str, code: str, after: int | None, now: datetime) -> int | None:
    """The time step (now, or one either side for a clock a little off) whose code is
    ``code``, later than ``after``; None when none is."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _normal(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def _recovery_codes(user: User) -> list[str]:
    """Ten new recovery codes for ``user`` (their hashes replace any earlier ones)."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=sessions.digest(raw)))
    db.session.flush()
    return codes


def enable(user: User, secret: str, code: str, *, session_id: int | None = None,
           ip: str | None = None) -> list[str]:
    """Enrol the authenticator holding ``secret``, proven by a ``code`` it shows; the ten
    recovery codes (shown once). The person's other sessions and tokens end."""
    if enabled(user):
        raise Conflict("已启用两步验证", code="second_factor_enabled")
    if not valid_secret(secret):
        message = "密钥已失效，请重新扫描二维码"
        raise Invalid(message, details={"code": message})
    code = (code or "").strip().replace(" ", "")
    step = _step(secret, code, None, utcnow()) if _SIX_DIGITS.match(code) else None
    if step is None:
        raise Invalid("验证码不正确：请输入验证器应用当前显示的6位数字",
                      details={"code": "验证码不正确：请输入验证器应用当前显示的6位数字"})
    db.session.add(SecondFactor(user_id=user.id, secret=secret, enabled_at=utcnow(),
                                last_step=step))
    codes = _recovery_codes(user)
    sessions.revoke_everything(user.id, "second_factor", keep_session=session_id)
    trail.record(user, "second_factor_enabled", user, ip=ip)
    return codes


def _drop(user: User) -> None:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(sa.delete(SecondFactor).where(SecondFactor.user_id == user.id))


def disable(user: User, password_ok: bool, ip: str | None = None) -> None:
    """The person turns the second factor off (their password given again); refused
    where it is required of them."""
    if required(user):
        raise Conflict("您的角色必须使用两步验证，不能关闭", code="second_factor_required")
    if not password_ok:
        raise Invalid("密码不正确", details={"password": "密码不正确"})
    if not enabled(user):
        raise Conflict("尚未启用两步验证", code="second_factor_disabled")
    _drop(user)
    trail.record(user, "second_factor_disabled", user, ip=ip)


def renew_codes(user: User, password_ok: bool, ip: str | None = None) -> list[str]:
    """Ten new recovery codes (the old ones stop working), the password given again."""
    if not password_ok:
        raise Invalid("密码不正确", details={"password": "密码不正确"})
    if not enabled(user):
        raise Conflict("尚未启用两步验证", code="second_factor_disabled")
    codes = _recovery_codes(user)
    trail.record(user, "recovery_codes_renewed", user, ip=ip)
    return codes


def reset(actor: User, user: User, ip: str | None = None) -> None:
    """An administrator removes the person's second factor (a lost phone): they enrol
    again at their next login where it is required. Their sessions and tokens end."""
    allow(account_keeper(actor), "只有系统管理员可以重置他人的两步验证")
    if not enabled(user):
        raise Conflict("该用户尚未启用两步验证", code="second_factor_disabled")
    _drop(user)
    sessions.revoke_everything(user.id, "second_factor")
    trail.record(user, "second_factor_reset", actor, ip=ip)


def remaining_codes(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


# ---- at login ----------------------------------------------------------------------------

def _throttle(factor: SecondFactor, now: datetime) -> None:
    limit = current_app.config["OTP_MAX_FAILURES"]
    window = timedelta(minutes=current_app.config["OTP_LOCK_MINUTES"])
    if factor.failed_at is not None and factor.failed_at + window <= now:
        factor.failures = 0  # the wait is over
    if factor.failures >= limit and factor.failed_at is not None:
        left = factor.failed_at + window - now
        seconds = int(left.total_seconds())
        raise Throttled(f"验证码错误次数过多，请{wait_text(seconds)}后再试", seconds,
                        code="otp_throttled")


def verify(user: User, code: str, ip: str | None = None) -> str:
    """Check a code from the authenticator, or a recovery code; what it was (``totp`` or
    ``recovery``). A wrong code counts (kept even though the request then fails)."""
    factor = db.session.scalar(sa.select(SecondFactor).where(
        SecondFactor.user_id == user.id).with_for_update())
    if factor is None:
        return "none"
    now = utcnow()
    _throttle(factor, now)
    text = (code or "").strip().replace(" ", "")
    used = None
    if _SIX_DIGITS.match(text):
        step = _step(factor.secret, text, factor.last_step, now)
        if step is not None:
            factor.last_step = step
            used = "totp"
    elif 12 <= len(_normal(text)) <= 14:
        row = db.session.scalar(sa.select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None),
            RecoveryCode.code_hash == sessions.digest(_normal(text))).with_for_update())
        if row is not None:
            row.used_at = now
            used = "recovery"
            db.session.flush()
            trail.record(user, "recovery_code_used", user, ip=ip,
                         data={"remaining": remaining_codes(user)})
    if used is None:
        factor.failures += 1
        factor.failed_at = now
        uow.keep()
        raise Unauthenticated("验证码不正确", code="otp_invalid")
    factor.failures, factor.failed_at = 0, None
    return used
