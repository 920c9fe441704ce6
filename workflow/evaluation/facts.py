"""What a project's evaluation is judged on, gathered when it closes.

``indicator_results``: the acceptance panel's finding on each indicator of the task book
(``workflow/acceptance``) where the project went through 结题验收; otherwise (a project
terminated before it) what it recorded on the way: the milestones of a 揭榜挂帅 project, the
annual reports' indicator statuses. ``outputs``: the acceptance's outputs and IP list, and
the annual reports' 成果 lines."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from forms import format_wan
from states import AnnualReportState, MilestoneState
from workflow.acceptance.operations import acceptance_of, indicator_names
from workflow.annual.models import AnnualReport
from workflow.applying.models import Application, Verdict
from workflow.changes.rules import planned_end
from workflow.core.models import AuditEvent, db
from workflow.finance import recovery as recoveries
from workflow.finance.models import EntryKind, LedgerEntry, Milestone
from workflow.timeutil import SHANGHAI

ZERO = Decimal("0.00")
# An annual report's indicator status that says it is met (完成, 达到, 实现, 超额), and
# one that says it is not (未完成, 未达到, 没有, 尚未, 部分).
MET = re.compile(r"(已?完成|达到|达成|实现|超额|满足)")
NOT_MET = re.compile(r"(未|没有|尚未|部分|不足|滞后)")


def _reports(app: Application) -> list[AnnualReport]:
    return list(db.session.scalars(sa.select(AnnualReport).where(
        AnnualReport.application_id == app.id).order_by(AnnualReport.year)))


def _milestones(app: Application) -> list[Milestone]:
    return list(db.session.scalars(sa.select(Milestone).where(
        Milestone.application_id == app.id).order_by(Milestone.seq)))


def _panel_findings(app: Application) -> tuple[int, int] | None:
    """(met, total) of the indicators as the acceptance panel found them: an indicator is
    met when most of the members who scored it say so; None before a panel has scored."""
    acc = acceptance_of(app)
    if acc is None:
        return None
    voices = [m.scores for m in acc.members if m.submitted_at is not None and m.scores]
    if not voices:
        return None
    names = indicator_names(app) or sorted({n for v in voices for n in v})
    met = 0
    for name in names:
        said = [bool(v[name]) for v in voices if name in v]
        met += bool(said) and sum(said) * 2 > len(said)
    return met, len(names)


def indicator_results(app: Application) -> tuple[int, int] | None:
    """(met, total) of the project's indicators, or None when nothing records them.

    The acceptance panel's findings, when it scored. 揭榜挂帅: its milestones accepted of
    all planned. Otherwise the latest annual report
    that lists indicators (a status reading 完成/达到/实现 and not 未/部分 counts as met).
    Failing both, the acceptance verdict as one indicator (通过 1/1, 不通过 0/1)."""
    found = _panel_findings(app)
    if found is not None:
        return found
    milestones = _milestones(app)
    if app.challenge_id is not None and milestones:
        accepted = sum(1 for m in milestones if m.state is MilestoneState.accepted)
        return accepted, len(milestones)
    for report in reversed(_reports(app)):
        rows = [r for r in (report.indicators or []) if isinstance(r, dict)]
        if report.state is AnnualReportState.due or not rows:
            continue
        met = sum(1 for r in rows if MET.search(str(r.get("status") or ""))
                  and not NOT_MET.search(str(r.get("status") or "")))
        return met, len(rows)
    if app.acceptance_verdict is Verdict.passed:
        return 1, 1
    if app.acceptance_verdict is Verdict.failed:
        return 0, 1
    return None


def outputs(app: Application) -> list[dict[str, Any]]:
    """The project's outputs (papers, patents, standards, products…): those of its
    acceptance's outputs and IP list (with their identifiers), then each non-empty line of
    the annual reports' 成果 text not listed there, with its year; [] when none."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    acc = acceptance_of(app)
    for item in (acc.outputs if acc is not None else None) or []:
        text = " ".join(str(item.get(k) or "") for k in ("title", "identifier")).strip()
        if text and text not in seen:
            seen.add(text)
            out.append({"text": text, "kind": item.get("kind"), "source": "结题验收"})
    for report in _reports(app):
        if report.state is AnnualReportState.due:
            continue
        for line in (report.outputs or "").splitlines():
            text = line.strip(" \t-•·、;；")
            if text and text not in seen and not re.fullmatch(r"(无|暂无|没有)[。.]?", text):
                seen.add(text)
                out.append({"year": report.year, "text": text[:300],
                            "source": f"{report.year}年度报告"})
    return out


def spending(app: Application) -> dict[str, Decimal]:
    """From the ledger (yuan): granted, disbursed, recovered (sums received back),
    surplus kept (结余留用); owed: what a recovery still asks for."""
    sums = dict(db.session.execute(
        sa.select(LedgerEntry.kind, sa.func.sum(LedgerEntry.amount)).where(
            LedgerEntry.application_id == app.id).group_by(LedgerEntry.kind)).all())
    recovery = recoveries.of_application(app.id)
    owed = ZERO
    if recovery is not None:
        owed = max(ZERO, (recovery.amount or ZERO) - (recovery.repaid or ZERO))
    return {"granted": app.granted_amount or ZERO,
            "disbursed": sums.get(EntryKind.disbursement) or app.disbursed or ZERO,
            "recovered": sums.get(EntryKind.recovery) or ZERO,
            "surplus": sums.get(EntryKind.surplus) or ZERO,
            "owed": owed}


def _local(value: Any) -> date | None:
    return value.astimezone(SHANGHAI).date() if value is not None else None


def timeliness(app: Application, closed_on: date) -> dict[str, Any]:
    """The planned end against the day the team finished (asked for acceptance, else the
    day the project closed); overdue annual reports; late milestones (揭榜挂帅: reported
    after their date, or not at all by the closure)."""
    end = planned_end(app)
    finished = closed_on
    asked = db.session.scalar(sa.select(sa.func.max(AuditEvent.at)).where(
        AuditEvent.entity_type == "application", AuditEvent.entity_id == app.id,
        AuditEvent.trigger == "request_acceptance"))
    if asked is not None:
        finished = min(closed_on, _local(asked) or closed_on)
    overdue = sum(1 for r in _reports(app) if r.overdue_at is not None)
    late = 0
    for m in _milestones(app):
        reported = _local(m.reported_at)
        if m.state is MilestoneState.cancelled and reported is None and m.due_on >= closed_on:
            continue  # cancelled at the closure before it fell due
        if (reported or closed_on) > m.due_on:
            late += 1
    return {"planned_end": end.isoformat(), "finished_on": finished.isoformat(),
            "days_late": max(0, (finished - end).days), "overdue_reports": overdue,
            "late_milestones": late}


def gather(app: Application, closure: str, closed_on: date) -> dict[str, Any]:
    """Everything the proposal is computed from, JSON-ready (money in yuan as text)."""
    met = indicator_results(app)
    money = spending(app)
    return {
        "scheme": app.call.scheme.value,
        "closure": closure,
        "closed_on": closed_on.isoformat(),
        "acceptance": app.acceptance_verdict.value if app.acceptance_verdict else None,
        "indicators": list(met) if met is not None else None,
        "outputs": outputs(app),
        "spending": {k: str(v) for k, v in money.items()},
        "timeliness": timeliness(app, closed_on),
    }


def money_text(facts: dict[str, Any]) -> dict[str, str]:
    """The spending facts in 万元, as the page shows them."""
    return {k: format_wan(Decimal(v)) for k, v in (facts.get("spending") or {}).items()}
