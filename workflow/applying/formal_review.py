"""Formal review (形式审查): pass, return for revision, or reject — one or many at once.

Many at once, from the list of applications: the rows the officer ticked on the page,
or every row matching the list's search and filters, on every page (选择全部符合条件的
N 份), found by the list's own ``ListSpec`` when the worker runs the job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from states import APPLICATION
from workflow.accounts.models import User
from workflow.applying.lists import APPLICATIONS
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import engine, listing
from workflow.core.errors import Invalid, NotFound, ServiceError
from workflow.core.jobs import JobResult, Progress
from workflow.core.models import Job, db
from workflow.core.rules import FireResult

DECISIONS = {"pass": "pass_formal_review", "return": "return_for_revision", "reject": "reject"}
# The keys an item's answer and its error go under (``checklist.附件齐全``).
CHECKLIST_KEY = "checklist."


@dataclass(frozen=True)
class ChecklistItem:
    label: str
    # The call requires it met for a pass (必须勾选, where the call marks its items).
    required: bool = False

    @property
    def key(self) -> str:
        return CHECKLIST_KEY + self.label


def checklist_items(call: Call) -> list[ChecklistItem]:
    """The call's formal-review checklist, each item with whether a pass needs it met."""
    required = set(getattr(call, "checklist_required", None) or ())
    return [ChecklistItem(item, item in required) for item in call.checklist or []
            if isinstance(item, str)]


def decide_one(actor: User, app: Application, decision: str, comment: str,
               checklist: dict[str, bool] | None, ip: str | None) -> FireResult:
    """One application's formal review, from its page: every reason it is refused for
    at once (a checklist item unanswered or not met, the comment, eligibility)."""
    trigger = DECISIONS.get(decision)
    if trigger is None:
        raise Invalid("请选择审查结论：通过、退回修改或不予受理", details={"decision": "必选"})
    row = engine.load("application", app.id, lock=True)
    return engine.fire(row, trigger, actor, comment=comment, ip=ip,
                       data={} if checklist is None else {"checklist": checklist})


@dataclass
class BulkReport:
    done: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def check_decision(decision: str, ids: list[int] | None) -> str:
    """The trigger of ``decision``, or the refusal of a decision or a selection missing
    (``ids`` None: the selection is not of ids)."""
    trigger = DECISIONS.get(decision)
    if trigger is None:
        raise Invalid("请选择审查结论：通过、退回修改或不予受理", details={"decision": "必选"})
    if ids is not None and not ids:
        raise Invalid("请至少选择一件申报书", details={"ids": "必选"})
    return trigger


def decide(actor: User, ids: list[int], decision: str, comment: str,
           checklist: dict[str, Any] | None, ip: str | None,
           progress: Progress | None = None) -> BulkReport:
    """Apply one decision to each application; each in its own savepoint, so that one
    refusal (a failing guard, another officer faster) leaves the others done.
    ``progress`` hears how many have been handled."""
    trigger = check_decision(decision, ids)
    report = BulkReport()
    todo = list(dict.fromkeys(ids))
    for number, app_id in enumerate(todo, start=1):
        savepoint = db.session.begin_nested()
        try:
            app = engine.load("application", app_id, lock=True)
            engine.fire(app, trigger, actor, comment=comment, ip=ip,
                        data={} if checklist is None else {"checklist": checklist})
            savepoint.commit()
            report.done += 1
        except ServiceError as err:
            savepoint.rollback()
            report.refused.append((app_id, err.message))
        if progress is not None:
            progress(number, len(todo))
    return report


BULK_JOB = "bulk_formal_review"
LABELS = {"pass": "形式审查通过", "return": "退回修改", "reject": "不予受理"}


# ---- every row matching the list's search and filters ------------------------------------

# The states a formal review decides from (the list's checkboxes: ``pass_formal_review``).
DECIDABLE = frozenset(state for spec in APPLICATION.transitions_for("pass_formal_review")
                      for state in spec.sources)


