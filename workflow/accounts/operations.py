"""Organisations, users, passwords, login throttling and API tokens."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from forms import FieldError, check_password, check_phone, check_uscc, has_line_break, parse_id
from states import ROLES
from workflow.accounts import sessions
from workflow.accounts.models import LoginAttempt, Organization, OrgKind, User
from workflow.accounts.visibility import visible_organizations
from workflow.core import audit, uow
from workflow.core.errors import (
    Forbidden,
    Invalid,
    NotFound,
    Throttled,
    Unauthenticated,
    wait_text,
)
from workflow.core.models import AuditEvent, db, utcnow
from workflow.core.rules import Changes
from workflow.permissions import (
    RECOMMENDING_KIND,
    org_keeper,
    organization_reader,
)

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
    elif has_line_break(name):
        errors["name"] = "单位名称不能换行，请写在一行内"
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


def _parent_value(raw: Any, org: Organization | None = None) -> Organization | None:
    """The recommending body (主管部门) an organisation is placed under: an organisation of
    kind government, never the organisation itself or one under it (no circle). None
    (or empty): under none."""
    if raw in (None, ""):
        return None
    parent = db.session.get(Organization, parse_id(raw)) if parse_id(raw) else None
    if parent is None:
        raise Invalid("主管部门有误", details={"parent_id": "没有这个单位"})
    if parent.kind.value != RECOMMENDING_KIND:
        raise Invalid("主管部门有误", details={
            "parent_id": f"主管部门应为“{OrgKind(RECOMMENDING_KIND).label}”类单位，"
                         f"“{parent.name}”是{parent.kind.label}"})
    above: Organization | None = parent
    while org is not None and above is not None:
        if above.id == org.id:
            raise Invalid("主管部门有误", details={
                "parent_id": "不能隶属于本单位或本单位下属的单位"})
        above = above.parent
    return parent


def create_organization(name: str, uscc: str, kind: str = "university",
                        parent_id: Any = None) -> Organization:
    values = _organization_values(name, uscc, kind)
    org = Organization(**values, parent=_parent_value(parent_id))
    db.session.add(org)
    db.session.flush()
    return org


def _keeper(actor: User) -> None:
    if not org_keeper(actor):
        raise Forbidden("只有项目主管或系统管理员可以登记和修改单位", code="role_not_allowed")


def register_organization(actor: User, data: dict[str, Any], ip: str | None = None
                          ) -> Organization:
    _keeper(actor)
    org = create_organization(str(data.get("name") or ""), str(data.get("uscc") or ""),
                              data.get("kind") or "university", data.get("parent_id"))
    ch = Changes()
    for key in ("name", "uscc", "kind", "parent_id"):
        ch.note(key, None, getattr(org, key))
    record_organization_change(org, "register_organization", actor, ch, ip)
    return org


def update_organization(actor: User, org: Organization, data: dict[str, Any],
                        ip: str | None = None) -> Organization:
    """Correct an organisation's name, code or kind, or place it under a recommending
    body (``parent_id``; null: under none); what is not given stays. The change is
    audited (who, when, old → new)."""
    _keeper(actor)
    values = _organization_values(data.get("name", org.name), data.get("uscc", org.uscc),
                                  data.get("kind", org.kind.value), current=org)
    if "parent_id" in data:
        parent = _parent_value(data["parent_id"], org)
        values["parent_id"] = parent.id if parent else None
    if values["kind"].value != RECOMMENDING_KIND and db.session.scalar(
            sa.select(Organization.id).where(Organization.parent_id == org.id).limit(1)):
        raise Invalid("单位信息有误", details={
            "kind": "有单位隶属于本单位（主管部门），请先调整这些单位的主管部门"})
    ch = Changes()
    for key, value in values.items():
        ch.set(org, key, value)
    record_organization_change(org, "update_organization", actor, ch, ip)
    db.session.flush()
    db.session.expire(org, ["parent"])  # read again from parent_id
    return org


def place_organization(org: Organization, parent_id: Any) -> Organization:
    """Put ``org`` under a recommending body (None: under none), as the command line and
    the demo do (``update_organization`` does it for a person, checked as the bureau's)."""
    parent = _parent_value(parent_id, org)
    org.parent_id = parent.id if parent else None
    db.session.flush()
    db.session.expire(org, ["parent"])
    return org


# ---- the organisation's audit trail ------------------------------------------------------

# What changes an organisation's record, as its trail names it.
ORGANIZATION_CHANGES = {"register_organization": "登记单位",
                        "update_organization": "修改单位信息",
                        "change_bank_account": "变更收款账户"}
# The fields that say where grants are paid: a change of any of them is a change of the
# payee (the account holder's name is the organisation's).
PAYEE_FIELDS = ("name", "bank_name", "bank_account")
FIELD_LABELS = {"name": "单位名称", "uscc": "统一社会信用代码", "kind": "单位类型",
                "parent_id": "主管部门",
                "bank_name": "开户银行", "bank_account": "银行账号"}


def _acting_role(actor: User, *preferred: str) -> str:
    return next((r for r in preferred if actor.has_role(r)), sorted(actor.roles)[0]
                if actor.roles else "system")


def record_organization_change(org: Organization, trigger: str, actor: User | None,
                               changes: Changes, ip: str | None = None) -> AuditEvent | None:
    """Append a change of ``org`` (each field's old and new value) to its audit chain;
    nothing when nothing changed."""
    if not changes:
        return None
    role = "system" if actor is None else _acting_role(actor, "org_admin", "officer", "admin")
    return audit.record(org, "organization", trigger, actor, role, None, None, "",
                        {"changes": dict(changes)}, ip)


def organization_history(org_id: int, payee_only: bool = False) -> list[AuditEvent]:
    """The recorded changes of an organisation, oldest first; ``payee_only``: those that
    changed where grants are paid (its account, or the name it is held in)."""
    rows = audit.history("organization", org_id)
    if payee_only:
        rows = [ev for ev in rows if ev.trigger != "register_organization"
                and set((ev.data or {}).get("changes", {})) & set(PAYEE_FIELDS)]
    return rows


def last_payee_changes(org_ids: list[int]) -> dict[int, AuditEvent]:
    """For each organisation, the latest recorded change of where its grants are paid
    (one query for a page of rows)."""
    if not org_ids:
        return {}
    rows = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.entity_type == "organization", AuditEvent.entity_id.in_(set(org_ids)),
        AuditEvent.trigger.in_(("update_organization", "change_bank_account")))
        .order_by(AuditEvent.entity_id, AuditEvent.seq))
    out: dict[int, AuditEvent] = {}
    for ev in rows:
        if set((ev.data or {}).get("changes", {})) & set(PAYEE_FIELDS):
            out[ev.entity_id] = ev
    return out


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
    query = visible_organizations(actor)
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
                              .offset((page - 1) * per_page).limit(per_page)
                              .options(selectinload(Organization.parent)))
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
    if name and has_line_break(name):
        errors["name"] = "姓名不能换行，请写在一行内"
    if email and ("@" not in email or len(email) > 254 or has_line_break(email)):
        errors["email"] = "电子邮箱格式不正确"
    if phone:
        try:
            phone = check_phone(phone)
        except FieldError as err:
            errors["phone"] = str(err)
    needs_org = {"applicant", "org_admin", "demand", "recommender"}.intersection(roles)
    if needs_org and organization is None:
        errors["org"] = "申报人、单位管理员、发榜方和主管部门推荐人必须属于一个单位"
    elif "recommender" in roles and organization is not None \
            and organization.kind.value != RECOMMENDING_KIND:
        errors["org"] = (f"主管部门推荐人应属于“{OrgKind(RECOMMENDING_KIND).label}”类单位"
                         "（主管部门）")
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


