"""Each person's 工作台 (the home page): every row on which they may fire a trigger now,
grouped by what is to be done, with counts, each linking to the page where it is done.

Derived from the lifecycles, not from a map of roles to states: for each entity, the rows
of ``states/`` give the states from which the person's roles fire a trigger (their
sources and roles); the rows in those states that the person owns (the entity's
``owned`` query) are the candidates, and a candidate is listed when ``engine.option``
says that this person may fire one of those triggers now (allowed; a trigger that a
typed reason would merely force, such as closing a call early, does not count).

``TASKS`` words each trigger as a thing to do and names the page where it is done (the
row's own page unless said) and what that page's inputs answer of its guards (a form to
fill, a score to give); ``EXCEPTIONS`` are triggers that can be fired at any time and are
never a to-do by themselves (terminate, hold, recuse). A few things to do are not
transitions: assigning experts, the demand side's acceptance, applying to an open call
(``_extras``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import url_for
from sqlalchemy.orm import joinedload, subqueryload

from forms import format_wan
from states import ROLES, ApplicationState, CallState, Transition
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.applying.rules import read_limits
from workflow.applying.views import EDIT_PAGE_ANSWERS
from workflow.calls.models import Call
from workflow.calls.operations import forms_of, open_calls
from workflow.calls.views import CALL_FORM_ANSWERS
from workflow.core import engine, memo
from workflow.core.entities import ENTITIES, Entity, can_view
from workflow.core.models import AuditEvent, db, utcnow
from workflow.decisions import operations as decisions
from workflow.decisions.models import DecisionState, FundingDecision
from workflow.decisions.views import DECISION_PAGE_ANSWERS
from workflow.finance.models import Milestone, Tranche
from workflow.finance.sanctions import holds_known
from workflow.finance.views import QUEUE_ANSWERS
from workflow.permissions import officer
from workflow.review.models import ReviewAssignment
from workflow.review.operations import ACTIVE
from workflow.review.views import SCORE_PAGE_ANSWERS
from workflow.timeutil import local_time
from workflow.workbench.entities import PAGE_ANSWERS

LIMIT = 10  # items shown per group; the count says how many there are
# What the acceptance's conclusion form answers (the reason, the diligence finding).
CONCLUSION_ANSWERS = frozenset({"comment_required", "conclusion_unexplained",
                                "diligence_missing", "recovery_missing"})
# Candidate rows checked per entity and state (the oldest first): the lists count the rest.
SCAN = 100


@dataclass(frozen=True)
class Task:
    """A trigger as a thing to do: how the list says it, and where it is done."""

    phrase: str
    endpoint: str | None = None  # None: the row's own page
    args: Callable[[Any], dict[str, Any]] | None = None
    answered: frozenset[str] = PAGE_ANSWERS
    # Listed once per parent (the call a decision is taken for), not per row.
    parent: Callable[[Any], Any] | None = None
    # The page's own condition, on the parent (or the row).
    when: Callable[[Any, Any], bool] | None = None


# The calls (among the rows being checked) with a list waiting for the leader or approved,
# read once for all of them (``_read_lists``); None: ask per call.
_LISTED: ContextVar[frozenset[int] | None] = ContextVar("kjflow_listed", default=None)


def _to_propose(user: Any, call: Call) -> bool:
    """The decision page proposes a list (the officer: ``decisions.propose``) while none
    waits for the leader or is approved; the leader's part is ``decide``."""
    listed = _LISTED.get()
    if listed is not None:
        return officer(user) and call.id not in listed
    return (officer(user) and decisions.pending(call.id) is None
            and decisions.approved(call.id) is None)


def _read_ahead(user: Any, rows: list[Any]) -> None:
    """What the guards of a researcher's own drafts and returned applications read of
    each (its form; the 限项 counts), read for all of them at once."""
    own = [r for r in rows if r.applicant_id == user.id
           and r.state in (ApplicationState.draft, ApplicationState.returned)]
    if own:
        forms_of({(r.call, r.form_version) for r in own})
        read_limits(own)


