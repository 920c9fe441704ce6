"""The review lists, as ``workflow.web.listing`` shows and exports them: the expert's
own queue, the bureau's view of every review (an expert's name only for those who may
read it), and the expert pool."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from flask import g
from sqlalchemy.orm import aliased, joinedload

from states import ReviewState
from workflow.accounts.models import ExpertProfile, Organization, User
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core.listing import Column, Field, Filter, ListSpec, Only, in_order, labelled
from workflow.core.models import db
from workflow.permissions import (
    LIVE_REVIEW_STATES,
    bureau_reader,
    expert_name_reader,
    pool_keeper,
)
from workflow.review import operations as reviews
from workflow.review.models import ReviewAssignment

R = ReviewAssignment
Expert = aliased(User, name="expert")

JOINS = {
    "app": lambda q: q.join(Application, Application.id == R.application_id),
    "call": lambda q: q.join(Call, Call.id == Application.call_id),
    "expert": lambda q: q.join(Expert, Expert.id == R.expert_id),
}


def own_reviews(user: Any) -> sa.Select[Any]:
    return sa.select(R).where(R.expert_id == user.id)


def all_reviews(user: Any) -> sa.Select[Any]:
    return sa.select(R) if bureau_reader(user) else sa.select(R).where(sa.false())


def calls_of(rows: sa.Select[Any]) -> list[tuple[str, str]]:
    """The calls of the reviews in ``rows``, as a filter's choices."""
    ids = rows.with_only_columns(R.application_id).scalar_subquery()
    found = db.session.execute(
        sa.select(Call.id, Call.title).where(Call.id.in_(
            sa.select(Application.call_id).where(Application.id.in_(ids))))
        .order_by(Call.closes_at.desc(), Call.id.desc()))
    return [(str(i), title) for i, title in found]


def reviewed_calls(user: Any) -> list[tuple[str, str]]:
    """The calls with any review, as the bureau's filter's choices: each call asked
    whether one of its applications has a review (an index lookup per call, never a pass
    over every review)."""
    if not bureau_reader(user):
        return []
    has_review = sa.exists(sa.select(R.id).join(
        Application, Application.id == R.application_id).where(Application.call_id == Call.id))
    found = db.session.execute(sa.select(Call.id, Call.title).where(has_review)
                               .order_by(Call.closes_at.desc(), Call.id.desc()))
    return [(str(i), title) for i, title in found]


def _applicant(review: ReviewAssignment, name: str) -> str:
    """The expert's queue names the applicant while the review is live (one declined,
    expired or withdrawn keeps its title only), unless the call hides it."""
    if review.state.value not in LIVE_REVIEW_STATES:
        return ""
    return "（本批次不公开）" if review.application.call.hide_applicant else name


STATE_FILTER = Filter("state", "状态", labelled(list(ReviewState)),
                      lambda v: R.state == v)
COMMON_EXPORT = (
    Field("申报书", lambda r: r.application.title, width=40),
    Field("指南", lambda r: r.application.call.title, width=36),
)

QUEUE = ListSpec(
    name="reviews", title="我的评审任务", model=R, visible=own_reviews, joins=JOINS,
    columns=(
        Column("title", "申报书", (Application.title,), joins=("app",)),
        Column("state", "状态", (reviews.PENDING_RANK, reviews.DEADLINE)),
        Column("respond_by", "答复期限", (R.respond_by,)),
        Column("due", "评审截止", (R.due_at,)),
        Column("total", "总分", (R.total,), num=True, desc_first=True),
    ),
    # Never by the applicant or their organisation: some calls hide them from experts.
    search=(Application.title, Call.title), search_joins=("app", "call"),
    search_hint="申报书或指南名称",
    filters=(STATE_FILTER,
             Filter("call", "指南", lambda u: calls_of(own_reviews(u)),
                    lambda v: R.application_id.in_(
                        sa.select(Application.id).where(Application.call_id == int(v))))),
    default_sort="state", default_desc=False,
    # The row shows the application's call, organisation and applicant: one statement.
    load=(joinedload(R.application).joinedload(Application.organization),
          joinedload(R.application).joinedload(Application.applicant)),
    export=(
        *COMMON_EXPORT,
        Field("申报单位", lambda r: _applicant(r, r.application.organization.name), width=28),
        Field("项目负责人", lambda r: _applicant(r, r.application.applicant.name), width=12),
        Field("状态", lambda r: r.state.label, width=12),
        Field("答复期限", lambda r: r.respond_by, "datetime", width=18),
        Field("评审截止", lambda r: r.due_at, "datetime", width=18),
        Field("总分", lambda r: r.total, "number", width=10),
        Field("提交时间", lambda r: r.submitted_at, "datetime", width=18),
    ),
)

