"""Formal review (形式审查): pass, return for revision, or reject — one or many at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import engine
from workflow.core.errors import Invalid, ServiceError
from workflow.core.models import db
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


def decide(actor: User, ids: list[int], decision: str, comment: str,
           checklist: dict[str, Any] | None, ip: str | None) -> BulkReport:
    """Apply one decision to each application; each in its own savepoint, so that one
    refusal (a failing guard, another officer faster) leaves the others done."""
    trigger = DECISIONS.get(decision)
    if trigger is None:
        raise Invalid("请选择审查结论：通过、退回修改或不予受理", details={"decision": "必选"})
    if not ids:
        raise Invalid("请至少选择一件申报书", details={"ids": "必选"})
    report = BulkReport()
    for app_id in dict.fromkeys(ids):
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
    return report