def awaiting() -> Any:
    """The condition on an application that a formal review decides it (its state)."""
    return Application.state.in_(DECIDABLE)


def list_filters(args: Mapping[str, Any]) -> dict[str, str]:
    """The list's search and filters among ``args`` (its URL's or the bulk form's), without
    its sort and page: what the selection of every matching row is."""
    names = {"q", *(f.name for f in APPLICATIONS.filters)}
    return {k: v for k, v in args.items() if k in names and isinstance(v, str) and v}


def matching(actor: User, filters: Mapping[str, str]) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The applications the list shows ``actor`` under ``filters`` (the list's own query:
    ``workflow.applying.lists.APPLICATIONS`` run by ``workflow.core.listing``), and those
    of them awaiting formal review."""
    shown = listing.filtered(APPLICATIONS, actor, listing.parse(APPLICATIONS, actor, filters))
    return shown, shown.where(awaiting())


def count_decidable(actor: User, filters: Mapping[str, str]) -> int:
    """How many of the applications matching ``filters`` a bulk review over all of them
    would decide (those awaiting formal review)."""
    _shown, decidable = matching(actor, filters)
    return listing.count(APPLICATIONS, decidable)


def start_bulk(actor: User, ids: list[int], decision: str, comment: str,
               ip: str | None, filters: Mapping[str, str] | None = None) -> Job:
    """Check the decision and the selection now; the worker applies it as a job. With
    ``filters`` the selection is every application matching them (``ids`` unused),
    found again when the job runs."""
    from workflow.core import jobs

    params: dict[str, Any] = {"decision": decision, "comment": comment, "ip": ip}
    if filters is not None:
        filters = list_filters(filters)
        total = count_decidable(actor, filters)
        check_decision(decision, None)
        if not total:
            raise Invalid("没有符合条件、待形式审查的申报书", details={"scope": "无可处理的申报书"})
        return jobs.start(BULK_JOB, actor.id, {**params, "filters": filters}, total=total)
    check_decision(decision, ids)
    todo = list(dict.fromkeys(ids))
    return jobs.start(BULK_JOB, actor.id, {**params, "ids": todo}, total=len(todo))


def bulk_job(job: Job, progress: Progress) -> JobResult:
    """The ``bulk_formal_review`` job: ``decide`` as its starter, and what came of it."""
    actor = db.session.get(User, job.started_by_id or 0)
    if actor is None:
        raise NotFound("发起人已不存在")
    p = job.params
    filters = p.get("filters")
    elsewhere = 0  # matching, but in no state a formal review decides from
    link: dict[str, Any] = {"state": "formal_review"}
    if isinstance(filters, dict):
        shown, decidable = matching(actor, filters)
        ids = list(db.session.scalars(decidable.with_only_columns(Application.id)
                                      .order_by(Application.id)))
        elsewhere = listing.count(APPLICATIONS, shown) - len(ids)
        link = dict(filters)
    else:
        ids = [int(i) for i in p.get("ids") or []]
    report = decide(actor, ids, str(p.get("decision", "")), str(p.get("comment", "")), None,
                    p.get("ip"), progress) if ids else BulkReport()
    titles = dict(db.session.execute(sa.select(Application.id, Application.title).where(
        Application.id.in_([i for i, _m in report.refused]))).all())
    counts: list[list[Any]] = [["已处理", report.done], ["未处理", len(report.refused)]]
    if elsewhere:
        counts.append(["符合条件但不在形式审查阶段（未处理）", elsewhere])
    return {
        "summary": f"{LABELS.get(str(p.get('decision')), '')}：已处理 {report.done} 件"
                   + (f"，{len(report.refused)} 件未处理" if report.refused else ""),
        "counts": counts,
        "link": {"endpoint": "applying.applications", "values": link,
                 "text": "返回申报书列表" if isinstance(filters, dict)
                 else "返回待形式审查的申报书"},
        "errors": [f"{titles.get(i, f'申报书 {i}')}：{m}" for i, m in report.refused],
    }
