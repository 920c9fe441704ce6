"""Formal review (形式审查): pass, return for revision, or reject — one or many at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import engine
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


def check_decision(decision: str, ids: list[int]) -> str:
    """The trigger of ``decision``, or the refusal of a decision or a selection missing."""
    trigger = DECISIONS.get(decision)
    if trigger is None:
        raise Invalid("请选择审查结论：通过、退回修改或不予受理", details={"decision": "必选"})
    if not ids:
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


def start_bulk(actor: User, ids: list[int], decision: str, comment: str,
               ip: str | None) -> Job:
    """Check the decision and the selection now; the worker applies it as a job."""
    from workflow.core import jobs

    check_decision(decision, ids)
    todo = list(dict.fromkeys(ids))
    return jobs.start(BULK_JOB, actor.id, {"ids": todo, "decision": decision,
                                           "comment": comment, "ip": ip}, total=len(todo))


def bulk_job(job: Job, progress: Progress) -> JobResult:
    """The ``bulk_formal_review`` job: ``decide`` as its starter, and what came of it."""
    from workflow.applying.models import Application

    actor = db.session.get(User, job.started_by_id or 0)
    if actor is None:
        raise NotFound("发起人已不存在")
    p = job.params
    ids = [int(i) for i in p.get("ids") or []]
    report = decide(actor, ids, str(p.get("decision", "")), str(p.get("comment", "")), None,
                    p.get("ip"), progress)
    titles = dict(db.session.execute(sa.select(Application.id, Application.title).where(
        Application.id.in_([i for i, _m in report.refused]))).all())
    return {
        "summary": f"{LABELS.get(str(p.get('decision')), '')}：已处理 {report.done} 件"
                   + (f"，{len(report.refused)} 件未处理" if report.refused else ""),
        "counts": [["已处理", report.done], ["未处理", len(report.refused)]],
        "link": {"endpoint": "applying.applications", "values": {"state": "formal_review"},
                 "text": "返回待形式审查的申报书"},
        "errors": [f"{titles.get(i, f'申报书 {i}')}：{m}" for i, m in report.refused],
    }
