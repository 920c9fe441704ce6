"""Tranches, milestones and final acceptance: the money side, on the engine's one path.

A signed contract plans the tranches from the call's plan (包干制: shares of the grant
on contract and on acceptance; 揭榜挂帅: one per milestone of the task book); a tranche
becomes due when its condition holds; finance prepares it (maker), a second finance
user approves it (checker), and it is released with the payment reference. Every
change of money is a ledger entry in the same transaction.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import IO, Any, Literal

import cn2an
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from forms import format_wan, parse_wan
from forms.validators import FieldError
from states import ApplicationState, TrancheState
from workflow.accounts import operations as accounts
from workflow.accounts.models import Organization, User
from workflow.applying.models import Application
from workflow.calls.models import Scheme
from workflow.calls.operations import TRANCHE_CONDITIONS
from workflow.core import engine
from workflow.core.errors import Forbidden, Invalid, NotFound
from workflow.core.models import AuditEvent, db, utcnow
from workflow.core.rules import Changes, FireResult
from workflow.finance import ledger
from workflow.finance.models import EntryKind, Milestone, MilestoneState, Tranche
from workflow.finance.recovery import open_recovery
from workflow.finance.sanctions import hold_text
from workflow.permissions import (
    bank_account_keeper,
    bank_account_reader,
    demand_side,
    officer,
    stage_gate_keeper,
)
from workflow.timeutil import SHANGHAI, local_time

CENT = Decimal("0.01")
MAX_REJECTIONS = 2  # a milestone failed this many times ends the project
OPEN = (TrancheState.planned, TrancheState.due, TrancheState.prepared, TrancheState.approved,
        TrancheState.on_hold)
CONDITION_LABELS = TRANCHE_CONDITIONS  # (the call's tranche plan names them)


def needs_decision_ref(tranche: Tranche) -> bool:
    """三重一大: a tranche at or above its call's threshold is approved only with the
    collective decision's reference."""
    threshold = tranche.application.call.collective_threshold
    return threshold is not None and tranche.amount >= threshold


def capital(amount: Decimal) -> str:
    """人民币大写, e.g. 壹佰贰拾叁万肆仟伍佰元整."""
    return str(cn2an.an2cn(str(amount.quantize(CENT)), "rmb"))


# ---- planning ----------------------------------------------------------------------------