OVERVIEW = ListSpec(
    name="review-overview", title="评审任务", model=R, visible=all_reviews, joins=JOINS,
    columns=(
        Column("title", "申报书", (Application.title,), joins=("app",)),
        Column("call", "指南", (Call.title,), joins=("app", "call")),
        Column("expert", "评审专家", (Expert.name,), joins=("expert",),
               shown=expert_name_reader),
        Column("state", "状态", (in_order(R.state, list(ReviewState)),)),
        Column("due", "评审截止", (R.due_at,)),
        Column("total", "总分", (R.total,), num=True, desc_first=True),
        Column("submitted", "提交时间", (R.submitted_at,), desc_first=True),
    ),
    search=(Application.title, Application.receipt_no, Call.title,
            Only(Expert.name, expert_name_reader)),
    search_joins=("app", "call", "expert"),
    search_hint="申报书、回执号、指南或专家",
    filters=(STATE_FILTER,
             Filter("call", "指南", reviewed_calls,
                    lambda v: R.application_id.in_(
                        sa.select(Application.id).where(Application.call_id == int(v))))),
    load=(joinedload(R.application), joinedload(R.expert)),
    export=(
        Field("受理回执号", lambda r: r.application.receipt_no or "", width=22),
        *COMMON_EXPORT,
        Field("评审专家", lambda r: r.expert.name, width=12, shown=expert_name_reader),
        Field("备选", lambda r: "是" if r.reserve else "", width=6),
        Field("状态", lambda r: r.state.label, width=12),
        Field("答复期限", lambda r: r.respond_by, "datetime", width=18),
        Field("评审截止", lambda r: r.due_at, "datetime", width=18),
        Field("总分", lambda r: r.total, "number", width=10),
        Field("提交时间", lambda r: r.submitted_at, "datetime", width=18),
    ),
)


# ---- the expert pool ---------------------------------------------------------------------

def pool_rows(user: Any) -> sa.Select[Any]:
    query = sa.select(ExpertProfile).join(User, User.id == ExpertProfile.user_id)
    return query if pool_keeper(user) else query.where(sa.false())


LOAD = (sa.select(sa.func.count(R.id))
        .where(R.expert_id == ExpertProfile.user_id,
               R.state.in_((ReviewState.invited, ReviewState.accepted)))
        .correlate(ExpertProfile).scalar_subquery())


def discipline_code(_user: Any, value: str) -> tuple[str, str] | None:
    """A discipline code as typed (TF, S1): any well-formed code is a choice, without
    reading every profile's codes (the pool is 50,000 people)."""
    code = value.strip().upper()
    return (code, code) if 1 <= len(code) <= 10 and code.isascii() and code.isalnum() else None


def expert_organization(_user: Any, value: str) -> tuple[str, str] | None:
    """The organisation ``value`` names (its id, its exact name or 统一社会信用代码) if
    experts of the pool work there: one indexed lookup, the organisations never listed."""
    value = value.strip()
    query = sa.select(Organization.id, Organization.name).where(
        sa.exists().where(User.organization_id == Organization.id,
                          ExpertProfile.user_id == User.id))
    if value.isascii() and value.isdigit() and len(value) < 10:
        query = query.where(Organization.id == int(value))
    elif value and len(value) <= 200:
        query = query.where(sa.or_(Organization.name == value,
                                   Organization.uscc == value.upper()))
    else:
        return None
    row = db.session.execute(query.limit(1)).first()
    return (str(row[0]), row[1]) if row is not None else None