def _read_lists(rows: list[Any]) -> frozenset[int]:
    """The calls of ``rows`` (applications) with a list waiting or approved: one
    statement for the page, not two per call."""
    call_ids = sorted({r.call_id for r in rows if r.state is ApplicationState.reviewed})
    if not call_ids:
        return frozenset()
    return frozenset(db.session.scalars(sa.select(FundingDecision.call_id).where(
        FundingDecision.call_id.in_(call_ids),
        FundingDecision.state.in_((DecisionState.proposed, DecisionState.approved)))))


def _on_call(phrase: str, endpoint: str, answered: frozenset[str] = PAGE_ANSWERS,
             when: Callable[[Any, Any], bool] | None = None) -> Task:
    """Done for the whole call on one page (the decision, the defence)."""
    return Task(phrase, endpoint, lambda call: {"call_id": call.id}, answered,
                parent=lambda app: app.call, when=when)


def _edit(phrase: str) -> Task:
    return Task(phrase, "applying.edit_application", lambda a: {"app_id": a.id},
                EDIT_PAGE_ANSWERS)


def _score(phrase: str) -> Task:
    return Task(phrase, "reviewing.score", lambda r: {"review_id": r.id}, SCORE_PAGE_ANSWERS)


def _judge(phrase: str) -> Task:
    return Task(phrase, "entities.show",
                lambda m: {"collection": "applications", "entity_id": m.application_id})


def _queue(phrase: str) -> Task:
    return Task(phrase, "finance.queue", lambda t: {"state": str(t.state)}, QUEUE_ANSWERS)