def _months_after(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(day.year + y, m + 1, d)
        except ValueError:
            continue
    return day + timedelta(days=30 * months)


@dataclass(frozen=True)
class PlannedTranche:
    """One payment of a project's schedule before it is a row: what the 任务书 prints and
    :func:`plan_tranches` stores are these same figures."""

    seq: int
    label: str
    amount: Decimal
    condition: str                      # contract | milestone | acceptance
    milestone_label: str | None = None  # 揭榜挂帅: the milestone the tranche pays for
    due_on: date | None = None          # 揭榜挂帅: when the milestone is due


def tranche_schedule(app: Application) -> list[PlannedTranche]:
    """The payments a contracted project's grant is split into, computed, nothing stored.

    揭榜挂帅: one tranche per milestone of the team's plan (a 揭榜挂帅 application cannot
    be submitted without one), its amount the milestone's share scaled to the grant when
    the grant is less than asked, to the cent, the last one taking the remainder, so the
    tranches always add up to the grant. The call's ``tranche_plan`` does not apply to
    these projects: its percentages total 100 or 0, so it cannot be combined with a
    milestone plan, and a 揭榜挂帅 call states it as 按里程碑拨付.
    Otherwise (包干制): the call's plan, by percentage of the grant, or one payment on
    contract when the call has none.
    """
    grant = app.granted_amount or Decimal("0.00")
    if grant <= 0:
        return []
    start = (app.approved_at or utcnow()).astimezone(SHANGHAI).date()
    out: list[PlannedTranche] = []
    milestones = list((app.data or {}).get("milestones") or [])
    if app.call.scheme is Scheme.jiebang and milestones:
        asked = sum((Decimal(str(m.get("amount", 0))) for m in milestones), Decimal(0))
        given = Decimal(0)
        for i, m in enumerate(milestones, 1):
            share = Decimal(str(m.get("amount", 0)))
            amount = (grant - given if i == len(milestones) else
                      (share * grant / asked).quantize(CENT, ROUND_DOWN) if asked else CENT)
            given += amount
            label = str(m.get("label", f"里程碑{i}"))[:200]
            out.append(PlannedTranche(
                seq=i, label=f"里程碑{i}：{label}"[:100], amount=amount, condition="milestone",
                milestone_label=label,
                due_on=_months_after(start, int(m.get("months", 0) or 0))))
    else:
        plan = [p for p in (app.call.tranche_plan or []) if p.get("condition") != "milestone"] \
            or [{"label": "一次性拨付", "percent": 100, "condition": "contract"}]
        given = Decimal(0)
        for i, p in enumerate(plan, 1):
            percent = Decimal(str(p.get("percent", 100)))
            amount = grant - given if i == len(plan) else (grant * percent / 100).quantize(
                CENT, ROUND_DOWN)
            given += amount
            out.append(PlannedTranche(seq=i, label=str(p.get("label") or "")[:100] or f"第{i}笔",
                                      amount=amount,
                                      condition=str(p.get("condition") or "contract")))
    # A share that rounds to nothing is no payment (and no milestone of its own).
    return [t for t in out if t.amount > 0]


def plan_tranches(app: Application) -> list[Tranche]:
    """The tranches (and for 揭榜挂帅 the milestones) of a contracted project, stored
    from :func:`tranche_schedule` once; planning again returns the stored ones."""
    existing = list(db.session.scalars(sa.select(Tranche).where(
        Tranche.application_id == app.id).order_by(Tranche.seq)))
    if existing:
        return existing
    out: list[Tranche] = []
    for planned in tranche_schedule(app):
        milestone_id = None
        if planned.milestone_label is not None and planned.due_on is not None:
            milestone = Milestone(application_id=app.id, seq=planned.seq,
                                  label=planned.milestone_label, amount=planned.amount,
                                  due_on=planned.due_on)
            db.session.add(milestone)
            db.session.flush()
            milestone_id = milestone.id
        out.append(Tranche(application_id=app.id, seq=planned.seq, label=planned.label,
                           amount=planned.amount, condition=planned.condition,
                           milestone_id=milestone_id, project_number=app.project_number,
                           title=app.title, organization_id=app.organization_id))
    db.session.add_all(out)
    db.session.flush()
    return out


def _make_due(app: Application, condition: str, milestone_id: int | None = None) -> None:
    """Fire ``make_due`` as the system on the project's planned tranches whose condition
    has just come to hold."""
    query = sa.select(Tranche.id).where(Tranche.application_id == app.id,
                                        Tranche.state == TrancheState.planned,
                                        Tranche.condition == condition)
    if milestone_id is not None:
        query = query.where(Tranche.milestone_id == milestone_id)
    for tranche_id in list(db.session.scalars(query.order_by(Tranche.seq))):
        engine.fire(engine.load("tranche", tranche_id, lock=True), "make_due", None)


# ---- follow-ups of the project's transitions -------------------------------------------

def commit_grant(result: FireResult, actor: User | None, ip: str | None) -> None:
    app: Application = result.row
    if app.granted_amount:
        ledger.post(app.call_id, EntryKind.commitment, app.granted_amount,
                    application_id=app.id, actor=actor, ref=app.project_number or "",
                    memo=f"{app.project_number} {app.title}")


def plan_contracted_tranches(result: FireResult, actor: User | None, ip: str | None) -> None:
    plan_tranches(result.row)
    _make_due(result.row, "contract")


def settle_completion(result: FireResult, actor: User | None, ip: str | None) -> None:
    app: Application = result.row
    _make_due(app, "acceptance")
    surplus = app.final_report.surplus if app.final_report else Decimal("0.00")
    if app.call.scheme is Scheme.baogan and surplus > 0:
        ledger.post(app.call_id, EntryKind.surplus, surplus, application_id=app.id,
                    actor=actor, memo=f"{app.project_number} 结余留用于科研")


def wind_up(result: FireResult, actor: User | None, ip: str | None) -> None:
    """Unpaid tranches are cancelled (their commitment goes back to the budget), open
    milestones too, and what the project owes back is opened as a recovery (追回,
    ``workflow/finance/recovery.py``): the ledger records each sum as it comes back."""
    app: Application = result.row
    reason = "项目终止" if result.trigger == "terminate" else "结题验收不通过"
    for tranche_id in list(db.session.scalars(sa.select(Tranche.id).where(
            Tranche.application_id == app.id, Tranche.state.in_(OPEN)))):
        engine.fire(engine.load("tranche", tranche_id, lock=True), "cancel", None,
                    comment=f"{reason}，未拨付的款项取消", ip=ip)
    for milestone_id in list(db.session.scalars(sa.select(Milestone.id).where(
            Milestone.application_id == app.id,
            Milestone.state.not_in([MilestoneState.accepted, MilestoneState.cancelled]))
            .order_by(Milestone.seq))):
        engine.fire(engine.load("milestone", milestone_id, lock=True), "cancel", None,
                    comment=reason, ip=ip)
    owed = recovery_amount((result.audit_event.data or {}).get("input", {}))
    if owed > 0:
        if owed > app.disbursed:
            raise Invalid(f"追回金额不能超过已拨付金额 {format_wan(app.disbursed)} 万元",
                          details={"recovery": "超过已拨付金额"})
        # 追回 is a workflow of its own: each sum received is a ledger entry of it.
        open_recovery(app, owed, reason, actor, result.now, ip)


def recovery_amount(data: dict[str, Any]) -> Decimal:
    """The amount to recover (追回) given with a termination or failed acceptance."""
    raw = str(data.get("recovery_wan") or "").strip()
    if not raw:
        return Decimal("0.00")
    try:
        amount = parse_wan(raw)
    except FieldError as err:
        raise Invalid(f"追回金额：{err}", details={"recovery_wan": str(err)}) from err
    if amount < 0:
        raise Invalid("追回金额不能为负数", details={"recovery_wan": "不能为负数"})
    return amount


def post_disbursement(result: FireResult, actor: User | None, ip: str | None) -> None:
    tranche: Tranche = result.row
    app = tranche.application  # locked before the tranche (engine: parent lock)
    ledger.post(app.call_id, EntryKind.disbursement, tranche.amount, application_id=app.id,
                tranche_id=tranche.id, actor=actor, ref=tranche.payment_ref or "",
                memo=f"{app.project_number} {tranche.label}")
    app.disbursed = (app.disbursed or Decimal(0)) + tranche.amount
    db.session.flush()


def return_commitment(result: FireResult, actor: User | None, ip: str | None) -> None:
    tranche: Tranche = result.row
    app = tranche.application
    if app.approved_at is not None:  # committed at approval: the money goes back
        ledger.post(app.call_id, EntryKind.decommitment, tranche.amount,
                    application_id=app.id, tranche_id=tranche.id, actor=actor,
                    memo=f"{app.project_number} {tranche.label} 取消")


# ---- milestones (揭榜挂帅) ----------------------------------------------------------------

def milestones_of(app: Application) -> list[Milestone]:
    return list(db.session.scalars(sa.select(Milestone).where(
        Milestone.application_id == app.id).order_by(Milestone.seq)))


def milestone_party(actor: User, app: Application) -> str | None:
    """Who ``actor`` judges a milestone of ``app`` for: the demand side, or the bureau."""
    if demand_side(actor, app):
        return "demand"
    return "officer" if officer(actor) else None


# What the project's page answers of a milestone's guards: the report typed in its form.
MILESTONE_PAGE_ANSWERS = frozenset({"report_too_short"})


def milestone_actions(actor: User, app: Application, milestones: list[Milestone]
                      ) -> set[tuple[str, int]]:
    """What ``actor`` may do on each of the project's milestones now, from their
    lifecycle: ``("report_milestone", id)`` (its ``report``), ``("judge_milestone", id)``
    (a verdict: ``reject`` goes with either acceptance) and ``("pass_milestone", id)``
    (the acceptance that is the actor's to give)."""
    out: set[tuple[str, int]] = set()
    for m in milestones:
        for option in engine.options(m, actor, answered=MILESTONE_PAGE_ANSWERS):
            if not option.allowed:
                continue
            if option.trigger == "report":
                out.add(("report_milestone", m.id))
            elif option.trigger == "reject":
                out.add(("judge_milestone", m.id))
            elif option.trigger in ("demand_accept", "officer_accept"):
                out.add(("pass_milestone", m.id))
    return out


def report_milestone(actor: User, milestone_id: int, report: str,
                     evidence: list[tuple[str, IO[bytes]]] | None = None,
                     ip: str | None = None, evidence_refs: Any = None) -> Milestone:
    """The team reports a milestone done (the ``report`` transition), with its evidence:
    files uploaded with the report (``evidence``, the page) and uploads of the project
    named by their SHA-256 (``evidence_refs``, the API; checked by the transition's
    ``evidence_on_file`` guard)."""
    from workflow.applying import operations as applications

    m: Milestone = engine.load("milestone", milestone_id, lock=True)  # the project first
    data: dict[str, Any] = {"report": (report or "").strip()}
    refs = evidence_refs
    if evidence:
        uploaded = [applications.attach_evidence(actor, m.application, "milestone_evidence",
                                                 name, stream).sha256
                    for name, stream in evidence]
        # Refs that are not a list stay as given, for the guard to refuse.
        refs = uploaded if refs is None else [*refs, *uploaded] if isinstance(
            refs, list) else refs
    if refs is not None:
        data["evidence"] = refs
    engine.fire(m, "report", actor, data=data, ip=ip)
    return m


def judge_milestone(actor: User, milestone_id: int, verdict: str, opinion: str,
                    ip: str | None = None) -> Milestone:
    """The demand side's or the officer's verdict on a reported milestone, as the
    transition it stands for: ``demand_accept`` or ``officer_accept`` for a pass (both
    make its tranche due), ``reject`` for a fail (the second ends the project)."""
    m: Milestone = engine.load("milestone", milestone_id, lock=True)
    party = milestone_party(actor, m.application)
    if party is None:
        raise Forbidden("只有发榜方或项目主管可以验收里程碑", code="not_party")
    if verdict not in ("pass", "fail"):
        raise Invalid("请选择验收结论：通过或不通过", details={"verdict": "必选"})
    trigger = f"{party}_accept" if verdict == "pass" else "reject"
    engine.fire(m, trigger, actor, comment=opinion, ip=ip, as_role=party)
    return m


def make_milestone_tranche_due(result: FireResult, actor: User | None,
                               ip: str | None) -> None:
    """An accepted milestone: its tranche's condition holds."""
    m: Milestone = result.row
    for t in db.session.scalars(sa.select(Tranche).where(Tranche.milestone_id == m.id)):
        t.milestone_accepted_at = m.accepted_at
    db.session.flush()
    _make_due(m.application, "milestone", m.id)


def end_project_after_rejections(result: FireResult, actor: User | None,
                                 ip: str | None) -> None:
    """The milestone failed for the second time: the project ends (its wind-up cancels
    the unpaid tranches and the open milestones, this one included)."""
    m: Milestone = result.row
    if m.rejections >= MAX_REJECTIONS:
        engine.fire(engine.load("application", m.application_id, lock=True), "terminate",
                    None, ip=ip, comment=f"里程碑“{m.label}”{m.rejections}次验收未通过，项目终止")


def stage_gate(actor: User, challenge_id: int, continuing: list[int], comment: str,
               ip: str | None = None) -> list[int]:
    """赛马: after a stage gate only the selected teams continue; the others end, and
    their later tranches are cancelled. Returns the ids of the teams that stop."""
    from workflow.calls.models import Challenge

    if not stage_gate_keeper(actor):
        raise Forbidden("只有项目主管可以进行赛马阶段评估", code="role_not_allowed")
    challenge = db.session.get(Challenge, challenge_id)
    if challenge is None:
        raise NotFound("榜单不存在")
    comment = (comment or "").strip()
    running = list(db.session.scalars(sa.select(Application.id).where(
        Application.challenge_id == challenge.id,
        Application.state == ApplicationState.in_progress).order_by(Application.id)))
    errors: dict[str, str] = {}
    if len(comment) < 2:
        errors["comment"] = "请填写阶段评估结论"
    # A team that is not at work on this challenge (another challenge's, or one that
    # ended since the page was shown) is refused by name, not dropped in silence.
    others = [i for i in dict.fromkeys(continuing) if i not in running]
    keep = [i for i in running if i in continuing]
    if others:
        errors["continuing"] = "不是本榜单在研的团队：" + "、".join(f"#{i}" for i in others)
    elif not keep:
        errors["continuing"] = "请至少选择一个继续攻关的团队"
    if errors:
        raise Invalid("阶段评估未完成：" + "；".join(errors.values()), details=errors)
    stopped = [i for i in running if i not in keep]
    for app_id in stopped:
        engine.fire(engine.load("application", app_id, lock=True), "terminate", actor, ip=ip,
                    comment=f"赛马阶段评估未入选：{comment}")
    return stopped


def running_teams(call: Any) -> dict[Any, list[Application]]:
    """赛马: the challenges of a call with more than one team still at work."""
    out: dict[Any, list[Application]] = {}
    for ch in getattr(call, "challenges", []):
        teams = list(db.session.scalars(sa.select(Application).where(
            Application.challenge_id == ch.id,
            Application.state == ApplicationState.in_progress).order_by(Application.id)))
        if len(teams) > 1:
            out[ch] = teams
    return out


# ---- the finance queue -------------------------------------------------------------------

def own_organization(actor: User) -> Organization:
    """The organisation whose account ``actor`` keeps: their own, as its administrator
    (a page for administrators: refused to anyone else)."""
    org = db.session.get(Organization, actor.organization_id) \
        if actor.organization_id is not None else None
    if org is None or not bank_account_keeper(actor, org):
        raise Forbidden("只有单位管理员可以维护本单位的收款账户", code="role_not_allowed")
    return org


def read_bank_account(actor: User, org: Organization) -> Organization:
    """The account is read by the organisation's administrator and by those who pay."""
    if not bank_account_reader(actor, org):
        raise Forbidden("只有本单位管理员和财务、主管人员可以查看收款账户", code="not_owner")
    return org


def set_bank_account(actor: User, org: Organization, bank_name: str, account: str,
                     ip: str | None = None) -> Organization:
    """The organisation's account for grants, set by its own administrator. Every
    change is audited (who, when, old → new); a tranche prepared on the old account is
    then refused its check and payment until it is prepared again."""
    if not bank_account_keeper(actor, org):
        raise Forbidden("只有本单位管理员可以维护收款账户", code="not_owner")
    bank_name = (bank_name or "").strip()
    digits = "".join((account or "").split())
    errors: dict[str, str] = {}
    if not 2 <= len(bank_name) <= 100:
        errors["bank_name"] = "请填写开户银行（2至100字）"
    if not (digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 32):
        errors["bank_account"] = "银行账号应为8至32位数字"
    if errors:
        raise Invalid("收款账户有误：" + "；".join(errors.values()), details=errors)
    ch = Changes()
    ch.set(org, "bank_name", bank_name)
    ch.set(org, "bank_account", digits)
    accounts.record_organization_change(org, "change_bank_account", actor, ch, ip)
    db.session.flush()
    return org


# What a tranche shows and its guards read, loaded with it (no query per row).
# What a list of tranches shows and its guards read, in one query each: the project, its
# organisation (the payee), its call (the collective-decision threshold) and its principal
# investigator (whom a sanction may name: the integrity hold).
TRANCHE_LOADS = (selectinload(Tranche.application).selectinload(Application.organization),
                 selectinload(Tranche.application).selectinload(Application.call),
                 selectinload(Tranche.application).selectinload(Application.applicant)
                 .lazyload(User.role_rows))


def tranches_of(app: Application) -> list[Tranche]:
    return list(db.session.scalars(sa.select(Tranche).where(
        Tranche.application_id == app.id).order_by(Tranche.seq)))


# ---- the payee (收款单位及账户) -------------------------------------------------------------

# From preparation on, a tranche is paid to the account on its voucher.
ON_VOUCHER = (TrancheState.prepared, TrancheState.approved, TrancheState.released)


@dataclass(frozen=True)
class Payee:
    organization: str
    bank_name: str
    bank_account: str

    @classmethod
    def of_organization(cls, org: Organization) -> Payee:
        return cls(org.name, org.bank_name or "", org.bank_account or "")

    def as_json(self) -> dict[str, str]:
        return {"organization": self.organization, "bank_name": self.bank_name,
                "bank_account": self.bank_account}


def voucher_payee(t: Tranche) -> Payee | None:
    """The payee the maker checked and the voucher keeps (None before preparation)."""
    if t.state not in ON_VOUCHER or t.payee_account is None:
        return None
    return Payee(t.payee_name or "", t.payee_bank or "", t.payee_account)


def payee_of(t: Tranche) -> Payee:
    """Whom the tranche is (or was) paid to: the voucher's payee from preparation on
    (a released tranche: the account it was paid to, for good), else the organisation's
    account as it stands."""
    return voucher_payee(t) or Payee.of_organization(t.application.organization)


def payee_changed(t: Tranche) -> bool:
    """A prepared or approved tranche whose organisation's account (or name) is no longer
    what the voucher was made out to."""
    on_voucher = voucher_payee(t)
    return (on_voucher is not None and t.state is not TrancheState.released
            and on_voucher != Payee.of_organization(t.application.organization))


def snapshot_payee(t: Tranche, ch: Changes) -> None:
    """The maker's check: the organisation's account as it stands goes on the voucher."""
    payee = Payee.of_organization(t.application.organization)
    ch.set(t, "payee_name", payee.organization)
    ch.set(t, "payee_bank", payee.bank_name)
    ch.set(t, "payee_account", payee.bank_account)


# The states whose triggers a sanction's hold stops (the others need not read the holds).
MAY_BE_HELD = (TrancheState.due, TrancheState.prepared, TrancheState.approved,
               TrancheState.on_hold)
# The payee changes of a page's tranches (the ids read, what was found), read once
# (``queue_page``) for the guards of every row.
_KNOWN_CHANGES: ContextVar[tuple[frozenset[int], dict[int, AuditEvent]] | None] = \
    ContextVar("payee_changes_known", default=None)


def payee_changes(tranches: list[Tranche]) -> dict[int, AuditEvent]:
    """For each tranche, the latest recorded change of its organisation's account (who
    and when), for the queue and the tranche's page; one query."""
    known = _KNOWN_CHANGES.get()
    if known is not None and all(t.id in known[0] for t in tranches):
        return {t.id: known[1][t.id] for t in tranches if t.id in known[1]}
    orgs = {t.id: t.application.organization_id for t in tranches}
    last = accounts.last_payee_changes(list(orgs.values()))
    return {tid: last[org_id] for tid, org_id in orgs.items() if org_id in last}


@dataclass(frozen=True)
class QueuePage:
    options: dict[int, list[Any]]   # tranche id -> engine.options
    changes: dict[int, AuditEvent]  # tranche id -> latest change of its payee's account


def queue_page(rows: list[Tranche], user: User,
               answered: frozenset[str] = frozenset()) -> QueuePage:
    """What the finance queue shows beside a page of tranches: each one's options (its
    guards answered from one reading of the page's holds and payee changes, not a query
    per row) and the latest change of each payee's account."""
    from workflow.finance.sanctions import holds_known

    changes = payee_changes(rows)
    token = _KNOWN_CHANGES.set((frozenset(t.id for t in rows), changes))
    try:
        with holds_known(t.application for t in rows if t.state in MAY_BE_HELD):
            options = {t.id: engine.options(t, user, answered=answered) for t in rows}
    finally:
        _KNOWN_CHANGES.reset(token)
    return QueuePage(options, changes)


def account_change_text(change: AuditEvent) -> str:
    """"收款账户已于 2026-12-20 14:03 由 赵主任 变更" (or 登记, the first time)."""
    changes = (change.data or {}).get("changes", {})
    bank = [changes[k] for k in ("bank_name", "bank_account") if k in changes]
    first = bool(bank) and all(not old for old, _new in bank)
    return (f"收款账户已于 {local_time(change.at)} 由 {change.actor_name} "
            f"{'登记' if first else '变更'}")


@dataclass(frozen=True)
class PayeeNote:
    text: str
    stale: bool  # the voucher's account is no longer the organisation's: prepare again


def payee_note(t: Tranche, change: AuditEvent | None) -> PayeeNote | None:
    """What finance reads beside a tranche's payee: that the account changed since the
    voucher was made (the check and the payment are refused), or when it last changed.
    Nothing for a released tranche: it shows the account it was paid to."""
    if payee_changed(t):
        when = account_change_text(change) if change else "收款账户已变更"
        return PayeeNote(f"{when}，与制单时核对的账户不一致，须按变更后的账户重新制单",
                         stale=True)
    if change is None or t.state is TrancheState.released:
        return None
    return PayeeNote(account_change_text(change), stale=False)


def payee_heading(t: Tranche) -> str:
    if t.state is TrancheState.released:
        return "拨付至（实际收款账户）"
    if voucher_payee(t) is not None:
        return "收款账户（制单时核对，记入凭证）"
    return "收款账户（单位现登记，制单时核对并记入凭证）"


def payee_history(t: Tranche) -> list[AuditEvent]:
    """The recorded changes of where the tranche's organisation is paid, newest first: up
    to the payment for a released tranche (what was known when it was paid)."""
    rows = accounts.organization_history(t.application.organization_id, payee_only=True)
    if t.released_at is not None:
        rows = [ev for ev in rows if ev.at <= t.released_at]
    return list(reversed(rows))


def tranche_json(t: Tranche, *, payee: bool = True, change: AuditEvent | None = None,
                 hold: str | Literal[False] | None = False) -> dict[str, Any]:
    """A tranche as the API gives it; ``payee``: with whom it is paid to (the voucher's
    account from preparation on); ``change``: the latest recorded change of the
    organisation's account, if the caller has it (else read here); ``hold``: why its
    project's tranches are held (``sanctions.hold_texts``), if the caller has it."""
    app = t.application
    out: dict[str, Any] = {
        "id": t.id, "application_id": app.id, "project_number": app.project_number,
        "project": app.title, "seq": t.seq, "label": t.label, "condition": t.condition,
        "amount_wan": format_wan(t.amount), "amount_capital": capital(t.amount),
        "state": t.state.value, "state_label": t.state.label, "version": t.version,
        "payment_ref": t.payment_ref, "released_at": t.released_at.isoformat()
        if t.released_at else None,
        "integrity_hold": None if t.state in (TrancheState.released, TrancheState.cancelled)
        else hold_text(app) if hold is False else hold}
    if payee:
        out["payee"] = payee_of(t).as_json()
        out["payee_on_voucher"] = voucher_payee(t) is not None
        changed = payee_changed(t)
        if changed and change is None:
            change = payee_changes([t]).get(t.id)
        out["payee_changed"] = None if not changed else {
            "at": change.at.isoformat() if change else None,
            "by": change.actor_name if change else None,
            "current": Payee.of_organization(app.organization).as_json()}
    return out