def loads_of(experts: Sequence[ExpertProfile]) -> Counter[int]:
    """Open invitations and reviews in progress of a page's experts (one statement)."""
    if not experts:
        return Counter()
    return Counter(dict(db.session.execute(
        sa.select(R.expert_id, sa.func.count())
        .where(R.expert_id.in_([p.user_id for p in experts]),
               R.state.in_((ReviewState.invited, ReviewState.accepted)))
        .group_by(R.expert_id)).all()))


def loads() -> Counter[int]:
    """Open invitations and reviews in progress per expert (once per request)."""
    if "kjflow_loads" not in g:
        g.kjflow_loads = reviews.loads()
    found: Counter[int] = g.kjflow_loads
    return found


def sanctioned() -> set[str]:
    """The 身份证号 under a sanction today (once per request)."""
    from workflow.review.experts import sanctioned_ids

    if "kjflow_sanctioned" not in g:
        g.kjflow_sanctioned = sanctioned_ids()
    found: set[str] = g.kjflow_sanctioned
    return found


def pool_status(p: ExpertProfile) -> str:
    if p.user.id_number and p.user.id_number in sanctioned():
        return "科研失信处理期内"
    return "可用" if p.available else "暂停"


POOL = ListSpec(
    name="experts", title="专家库", model=ExpertProfile, visible=pool_rows,
    joins={"org": lambda q: q.outerjoin(Organization, Organization.id == User.organization_id)},
    columns=(
        Column("name", "姓名", (User.name,)),
        Column("org", "单位", (Organization.name,), joins=("org",)),
        Column("title", "职称", (ExpertProfile.title,)),
        Column("disciplines", "学科代码"),
        Column("keywords", "关键词"),
        Column("load", "在评/上限", (LOAD,), num=True, desc_first=True),
        Column("available", "状态", (ExpertProfile.available,)),
    ),
    search=(User.name, User.username, Organization.name, ExpertProfile.title,
            sa.cast(ExpertProfile.keywords, sa.Text), sa.cast(ExpertProfile.disciplines, sa.Text)),
    search_joins=("org",),
    search_hint="姓名、单位、学科或关键词",
    filters=(
        Filter("discipline", "学科代码", (),
               lambda v: sa.cast(ExpertProfile.disciplines, sa.Text).like(f'%"{v}"%'),
               find=discipline_code, placeholder="学科代码，如 TF"),
        Filter("available", "可用", [("true", "可用"), ("false", "暂停")],
               lambda v: ExpertProfile.available.is_(v == "true")),
        Filter("organization", "单位", (), lambda v: User.organization_id == int(v),
               find=expert_organization, suggest="applying.organization_choices",
               placeholder="单位名称或统一社会信用代码"),
    ),
    default_sort="name", default_desc=False,
    export=(
        Field("用户名", lambda p: p.user.username, width=14),
        Field("姓名", lambda p: p.user.name, width=12),
        Field("单位", lambda p: p.user.organization.name if p.user.organization else "",
              width=28),
        Field("职称", lambda p: p.title or "", width=10),
        Field("学科代码", lambda p: "、".join(p.disciplines or ()), width=14),
        Field("关键词", lambda p: "、".join(p.keywords or ()), width=30),
        Field("在评数", lambda p: loads().get(p.user_id, 0), "int", width=8),
        Field("最大评审数", lambda p: p.load_cap, "int", width=10),
        Field("状态", pool_status, width=16),
        Field("电子邮箱", lambda p: p.user.email or "", width=24),
        Field("手机", lambda p: p.user.phone or "", width=14),
    ),
)