TASKS: dict[tuple[str, str], Task] = {
    ("call", "publish"): Task("待发布的指南", answered=CALL_FORM_ANSWERS),
    ("call", "close"): Task("已到截止时间，待截止受理"),
    ("call", "start_review"): Task("待开始评审"),
    # The leader decides a call by approving (or returning) its pending list, on the call's
    # decision page; the call's own decide follows the approval.
    ("decision", "approve"): Task("待决策", "deciding.decision",
                                  lambda c: {"call_id": c.id}, DECISION_PAGE_ANSWERS,
                                  parent=lambda d: d.call),
    ("decision", "send_back"): Task("待决策", "deciding.decision",
                                    lambda c: {"call_id": c.id}, DECISION_PAGE_ANSWERS,
                                    parent=lambda d: d.call),
    ("application", "submit"): _edit("继续填写"),
    ("application", "resubmit"): _edit("按意见修改后重新提交"),
    ("application", "unit_approve"): Task("待单位审核"),
    ("application", "unit_return"): Task("待单位审核"),
    ("application", "recommend"): Task("待推荐"),
    ("application", "decline_recommendation"): Task("待推荐"),
    ("application", "pass_formal_review"): Task("待形式审查"),
    ("application", "return_for_revision"): Task("待形式审查"),
    ("application", "reject"): Task("待形式审查"),
    ("application", "finish_defence"): _on_call("待完成答辩", "reviewing.defence",
                                                frozenset({"defence_unscored"})),
    ("application", "shortlist"): _on_call("评审完成，待拟定立项建议名单", "deciding.decision",
                                           when=_to_propose),
    ("application", "decline_funding"): _on_call("评审完成，待拟定立项建议名单",
                                                 "deciding.decision", when=_to_propose),
    ("application", "open_notice"): _on_call("名单已审定，待发布公示", "deciding.decision"),
    ("application", "uphold_objection"): Task("待处理公示异议"),
    ("application", "dismiss_objection"): Task("待处理公示异议"),
    ("application", "approve"): Task("公示期满，待立项"),
    ("application", "sign_contract"): Task("待签订任务书"),
    ("application", "start"): Task("任务书已签订，待开始执行"),
    ("application", "pass_midterm"): Task("待中期检查"),
    # 结题验收 (workflow/acceptance): the package, the unit, the panel, the conclusion (the
    # panel's verdicts and 财务验收 are records, listed in ``_extras``).
    ("acceptance", "submit"): Task("待提交结题验收材料",
                                   answered=frozenset({"package_incomplete"})),
    ("acceptance", "endorse"): Task("结题验收材料待单位审核"),
    ("acceptance", "return_for_revision"): Task("结题验收材料待单位审核"),
    ("acceptance", "assign_panel"): Task("待组织验收专家组",
                                         answered=frozenset({"panel_size"})),
    ("acceptance", "pass"): Task("待作出验收结论", answered=CONCLUSION_ANSWERS),
    ("acceptance", "conclude"): Task("待作出验收结论", answered=CONCLUSION_ANSWERS),
    ("acceptance", "fail"): Task("待作出验收结论", answered=CONCLUSION_ANSWERS),
    # Annual reports: the form is on the report's page; filling it in is the thing to do.
    # 项目变更: the unit's research office, the demand side, the officer, the leader.
    ("change", "submit"): Task("待提交变更申请"),
    ("change", "withdraw"): Task("撤回变更申请", when=lambda _user, _row: False),  # an option
    ("change", "endorse"): Task("变更申请待单位审核"),
    ("change", "return_for_revision"): Task("变更申请待单位审核"),
    ("change", "demand_agree"): Task("变更申请待发榜方确认"),
    ("change", "demand_refuse"): Task("变更申请待发榜方确认"),
    ("change", "approve"): Task("变更申请待审批"),
    ("change", "propose"): Task("变更申请待审批"),
    ("change", "reject"): Task("变更申请待审批"),
    # 追回: the officer issues the notice; a write-off is a leader's option, never a task.
    ("recovery", "notify"): Task("待印发追回通知"),
    ("recovery", "write_off"): Task("核销结案", when=lambda _user, _row: False),
    # A sanction's review is the officer's to decide (a leader may, but is not asked to).
    ("sanction_review", "continue"): Task("失信复核待决定", when=lambda user, _row: officer(user)),
    ("sanction_review", "terminate"): Task("失信复核待决定",
                                           when=lambda user, _row: officer(user)),
    ("sanction_review", "revoke"): Task("失信复核待决定", when=lambda user, _row: officer(user)),
    # 中期检查: the team's report, the officer's panel and conclusion (the experts' scores
    # are not transitions: ``_extras``).
    ("midterm", "submit"): Task("待提交中期报告",
                                answered=frozenset({"midterm_report_incomplete"})),
    ("midterm", "convene"): Task("中期报告已提交，待组织评议专家",
                                 answered=frozenset({"panel_missing"})),
    ("midterm", "pass"): Task("中期检查待作结论"),
    ("midterm", "rectify"): Task("中期检查待作结论", answered=frozenset(
        {"rectify_due_missing", "rectify_items_missing"})),
    ("annual_report", "submit"): Task("待填写并提交年度报告",
                                      answered=frozenset({"annual_report_incomplete"})),
    ("annual_report", "endorse"): Task("年度报告待单位审核"),
    ("annual_report", "unit_return"): Task("年度报告待单位审核"),
    ("annual_report", "accept"): Task("年度报告待审核"),
    ("annual_report", "return"): Task("年度报告待审核"),
    ("evaluation", "confirm"): Task("绩效评价待确认"),
    ("evaluation", "propose"): Task("绩效评价待确认"),
    ("evaluation", "send_back"): Task("绩效评价待确认"),
    ("review", "accept"): _score("请答复评审邀请"),
    ("review", "decline"): _score("请答复评审邀请"),
    ("review", "submit_scores"): _score("待评分"),
    ("review", "expire"): Task("评审邀请已过期，待确认"),
    # A verdict on a milestone is given on its project's page (both buttons in one form).
    ("milestone", "demand_accept"): _judge("待验收里程碑"),
    ("milestone", "officer_accept"): _judge("待验收里程碑"),
    ("milestone", "reject"): _judge("待验收里程碑"),
    ("tranche", "make_due"): Task("拨付条件已满足，待确认应付"),
    ("tranche", "prepare"): _queue("待制单"),
    ("tranche", "reprepare"): _queue("收款账户已变更，待重新制单"),
    ("tranche", "approve"): _queue("待审核"),
    ("tranche", "release"): _queue("待拨付"),
    ("tranche", "resume"): _queue("已暂停，待恢复或取消"),
}
# Triggers that may be fired at any time and make no to-do by themselves; and the
# officer's side of what the system does when it is due (an application's review is
# finished by its last score: the officer's finish_review forces it, with a reason).
EXCEPTIONS = frozenset({
    ("call", "archive"), ("application", "finish_review"),
    ("application", "withdraw"), ("application", "terminate"),
    ("application", "raise_objection"), ("application", "start_midterm"),
    ("review", "recuse"), ("review", "cancel_invitation"),
    ("tranche", "hold"), ("tranche", "cancel"),
    # Done by its approval: the leader's to-do is the pending list (decision approve).
    ("call", "decide"),
    # An officer may withdraw a pending list at any time (a new list replaces it too).
    ("decision", "withdraw"),
    # The project's line stands for its milestones' reports (执行中：提交里程碑或结题材料).
    ("milestone", "report"),
    # Closed by the officer's finding on the project (待处理公示异议).
    ("objection", "uphold"), ("objection", "dismiss"),
    # A project in its midterm check is concluded by the check (中期检查待作结论); its
    # termination is an option of the conclusion, or of a report never sent.
    ("application", "pass_midterm"), ("midterm", "terminate"),
})
_ORDER = {task.phrase: n for n, task in enumerate(TASKS.values())}

