"""追回 as a workflow (``states.RECOVERY``): opened when a project is wound up with money
owed, notified by a numbered 追回通知, repaid in instalments that finance records (each a
``recovery`` entry of the call's ledger tied to the recovery, never more than owed, each
bank 流水号 once), closed when repaid; past its due date the beat escalates it; only a
leader writes it off, with a reason."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app

from forms import format_wan, parse_wan
from forms.validators import FieldError
from states import RECOVERY, SYSTEM, RecoveryState
from workflow.accounts.models import User, UserRole
from workflow.applying.models import Application
from workflow.calls.rules import bureau_owner
from workflow.core import audit, engine, numbering
from workflow.core.entities import Entity
from workflow.core.errors import Conflict, NotFound, ServiceError
from workflow.core.models import db, utcnow
from workflow.core.rules import Changes, FireResult, GuardContext, Reason, refuse
from workflow.finance import ledger
from workflow.finance.models import EntryKind, Recovery, RecoveryInstalment
from workflow.permissions import money_reader, organization_member
from workflow.timeutil import SHANGHAI

RC = RecoveryState
ZERO = Decimal("0.00")
NOTICE_TOPIC = "recovery.notice"  # the 追回通知 has its 发文字号: render it
MAX_KEY = 100


def today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHANGHAI).date()


def open_recovery(app: Application, amount: Decimal, reason: str, actor: User | None,
                  now: datetime | None = None, ip: str | None = None) -> Recovery:
    """The project owes ``amount`` (yuan) back: a recovery is opened, due in the
    configured number of days (the 追回通知 may set another date). A project has one."""
    found = db.session.scalar(sa.select(Recovery).where(Recovery.application_id == app.id))
    if found is not None:
        raise Conflict(f"项目已有追回记录（应追回 {format_wan(found.amount)} 万元）",
                       code="recovery_exists")
    due = today(now) + timedelta(days=current_app.config["RECOVERY_DUE_DAYS"])
    row = Recovery(application_id=app.id, amount=amount, repaid=ZERO, reason=reason[:200],
                   due_on=due)
    db.session.add(row)
    db.session.flush()
    audit.record(row, "recovery", "create", actor, "officer" if actor else SYSTEM, None,
                 row.state.value, reason, {"amount": str(amount), "due_on": due.isoformat()},
                 ip)
    return row


def of_application(app_id: int) -> Recovery | None:
    return db.session.scalar(sa.select(Recovery).where(Recovery.application_id == app_id))


# ---- guards and effects --------------------------------------------------------------------

def recovery_due_date_ahead(ctx: GuardContext) -> list[Reason]:
    """The notice gives a due date (``due_on``, else the one set at opening) not in the
    past."""
    raw = ctx.text("due_on")
    day = ctx.row.due_on
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            return refuse("due_on_invalid", "还款期限格式应为 YYYY-MM-DD",
                          {"due_on": "格式应为 YYYY-MM-DD"})
    if day < today(ctx.now):
        return refuse("due_on_past", f"还款期限 {day.isoformat()} 已过，请另定期限",
                      {"due_on": "不能早于今天"})
    return []


def issue_recovery_notice(ctx: GuardContext, ch: Changes) -> None:
    row: Recovery = ctx.row
    if ctx.text("due_on"):
        ch.set(row, "due_on", date.fromisoformat(ctx.text("due_on")))
    ch.set(row, "notified_at", ctx.now)
    numbering.issue("recovery_notice", "recovery", row.id, ctx.now, topic=NOTICE_TOPIC,
                    subject=f"关于追回“{row.application.title}”项目经费的通知")


def parse_instalment(data: dict[str, Any]) -> tuple[Decimal | None, str, date | None,
                                                    dict[str, str]]:
    errors: dict[str, str] = {}
    amount: Decimal | None = None
    try:
        amount = parse_wan(str(data.get("amount_wan") or "").strip())
    except FieldError as err:
        errors["amount_wan"] = str(err)
    if amount is not None and amount <= 0:
        errors["amount_wan"] = "归还金额应大于零"
        amount = None
    key = str(data.get("key") or "").strip()
    if not key:
        errors["key"] = "请填写到账流水号"
    elif len(key) > MAX_KEY or any(ch in key for ch in "\r\n"):
        errors["key"] = f"流水号应为一行，不超过{MAX_KEY}字"
    paid_on: date | None = None
    try:
        paid_on = date.fromisoformat(str(data.get("paid_on") or ""))
    except ValueError:
        errors["paid_on"] = "到账日期格式应为 YYYY-MM-DD"
    return amount, key, paid_on, errors


def instalment_valid(ctx: GuardContext) -> list[Reason]:
    row: Recovery = ctx.row
    amount, key, paid_on, errors = parse_instalment(ctx.data)
    if errors or amount is None or paid_on is None:
        return refuse("instalment_invalid", "；".join(errors.values()), errors)
    if paid_on > today(ctx.now):
        return refuse("paid_on_future", "到账日期不能晚于今天", {"paid_on": "不能晚于今天"})
    if instalment_by_key(row.id, key) is not None:
        return refuse("instalment_recorded", f"流水号 {key} 的归还款已登记，不重复入账",
                      {"key": "已登记"}, status=409)
    if amount > row.outstanding:
        return refuse("over_repayment",
                      f"归还 {format_wan(amount)} 万元超过尚欠金额 {format_wan(row.outstanding)}"
                      " 万元，未登记", {"amount_wan": "超过尚欠金额"})
    return []


def instalment_by_key(recovery_id: int, key: str) -> RecoveryInstalment | None:
    return db.session.scalar(sa.select(RecoveryInstalment).where(
        RecoveryInstalment.recovery_id == recovery_id, RecoveryInstalment.key == key))


def record_instalment(ctx: GuardContext, ch: Changes) -> None:
    """The sum goes back into the call's budget (a ``recovery`` ledger entry tied to the
    recovery) and off what the project was paid."""
    row: Recovery = ctx.row
    amount, key, paid_on, _ = parse_instalment(ctx.data)
    if amount is None or paid_on is None:  # (the guard refused these)
        return
    app = row.application
    entry = ledger.post(app.call_id, EntryKind.recovery, amount, application_id=app.id,
                        actor=ctx.actor, ref=key, recovery_id=row.id,
                        memo=f"{app.project_number or app.title} 追回（{row.reason}）")
    db.session.add(RecoveryInstalment(
        recovery_id=row.id, key=key, amount=amount, paid_on=paid_on,
        ledger_entry_id=entry.id, recorded_by_id=ctx.actor.id if ctx.actor else None,
        recorded_at=ctx.now))
    ch.set(row, "repaid", (row.repaid or ZERO) + amount)
    app.disbursed = (app.disbursed or ZERO) - amount


def fully_repaid(ctx: GuardContext) -> list[Reason]:
    if ctx.row.outstanding > 0:
        return refuse("not_repaid", f"尚欠 {format_wan(ctx.row.outstanding)} 万元")
    return []


def close_if_repaid(result: FireResult, actor: User | None, ip: str | None) -> None:
    row: Recovery = result.row
    if row.outstanding <= 0:
        engine.fire(row, "close", None, comment="已全额追回", ip=ip, now=result.now)


def recovery_past_due(ctx: GuardContext) -> list[Reason]:
    row: Recovery = ctx.row
    if today(ctx.now) <= row.due_on:
        return refuse("not_due", f"还款期限 {row.due_on.isoformat()} 未到")
    return []


def mark_overdue(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "overdue_at", ctx.now)


def escalate_overdue(now: datetime | None = None) -> int:
    """The beat: each recovery past its due date and not repaid becomes overdue (the
    officers and the unit are told); one transaction each."""
    now = now or utcnow()
    ids = list(db.session.scalars(sa.select(Recovery.id).where(
        Recovery.state.in_([RC.notified, RC.partly_repaid]), Recovery.due_on < today(now))))
    done = 0
    for rid in ids:
        try:
            engine.fire(engine.load("recovery", rid, lock=True), "escalate", None,
                        comment="逾期未归还，已督办", now=now)
            db.session.commit()
            done += 1
        except ServiceError:
            db.session.rollback()
    return done


# ---- who sees and acts ---------------------------------------------------------------------

def can_view_recovery(user: Any, row: Recovery) -> bool:
    """Finance, officers, leaders and auditors; the project's organisation (its
    researchers and research office) its own."""
    return money_reader(user) or organization_member(user, row.application)


def recovery_owned(_user: Any, role: str) -> sa.ColumnElement[bool] | None:
    return sa.true() if role in ("officer", "leader", "finance") else None


def recoveries_visible(user: Any) -> sa.Select[Any]:
    query = sa.select(Recovery)
    if money_reader(user):
        return query
    if getattr(user, "organization_id", None) is not None and \
            user.has_role("applicant", "org_admin"):
        return query.where(Recovery.application_id.in_(sa.select(Application.id).where(
            Application.organization_id == user.organization_id)))
    return query.where(sa.false())


def recovery_name(row: Recovery) -> str:
    app = row.application
    return f"{app.project_number or app.title} 追回 {format_wan(row.amount)}万元"


def load_visible(user: Any, recovery_id: int) -> Recovery:
    row = db.session.get(Recovery, recovery_id)
    if row is None or not can_view_recovery(user, row):
        raise NotFound("追回记录不存在或无权查看")
    return row


RECOVERY_ENTITY = Entity("recovery", Recovery, RECOVERY, bureau_owner, can_view_recovery,
                         "经费追回", "recoveries",
    parent=("application", "application_id"), owned=recovery_owned, name=recovery_name)


# ---- messages ------------------------------------------------------------------------------

def overdue_recipients(row: Recovery) -> list[int]:
    """The officers, and the project's organisation (its research office and its
    principal investigator)."""
    app = row.application
    officers = db.session.scalars(sa.select(UserRole.user_id).join(User).where(
        UserRole.role == "officer", User.active.is_(True)))
    unit = db.session.scalars(sa.select(UserRole.user_id).join(User).where(
        UserRole.role == "org_admin", User.active.is_(True),
        User.organization_id == app.organization_id))
    return list(dict.fromkeys([*officers, *unit, app.applicant_id]))
