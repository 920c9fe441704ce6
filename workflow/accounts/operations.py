"""Organisations, users, passwords, login throttling and API tokens."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from forms import FieldError, check_password, check_phone, check_uscc
from states import ROLES
from workflow.accounts import sessions
from workflow.accounts.models import LoginAttempt, Organization, OrgKind, User
from workflow.core import uow
from workflow.core.errors import Forbidden, Invalid, NotFound, Throttled, Unauthenticated
from workflow.core.models import db, utcnow
from workflow.permissions import org_keeper, org_reader, organization_reader

log = logging.getLogger(__name__)

# Checking a password against a dummy hash for unknown users keeps response times
# alike, so timing does not tell which usernames exist.
_DUMMY_HASH = generate_password_hash("kjflow-timing-equaliser")


# The bureau registers organisations (a 发榜单位 before its challenge, an applicant's
# unit) and corrects them; these read every one, others only their own.


def _organization_values(name: Any, uscc: Any, kind: Any, current: Organization | None = None
                         ) -> dict[str, Any]:
    """Name, 统一社会信用代码 (check digit included) and kind, each checked; neither the
    name nor the code may be another organisation's."""
    errors: dict[str, str] = {}
    name = str(name or "").strip()
    if not name:
        errors["name"] = "请输入单位名称"
    elif len(name) > 200:
        errors["name"] = "单位名称不能超过200字"
    try:
        uscc = check_uscc(str(uscc or ""))
    except FieldError as err:
        errors["uscc"] = str(err)
    try:
        org_kind = OrgKind(kind)
    except ValueError:
        errors["kind"] = "单位类型应为 university/enterprise/institute/government 之一"
    if not errors:
        query = sa.select(Organization).where(
            sa.or_(Organization.uscc == uscc, Organization.name == name))
        if current is not None:
            query = query.where(Organization.id != current.id)
        clash = db.session.scalar(query)
        if clash is not None:
            errors["uscc" if clash.uscc == uscc else "name"] = "该单位已存在"
    if errors:
        raise Invalid("单位信息有误", details=errors)
    return {"name": name, "uscc": uscc, "kind": org_kind}


def create_organization(name: str, uscc: str, kind: str = "university") -> Organization:
    org = Organization(**_organization_values(name, uscc, kind))
    db.session.add(org)
    db.session.flush()
    return org


def _keeper(actor: User) -> None:
    if not org_keeper(actor):
        raise Forbidden("只有项目主管或系统管理员可以登记和修改单位", code="role_not_allowed")


def register_organization(actor: User, data: dict[str, Any]) -> Organization:
    _keeper(actor)
    return create_organization(str(data.get("name") or ""), str(data.get("uscc") or ""),
                               data.get("kind") or "university")


def update_organization(actor: User, org: Organization, data: dict[str, Any]) -> Organization:
    """Correct an organisation's name, code or kind; what is not given stays."""
    _keeper(actor)
    values = _organization_values(data.get("name", org.name), data.get("uscc", org.uscc),
                                  data.get("kind", org.kind.value), current=org)
    for key, value in values.items():
        setattr(org, key, value)
    db.session.flush()
    return org


def can_view_organization(actor: User, org: Organization) -> bool:
    return organization_reader(actor, org)


def visible_organization(actor: User, org_id: int | None) -> Organization:
    org = db.session.get(Organization, org_id) if org_id else None
    if org is None or not can_view_organization(actor, org):
        raise NotFound("单位不存在")
    return org