# What a row's line shows, loaded with the rows (no query per row).
LOADS: dict[str, tuple[Any, ...]] = {
    # Up to SCAN rows a state: the signatures (the task book's, which the contract's guard
    # reads) in one statement (subqueryload), not one per row nor one per 500 rows
    # (selectinload's batches); the applicants' roles, which no line or guard reads, not
    # at all (their eager load took a third of the page's time at 1,500 rows).
    "application": (joinedload(Application.organization),
                    joinedload(Application.applicant).lazyload(User.role_rows),
                    joinedload(Application.challenge), subqueryload(Application.signatures)),
    "review": (joinedload(ReviewAssignment.application).joinedload(Application.organization),),
    # Joined, not the queue's selectin (TRANCHE_LOADS): up to SCAN rows of one state are
    # read here, and each selectin would be a statement of its own.
    "tranche": (joinedload(Tranche.application).joinedload(Application.organization),
                joinedload(Tranche.application).joinedload(Application.call),
                joinedload(Tranche.application).joinedload(Application.applicant)
                .lazyload(User.role_rows)),
    "milestone": (joinedload(Milestone.application).joinedload(Application.organization),
                  joinedload(Milestone.application).joinedload(Application.challenge)),
}

SECTIONS: dict[str, tuple[str, str]] = {
    "applicant": ("我的申报", "暂无待办事项"),
    "org_admin": ("单位审核", "暂无待单位审核的申报书"),
    "recommender": ("主管部门推荐", "暂无待推荐的申报书"),
    "officer": ("项目管理", "暂无待办事项"),
    "expert": ("评审任务", "暂无评审邀请"),
    "leader": ("立项决策", "暂无待决策事项"),
    "finance": ("资金拨付", "暂无待拨付批次"),
    "demand": ("发榜方事项", "暂无待办事项"),
    "auditor": ("审计", "暂无待办事项"),
    "admin": ("系统管理", "暂无待办事项"),
}


@dataclass
class TodoItem:
    text: str
    detail: str = ""
    href: str | None = None
    rows: int = 0  # listed under its parent (a call): how many of its rows wait


@dataclass
class TodoGroup:
    phrase: str
    items: list[TodoItem] = field(default_factory=list)
    count: int = 0
    order: int = 1000

    def add(self, item: TodoItem | Callable[[], TodoItem]) -> TodoItem | None:
        """Count one more; list it while there is room (``item`` may be made only then)."""
        self.count += 1
        if len(self.items) >= LIMIT:
            return None
        self.items.append(item if isinstance(item, TodoItem) else item())
        return self.items[-1]


