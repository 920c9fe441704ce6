"""The integrity list (科研失信名单), the organisations (单位, with their recommending
bodies) and people's accounts, as ``workflow.web.listing`` shows and exports them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased, selectinload

from states import ROLES
from workflow.accounts.models import Organization, OrgKind, Sanction, SecondFactor, User, UserRole
from workflow.accounts.visibility import recommending_bodies, visible_organizations
from workflow.core.listing import Column, Field, Filter, Grams, ListSpec, labelled
from workflow.core.models import db, utcnow
from workflow.permissions import account_keeper, integrity_reader
from workflow.timeutil import SHANGHAI

S = Sanction
SUBJECTS = {"person": "个人", "org": "单位"}
PERIODS = {"active": "处理期内", "ended": "已期满", "future": "尚未开始"}


def today() -> date:
    return utcnow().astimezone(SHANGHAI).date()


def visible_sanctions(user: Any) -> sa.Select[Any]:
    query = sa.select(S)
    return query if integrity_reader(user) else query.where(sa.false())


def in_period(value: str) -> Any:
    now = today()
    if value == "active":
        return sa.and_(S.starts_on <= now, S.ends_on >= now)
    return S.ends_on < now if value == "ended" else S.starts_on > now


def period_of(row: Sanction) -> str:
    now = today()
    key = "future" if row.starts_on > now else "ended" if row.ends_on < now else "active"
    return PERIODS[key]


SANCTIONS = ListSpec(
    name="sanctions", title="科研失信名单", model=S, visible=visible_sanctions,
    columns=(
        Column("subject", "对象", (S.subject,)),
        Column("name", "名称", (S.name,)),
        Column("identifier", "证件号码"),
        Column("reason", "事由"),
        Column("starts", "处理期", (S.starts_on, S.ends_on), desc_first=True),
        Column("ends", "状态", (S.ends_on,), desc_first=True),
    ),
    search=(S.name, S.id_number, S.uscc, S.reason), search_hint="姓名、单位、证件号码或事由",
    filters=(
        Filter("subject", "对象", list(SUBJECTS.items()), lambda v: S.subject == v),
        Filter("period", "处理期", list(PERIODS.items()), in_period),
    ),
    default_sort="starts",
    export=(
        Field("对象", lambda r: SUBJECTS.get(r.subject, r.subject), width=8),
        Field("姓名或单位名称", lambda r: r.name, width=28),
        Field("证件号码", lambda r: r.id_number or r.uscc or "", width=22),
        Field("处理事由", lambda r: r.reason, width=40),
        Field("开始日期", lambda r: r.starts_on, "date", width=12),
        Field("结束日期", lambda r: r.ends_on, "date", width=12),
        Field("状态", period_of, width=10),
        Field("登记时间", lambda r: r.created_at, "datetime", width=18),
    ),
)


# ---- the organisations (单位) and their recommending bodies ----------------------------------

Parent = aliased(Organization, name="parent_org")

ORGANIZATIONS = ListSpec(
    name="organizations", title="单位", model=Organization, visible=visible_organizations,
    joins={"parent": lambda q: q.outerjoin(Parent, Parent.id == Organization.parent_id)},
    columns=(
        Column("name", "单位名称", (Organization.name,)),
        Column("uscc", "统一社会信用代码", (Organization.uscc,)),
        Column("kind", "类型", (Organization.kind,)),
        Column("parent", "主管部门", (Parent.name,), joins=("parent",)),
    ),
    search=(Organization.name, Organization.uscc), search_hint="单位名称或统一社会信用代码",
    filters=(
        Filter("kind", "类型", labelled(list(OrgKind)), lambda v: Organization.kind == v),
        Filter("parent", "主管部门", recommending_bodies,
               lambda v: Organization.parent_id == int(v)),
    ),
    default_sort="name", default_desc=False,
    load=(selectinload(Organization.parent),),
    export=(
        Field("单位名称", lambda o: o.name, width=32),
        Field("统一社会信用代码", lambda o: o.uscc, width=22),
        Field("类型", lambda o: o.kind.label, width=10),
        Field("主管部门", lambda o: o.parent.name if o.parent else "", width=28),
    ),
)


# ---- people's accounts (系统管理员) ------------------------------------------------------

U = User


def visible_users(user: Any) -> sa.Select[Any]:
    query = sa.select(U)
    return query if account_keeper(user) else query.where(sa.false())


def with_role(value: str) -> Any:
    return U.id.in_(sa.select(UserRole.user_id).where(UserRole.role == value))


def role_names(user: User) -> str:
    return "、".join(ROLES[r] for r in sorted(user.roles))


def second_factor_on(user: User) -> bool:
    return db.session.get(SecondFactor, user.id) is not None


def second_factors_among(users: Sequence[User]) -> set[int]:
    """Which of ``users`` (a page of the list) have a second factor: one statement."""
    if not users:
        return set()
    return set(db.session.scalars(sa.select(SecondFactor.user_id).where(
        SecondFactor.user_id.in_([u.id for u in users]))))


USERS = ListSpec(
    name="users", title="用户", model=U, visible=visible_users,
    columns=(
        Column("username", "用户名", (U.username,)),
        Column("name", "姓名", (U.name,)),
        Column("roles", "角色"),
        Column("organization", "单位"),
        Column("second_factor", "两步验证"),
        Column("last_login", "最近登录", (U.last_login_at,), desc_first=True),
    ),
    search=(Grams((U.name,)), Grams((U.username, U.email))),
    search_hint="用户名、姓名或电子邮箱",
    filters=(Filter("role", "角色", list(ROLES.items()), with_role),),
    default_sort="username", default_desc=False,
    export=(
        Field("用户名", lambda u: u.username, width=16),
        Field("姓名", lambda u: u.name, width=12),
        Field("角色", role_names, width=20),
        Field("单位", lambda u: u.organization.name if u.organization else "", width=28),
        Field("电子邮箱", lambda u: u.email or "", width=24),
        Field("两步验证", lambda u: "已启用" if second_factor_on(u) else "未启用", width=10),
        Field("最近登录", lambda u: u.last_login_at, "datetime", width=18),
        Field("状态", lambda u: "正常" if u.active else "停用", width=8),
    ),
)
