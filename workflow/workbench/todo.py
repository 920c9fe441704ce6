"""What each person must do next, by role: the home page's lists."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from states import ApplicationState, CallState, ReviewState
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.calls.models import Call, Challenge
from workflow.calls.operations import open_calls
from workflow.core.models import AuditEvent, db
from workflow.review.models import ReviewAssignment
from workflow.timeutil import local_time


@dataclass
class TodoItem:
    text: str
    detail: str = ""
    collection: str | None = None  # the item's page: /<collection>/<entity_id>
    entity_id: int | None = None


@dataclass
class TodoSection:
    role: str
    title: str
    items: list[TodoItem] = field(default_factory=list)
    empty: str = "暂无待办事项"


def _apps(*states: ApplicationState, org_id: int | None = None) -> list[Application]:
    q = sa.select(Application).where(Application.state.in_(states))
    if org_id is not None:
        q = q.where(Application.organization_id == org_id)
    return list(db.session.scalars(q.order_by(Application.updated_at.desc()).limit(20)))


def sections_for(user: User) -> list[TodoSection]:
    out: list[TodoSection] = []
    roles = user.roles
    if "applicant" in roles:
        s = TodoSection("applicant", "我的申报")
        for c in open_calls():
            s.items.append(TodoItem(f"可申报：{c.title}（{c.scheme.label}）",
                                    f"截止 {local_time(c.closes_at)}", "calls", c.id))
        mine = db.session.scalars(
            sa.select(Application).where(
                Application.applicant_id == user.id,
                Application.state.in_([ApplicationState.draft, ApplicationState.returned]),
            )
        )
        for a in mine:
            verb = "继续填写" if a.state is ApplicationState.draft else "按意见修改后重新提交"
            s.items.append(TodoItem(f"{verb}：{a.title}", a.state.label, "applications", a.id))
        out.append(s)
    if "org_admin" in roles:
        s = TodoSection("org_admin", "单位审核")
        for a in _apps(ApplicationState.unit_review, org_id=user.organization_id):
            s.items.append(TodoItem(f"待单位审核：{a.title}", a.applicant.name,
                                    "applications", a.id))
        out.append(s)
    if "recommender" in roles:
        s = TodoSection("recommender", "主管部门推荐")
        for a in _apps(ApplicationState.recommended):
            s.items.append(TodoItem(f"待推荐：{a.title}", a.organization.name,
                                    "applications", a.id))
        out.append(s)
    if "officer" in roles:
        s = TodoSection("officer", "项目管理")
        for c in db.session.scalars(sa.select(Call).where(Call.state == CallState.draft)):
            s.items.append(TodoItem(f"待发布的指南：{c.title}", c.scheme.label, "calls", c.id))
        for a in _apps(ApplicationState.formal_review):
            s.items.append(TodoItem(f"待形式审查：{a.title}", a.organization.name,
                                    "applications", a.id))
        for c in open_calls():
            s.items.append(TodoItem(f"受理中：{c.title}", c.scheme.label, "calls", c.id))
        out.append(s)
    if "expert" in roles:
        s = TodoSection("expert", "评审任务", empty="暂无评审邀请")
        for r in db.session.scalars(sa.select(ReviewAssignment).where(
                ReviewAssignment.expert_id == user.id,
                ReviewAssignment.state.in_([ReviewState.invited, ReviewState.accepted]))
                .order_by(ReviewAssignment.due_at)):
            if r.state is ReviewState.invited:
                s.items.append(TodoItem(f"请答复评审邀请：{r.application.title}",
                                        f"{local_time(r.respond_by)} 前", "reviews", r.id))
            else:
                s.items.append(TodoItem(f"待评分：{r.application.title}",
                                        f"截止 {local_time(r.due_at)}", "reviews", r.id))
        out.append(s)
    if "leader" in roles:
        s = TodoSection("leader", "待决策")
        for c in db.session.scalars(sa.select(Call).where(Call.state == CallState.reviewing)):
            s.items.append(TodoItem(f"待决策：{c.title}", c.scheme.label, "calls", c.id))
        out.append(s)
    if "finance" in roles:
        out.append(TodoSection("finance", "资金拨付", empty="暂无待拨付批次"))
    if "demand" in roles and user.organization_id is not None:
        s = TodoSection("demand", "我单位发布的榜单")
        for ch in db.session.scalars(
            sa.select(Challenge).where(Challenge.demand_org_id == user.organization_id)
        ):
            s.items.append(TodoItem(f"榜单：{ch.title}", f"所属批次：{ch.call.title}"))
        out.append(s)
    if "auditor" in roles:
        s = TodoSection("auditor", "审计")
        count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0
        s.items.append(TodoItem(f"审计记录共 {count} 条，可随时核验哈希链"))
        out.append(s)
    if "admin" in roles:
        s = TodoSection("admin", "系统管理")
        users = db.session.scalar(sa.select(sa.func.count()).select_from(User)) or 0
        s.items.append(TodoItem(f"用户共 {users} 个"))
        out.append(s)
    return out