@dataclass
class TodoSection:
    role: str
    title: str
    groups: list[TodoGroup] = field(default_factory=list)
    empty: str = "暂无待办事项"
    notes: list[str] = field(default_factory=list)
    incomplete: bool = False  # more candidates than were checked
    # What the role starts from here besides its to-dos: (label, link).
    shortcuts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(g.count for g in self.groups)


class Board:
    """The groups being filled, by role and phrase."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.groups: dict[tuple[str, str], TodoGroup] = {}
        self.incomplete: set[str] = set()

    def group(self, role: str, phrase: str) -> TodoGroup:
        key = (role, phrase)
        if key not in self.groups:
            self.groups[key] = TodoGroup(phrase, order=_ORDER.get(phrase, 1000))
        return self.groups[key]

    def sections(self) -> list[TodoSection]:
        out = []
        for role in ROLES:
            if role not in self.user.roles:
                continue
            title, empty = SECTIONS.get(role, (ROLES[role], "暂无待办事项"))
            groups = sorted((g for (r, _), g in self.groups.items() if r == role),
                            key=lambda g: g.order)
            out.append(TodoSection(role, title, groups, empty,
                                   incomplete=role in self.incomplete))
        return out


def sections_for(user: User) -> list[TodoSection]:
    board = Board(user)
    now = utcnow()
    with memo.reading():  # the guards' lookups once per page (and in bulk: ``_read_ahead``)
        for entity in ENTITIES.values():
            _collect(board, entity, now)
    _extras(board)
    sections = board.sections()
    for section in sections:
        section.notes = list(_notes(section.role))
        section.shortcuts = _shortcuts(section.role)
    return sections


def _shortcuts(role: str) -> list[tuple[str, str]]:
    organizations = ("单位与主管部门", url_for("auth.organizations"))
    if role == "officer":
        new = url_for("calls.new_call")
        return [("新建指南", new), ("复制上年指南", new + "#copy"), organizations]
    if role == "admin":
        return [organizations]
    return []


# ---- rows on which a trigger may be fired -------------------------------------------------

def _todo_specs(entity: Entity, roles: frozenset[str]) -> list[Transition]:
    return [t for t in entity.lifecycle.transitions
            if t.roles & roles and not t.auto and (entity.kind, t.trigger) not in EXCEPTIONS]


def _candidates(entity: Entity, user: Any) -> Iterator[sa.Select[Any]]:
    """Per state from which one of the user's roles fires a to-do trigger, the rows in it
    that the user owns in such a role (a query per state, so that a crowded state does
    not crowd out the others)."""
    model = entity.model
    owned_in: dict[Any, list[Any]] = {}
    for role in sorted(user.roles):
        owned = sa.true() if entity.owned is None else entity.owned(user, role)
        if owned is None:
            continue
        for spec in _todo_specs(entity, frozenset({role})):
            for state in spec.sources:
                owned_in.setdefault(state, []).append(owned)
    for state in entity.lifecycle.states:  # in the lifecycle's order
        if state in owned_in:
            yield sa.select(model).where(model.state == state, sa.or_(*owned_in[state]))


def _cheap_first(spec: Transition) -> int:
    """Triggers guarded by nothing but a written reason are checked first: one that
    passes settles the row without running costlier guards (eligibility, say)."""
    return sum(1 for g in spec.guards if g != "comment_given")


def _counts(opt: engine.Option, spec: Transition) -> bool:
    # A reason typed on the page may be all a trigger needs (return for revision), or
    # it may force what is not due yet (close early, finish a review short of scores):
    # only the first is something to do.
    return opt.allowed and (not opt.needs_comment or "comment_given" in spec.guards)


def _loads(entity: Entity) -> tuple[Any, ...]:
    """What a row's line shows, loaded with the rows: ``LOADS``, or the project (with its
    organisation and applicant) of a row that belongs to one."""
    if entity.kind in LOADS:
        return LOADS[entity.kind]
    project = getattr(entity.model, "application", None)
    if project is None or not hasattr(project, "property"):
        return ()
    return (joinedload(project).joinedload(Application.organization),
            joinedload(project).joinedload(Application.applicant))


def _rows(board: Board, entity: Entity) -> list[Any]:
    """The candidates of every state at once: one statement per entity, the oldest
    ``SCAN`` of each state (each state's ids read from its (state, id) index)."""
    model = entity.model
    parts = [sa.select(sub.c.id) for sub in (
        query.with_only_columns(model.id).order_by(model.id).limit(SCAN + 1).subquery()
        for query in _candidates(entity, board.user))]
    if not parts:
        return []
    ids = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    found = db.session.scalars(sa.select(model).where(model.id.in_(ids))
                               .options(*_loads(entity))).unique().all()
    order = {state: n for n, state in enumerate(entity.lifecycle.states)}
    by_state: dict[Any, list[Any]] = {}
    for row in sorted(found, key=lambda r: (order.get(r.state, len(order)), r.id)):
        by_state.setdefault(row.state, []).append(row)
    rows: list[Any] = []
    for in_state in by_state.values():
        if len(in_state) > SCAN:
            board.incomplete.update(board.user.roles)
        rows += in_state[:SCAN]
    return rows


def _collect(board: Board, entity: Entity, now: datetime) -> None:
    rows = _rows(board, entity)
    if entity.kind == "application":
        _read_ahead(board.user, rows)
    token = _LISTED.set(_read_lists(rows) if entity.kind == "application" else None)
    # A tranche's guards ask whether its project is held (暂停拨付): one reading for all.
    held = holds_known(r.application for r in rows) if entity.kind == "tranche" else nullcontext()
    try:
        with held:
            _check(board, entity, rows, now)
    finally:
        _LISTED.reset(token)


def _check(board: Board, entity: Entity, rows: list[Any], now: datetime) -> None:
    user = board.user
    specs = _todo_specs(entity, frozenset(user.roles))
    parents: dict[tuple[str, int], TodoItem] = {}
    ready: dict[tuple[str, int], bool] = {}
    for row in rows:
        if not can_view(user, row):
            continue
        steps = entity.steps(row)
        leaving = sorted((t for t in entity.lifecycle.available(row.state, steps)
                          if t in specs), key=_cheap_first)
        for spec in leaving:
            task = TASKS.get((entity.kind, spec.trigger)) or Task(f"待{spec.label}")
            target = task.parent(row) if task.parent else row
            key = (task.phrase, target.id)
            if task.when is not None:
                if key not in ready:
                    ready[key] = task.when(user, target)
                if not ready[key]:
                    continue
            # One carried out by something else (the list's approval, say) is to be
            # done where that is done: may the person do it there.
            with engine.carrying_out(*spec.via):
                opt = engine.option(row, spec, user, now, steps=steps,
                                    answered=task.answered)
            if not _counts(opt, spec):
                continue
            if key in parents:  # listed already under its parent: one row more
                parents[key].rows += 1
                break
            item = board.group(opt.role or "", task.phrase).add(
                lambda: _item(entity, task, spec, target, row))  # noqa: B023 (called here)
            if task.parent:  # (one not listed still takes its rows, uncounted)
                parents[key] = item or TodoItem("")
            break


def _item(entity: Entity, task: Task, spec: Transition, target: Any, row: Any) -> TodoItem:
    href = (url_for(task.endpoint, **task.args(target)) if task.endpoint and task.args
            else url_for("entities.show", collection=entity.collection, entity_id=row.id))
    if task.parent:
        return TodoItem(f"{task.phrase}：{target.title}", href=href, rows=1)
    title, detail = _describe(entity.kind, row, spec)
    return TodoItem(f"{task.phrase}：{title}", detail, href)


def _describe(kind: str, row: Any, spec: Transition) -> tuple[str, str]:
    if kind == "application":
        return row.title, f"{row.organization.name} · {row.applicant.name}"
    if kind == "review":
        if spec.trigger in ("accept", "decline") and row.respond_by:
            return row.application.title, f"请于 {local_time(row.respond_by)} 前答复"
        return row.application.title, f"截止 {local_time(row.due_at)}" if row.due_at else ""
    if kind == "tranche":
        app = row.application
        return (f"{row.label}（{app.title}）",
                f"{format_wan(row.amount)} 万元 · {app.organization.name}")
    if kind == "call":
        return row.title, row.scheme.label
    if kind == "milestone":
        return f"{row.label}（{row.application.title}）", row.application.organization.name
    if kind == "evaluation":
        app = row.application
        return (f"{app.title}（{row.grade.label}，{row.total}分）",
                f"{app.organization.name} · {app.applicant.name}")
    if kind in ("change", "recovery", "sanction_review", "acceptance", "midterm"):
        app = row.application
        title = f"{row.label}（{app.title}）" if kind in ("change", "midterm") else app.title
        return title, f"{app.organization.name} · {app.applicant.name}"
    return str(getattr(row, "title", None) or getattr(row, "label", None) or row.id), ""


# ---- things to do that are not transitions ------------------------------------------------

# Those of the features above the workbench (结题验收: a panel member's verdict, 财务验收),
# given by the app factory (workflow/__init__.py), as it lists the features.
EXTRA_TODOS: dict[str, Callable[[Board], None]] = {}


def _extras(board: Board) -> None:
    user = board.user
    if "applicant" in user.roles:
        group = board.group("applicant", "可申报")
        for c in open_calls():
            group.add(TodoItem(f"可申报：{c.title}（{c.scheme.label}）",
                               f"截止 {local_time(c.closes_at)}",
                               url_for("entities.show", collection="calls", entity_id=c.id)))
    if officer(user):
        group = board.group("officer", "待分配评审专家")
        for call, short in _calls_short_of_experts():
            group.add(TodoItem(f"待分配评审专家：{call.title}", f"{short} 份申报书专家不足",
                               url_for("reviewing.assign", call_id=call.id)))
    for add in EXTRA_TODOS.values():
        add(board)
    # An empty extra group says nothing: drop it.
    board.groups = {k: g for k, g in board.groups.items() if g.count}


def _calls_short_of_experts() -> list[tuple[Call, int]]:
    """Calls with applications under expert review that have fewer live reviews than the
    call asks for (a declined or expired invitation not yet replaced, or none drawn).
    Only the calls closed or under review hold such applications: their applications are
    read by call (a province's 100,000 under review elsewhere are never counted)."""
    live = (sa.select(sa.func.count(ReviewAssignment.id))
            .where(ReviewAssignment.application_id == Application.id,
                   ReviewAssignment.state.in_(ACTIVE)).scalar_subquery())
    short = (sa.select(Application.call_id, sa.func.count(Application.id))
             .join(Call, Call.id == Application.call_id)
             .where(Call.state.in_((CallState.closed, CallState.reviewing)),
                    Application.state == ApplicationState.expert_review,
                    live < Call.reviewers_per_application)
             .group_by(Application.call_id).subquery())
    return [(call, n) for call, n in db.session.execute(
        sa.select(Call, short.c[1]).join(short, short.c.call_id == Call.id)
        .order_by(Call.id).limit(SCAN))]


def _notes(role: str) -> Iterator[str]:
    """What a reader's section says besides things to do."""
    if role == "auditor":
        # The last record's number, read from the primary key, not by counting 10,000,000
        # rows (PostgreSQL skips a number on a rolled-back write: not a count).
        last = db.session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0
        yield f"审计记录已编至第 {last} 号，可随时核验哈希链"
    if role == "admin":
        users = db.session.scalar(sa.select(sa.func.count()).select_from(User)) or 0
        yield f"用户共 {users} 个"