def organizations(actor: User, q: str = "", kind: str = "", page: int = 1,
                  per_page: int = 50) -> tuple[list[Organization], int]:
    """The organisations ``actor`` may see, by name or code (``q``) and kind, a page at a
    time; with the total."""
    query = sa.select(Organization)
    if not org_reader(actor):
        query = query.where(Organization.id == actor.organization_id)
    q = q.strip()[:100]
    if q:
        query = query.where(sa.or_(Organization.name.contains(q, autoescape=True),
                                   Organization.uscc.contains(q.upper(), autoescape=True)))
    if kind:
        try:
            query = query.where(Organization.kind == OrgKind(kind))
        except ValueError as err:
            raise Invalid("单位类型有误", details={
                "kind": "可选：" + "、".join(k.value for k in OrgKind)}) from err
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    rows = db.session.scalars(query.order_by(Organization.name, Organization.id)
                              .offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


def find_organization(uscc: str) -> Organization:
    try:
        uscc = check_uscc(uscc)
    except FieldError as err:
        raise Invalid(str(err), details={"org": str(err)}) from err
    org = db.session.scalar(sa.select(Organization).where(Organization.uscc == uscc))
    if org is None:
        raise NotFound(f"没有统一社会信用代码为 {uscc} 的单位")
    return org


def create_user(
    username: str,
    password: str,
    roles: list[str],
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    organization: Organization | None = None,
) -> User:
    errors: dict[str, str] = {}
    username = (username or "").strip()
    if not username or len(username) > 64 or not username.replace("_", "").replace(
        "-", ""
    ).replace(".", "").isalnum():
        errors["username"] = "用户名为1至64位字母、数字、下划线、连字符或点"
    elif db.session.scalar(sa.select(User.id).where(User.username == username)):
        errors["username"] = "该用户名已被使用"
    try:
        check_password(password, username)
    except FieldError as err:
        errors["password"] = str(err)
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        errors["role"] = "角色应为：" + "、".join(ROLES)
    if email and ("@" not in email or len(email) > 254):
        errors["email"] = "电子邮箱格式不正确"
    if phone:
        try:
            phone = check_phone(phone)
        except FieldError as err:
            errors["phone"] = str(err)
    needs_org = {"applicant", "org_admin", "demand"}.intersection(roles)
    if needs_org and organization is None:
        errors["org"] = "申报人、单位管理员和发榜方必须属于一个单位"
    if errors:
        raise Invalid("用户信息有误", details=errors)
    user = User(
        username=username,
        name=(name or username).strip(),
        email=email or None,
        phone=phone or None,
        password_hash=generate_password_hash(password),
        organization=organization,
    )
    for role in dict.fromkeys(roles):
        user.add_role(role)
    db.session.add(user)
    db.session.flush()
    return user


def _recent_failures(username: str, ip: str | None) -> tuple[int, int]:
    since = utcnow() - timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    by_user = db.session.scalar(
        sa.select(sa.func.count()).where(
            LoginAttempt.username == username, LoginAttempt.success.is_(False),
            LoginAttempt.at >= since,
        )
    ) or 0
    by_ip = 0
    if ip:
        by_ip = db.session.scalar(
            sa.select(sa.func.count()).where(
                LoginAttempt.ip == ip, LoginAttempt.success.is_(False), LoginAttempt.at >= since
            )
        ) or 0
    return by_user, by_ip


def authenticate(username: str, password: str, ip: str | None, channel: str = "web") -> User:
    """The user for these credentials; every attempt is recorded, and kept even when the
    request then fails (a refused login must count towards the lock-out).

    After ``LOGIN_MAX_FAILURES`` failures for one username (or four times that from one
    address) within ``LOGIN_LOCK_MINUTES``, further attempts are refused unchecked.
    """
    username = (username or "").replace("\x00", "").strip()[:64]
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    by_user, by_ip = _recent_failures(username, ip)
    if by_user >= limit or by_ip >= 4 * limit:
        log.warning("login throttled username=%s ip=%s", username, ip)
        minutes = current_app.config["LOGIN_LOCK_MINUTES"]
        raise Throttled(f"登录失败次数过多，请{minutes}分钟后再试")
    user = db.session.scalar(sa.select(User).where(User.username == username))
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    ok = ok and user is not None and user.active
    db.session.add(LoginAttempt(username=username, ip=ip, success=ok, channel=channel))
    if ok and user is not None:
        user.last_login_at = utcnow()
    uow.keep()
    if not ok or user is None:
        log.info("login failed username=%s ip=%s", username, ip)
        raise Unauthenticated("用户名或密码错误")
    log.info("login ok username=%s ip=%s", username, ip)
    return user


def set_password(user: User, password: str, *, reason: str = "password",
                 keep_session: int | None = None, keep_token: int | None = None) -> None:
    """``password`` (checked by the password rules) becomes the person's; every session
    and API token issued before ends (but ``keep_session``/``keep_token``: the one the
    person changes it from)."""
    try:
        check_password(password, user.username)
    except FieldError as err:
        raise Invalid(str(err), details={"password": str(err)}) from err
    user.password_hash = generate_password_hash(password)
    sessions.revoke_everything(user.id, reason, keep_session=keep_session,
                               keep_token=keep_token)