@dataclass(frozen=True)
class _Failures:
    """Recent failed logins as the throttle reads them."""

    pair: int  # on this account from this address, since its last success there
    last: datetime | None  # the latest of those
    address: int  # from this address on any account


def _recent_failures(username: str, ip: str | None, now: datetime) -> _Failures:
    """Failures within the window: on ``username`` from ``ip`` (since the last success
    from there, which starts the count afresh), and from ``ip`` on every account."""
    since = now - timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
    same_pair = [LoginAttempt.username == username,
                 LoginAttempt.ip.is_(None) if ip is None else LoginAttempt.ip == ip]
    succeeded = db.session.scalar(sa.select(sa.func.max(LoginAttempt.at)).where(
        *same_pair, LoginAttempt.success.is_(True), LoginAttempt.at >= since))
    if succeeded is not None:
        since = succeeded
    pair, last = db.session.execute(
        sa.select(sa.func.count(), sa.func.max(LoginAttempt.at)).where(
            *same_pair, LoginAttempt.success.is_(False), LoginAttempt.at >= since)).one()
    address = 0
    if ip and pair:  # the ceiling matters only where this address has failed here
        window = now - timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
        address = db.session.scalar(sa.select(sa.func.count()).where(
            LoginAttempt.ip == ip, LoginAttempt.success.is_(False),
            LoginAttempt.at >= window)) or 0
    return _Failures(pair=pair or 0, last=last, address=address)


def login_wait(failures: _Failures, now: datetime) -> int:
    """Seconds before the next attempt on this account from this address is checked;
    0 when it is checked now.

    Nobody can lock a person out: only failures from the same address on the same
    account make it wait, and the wait grows (1 s, 2, 4 ...) to a cap, never a lock. An
    address past the ceiling of failures on all accounts together (a password sprayer,
    or a crowded NAT) waits from its first failure on an account rather than after the
    free ones; an account it has not failed on is checked at once, always."""
    config = current_app.config
    free = config["LOGIN_FREE_FAILURES"]
    if failures.address >= config["LOGIN_ADDRESS_CEILING"]:
        free = 1
    if failures.last is None or failures.pair < free:
        return 0
    delay = min(2 ** min(failures.pair - free, 20), config["LOGIN_MAX_DELAY_SECONDS"])
    waited = (now - failures.last).total_seconds()
    return max(0, math.ceil(delay - waited))


def authenticate(username: str, password: str, ip: str | None, channel: str = "web") -> User:
    """The user for these credentials; every checked attempt is recorded, and kept even
    when the request then fails (a failure must count towards the throttle).

    An attempt that must wait (``login_wait``) is refused unchecked with 429, saying how
    long; it is not recorded, so hammering does not lengthen the wait of the person who
    shares the address.
    """
    username = (username or "").replace("\x00", "").strip()[:64]
    ip = (ip or "")[:45] or None
    now = utcnow()
    wait = login_wait(_recent_failures(username, ip, now), now)
    if wait:
        log.warning("login throttled username=%s ip=%s wait=%ss", username, ip, wait)
        raise Throttled(f"登录失败次数过多，请{wait_text(wait)}后再试", retry_after=wait)
    user = db.session.scalar(sa.select(User).where(User.username == username))
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    ok = ok and user is not None and user.active
    db.session.add(LoginAttempt(username=username, ip=ip, success=ok, channel=channel, at=now))
    if ok and user is not None:
        user.last_login_at = now
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
