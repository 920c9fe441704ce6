"""The rules of finance that ``states/`` names: guards and effects of the tranches and of
the milestones of 揭榜挂帅 projects."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from forms import format_wan
from states import (
    DEMAND_SIDE,
    MILESTONE,
    PAYEE_CHANGED,
    SYSTEM,
    TRANCHE,
    ApplicationState,
    MilestoneState,
)
from states.lifecycles import RUNNING
from workflow.applying.models import Application
from workflow.applying.visibility import can_read_application, on_challenges_of
from workflow.calls.rules import bureau_owned, bureau_owner
from workflow.core import numbering
from workflow.core.entities import Entity
from workflow.core.models import Attachment, db
from workflow.core.registry import Rules
from workflow.core.rules import Changes, GuardContext, Reason, refuse
from workflow.finance import operations
from workflow.finance.models import Milestone, Tranche
from workflow.finance.operations import (
    Payee,
    account_change_text,
    needs_decision_ref,
    payee_changed,
    payee_changes,
    snapshot_payee,
    voucher_payee,
)
from workflow.permissions import (
    bureau_reader,
    demand_side,
    money_reader,
    organization_member,
    principal_investigator,
)


def tranche_condition_met(ctx: GuardContext) -> list[Reason]:
    tranche: Tranche = ctx.row
    state = tranche.application.state
    after_contract = (*RUNNING[1:], ApplicationState.completed)
    if tranche.condition == "contract" and state not in after_contract:
        return refuse("contract_pending", "任务书尚未签订")
    if tranche.condition == "milestone" and tranche.milestone_accepted_at is None:
        return refuse("milestone_pending", "对应里程碑尚未验收通过")
    if tranche.condition == "acceptance" and state is not ApplicationState.completed:
        return refuse("acceptance_pending", "项目尚未通过结题验收")
    return []


def payee_account_known(ctx: GuardContext) -> list[Reason]:
    org = ctx.row.application.organization
    if not (org.bank_name and org.bank_account):
        return refuse("payee_account_missing",
                      f"承担单位“{org.name}”尚未登记收款账户，请单位管理员先登记")
    return []


def _account(payee: Payee) -> str:
    return f"{payee.organization}，{payee.bank_name}，账号尾号{payee.bank_account[-4:]}"


def payee_unchanged(ctx: GuardContext) -> list[Reason]:
    """The money goes to the account that was checked: an account (or name) changed
    since the voucher was made refuses the check and the payment, as a conflict."""
    tranche: Tranche = ctx.row
    voucher = voucher_payee(tranche)
    if voucher is None or not payee_changed(tranche):
        return []
    now = Payee.of_organization(tranche.application.organization)
    change = payee_changes([tranche]).get(tranche.id)
    when = account_change_text(change) if change else "收款账户已变更"
    doing = {"approve": "审核", "release": "拨付"}.get(ctx.trigger, "办理")
    return refuse("payee_changed",
                  f"{when}，与制单时核对的账户不一致（制单时：{_account(voucher)}；"
                  f"现为：{_account(now)}），不能{doing}。请核实后“按变更后的收款账户重新制单”，"
                  "再由另一位财务人员审核", status=409)


def checker_not_maker(ctx: GuardContext) -> list[Reason]:
    tranche: Tranche = ctx.row
    if ctx.actor is not None and ctx.actor.id == tranche.prepared_by_id:
        return refuse("maker_is_checker", "制单人不能审核自己制的单，请由另一位财务人员审核")
    return []


def collective_decision_recorded(ctx: GuardContext) -> list[Reason]:
    tranche: Tranche = ctx.row
    ref = ctx.text("decision_ref") or (tranche.decision_ref or "").strip()
    if needs_decision_ref(tranche) and not ref:
        return refuse("collective_decision_missing",
                      "金额达到“三重一大”标准，请先录入集体决策会议纪要编号")
    return []


def payment_reference_given(ctx: GuardContext) -> list[Reason]:
    if not ctx.text("payment_ref"):
        return refuse("payment_ref_missing", "请填写支付凭证号")
    return []


def within_grant(ctx: GuardContext) -> list[Reason]:
    tranche: Tranche = ctx.row
    app = tranche.application
    grant = app.granted_amount
    if grant is None or (app.disbursed or Decimal(0)) + tranche.amount > grant:
        return refuse("over_grant",
                      f"拨付后累计金额将超过立项资助额（已拨付 {format_wan(app.disbursed)} 万元，"
                      f"资助额 {format_wan(grant)} 万元）")
    return []


def record_maker(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "prepared_by_id", ctx.actor.id if ctx.actor else None)
    snapshot_payee(ctx.row, ch)
    # A new voucher needs a new check: an approval given before a hold lapses.
    ch.set(ctx.row, "approved_by_id", None)


def record_checker(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "approved_by_id", ctx.actor.id if ctx.actor else None)
    if ctx.text("decision_ref"):
        ch.set(ctx.row, "decision_ref", ctx.text("decision_ref")[:100])


PAYMENT_NOTICE = "tranche.payment_notice"  # the 拨付通知 is numbered: render it


def record_release(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "payment_ref", ctx.text("payment_ref")[:100])
    ch.set(ctx.row, "released_at", ctx.now)
    # The 拨付通知 is issued with the release: its 发文字号 taken now, or awaited.
    numbering.issue("payment_notice", "tranche", ctx.row.id, ctx.now, topic=PAYMENT_NOTICE,
                    subject=f"关于拨付“{ctx.row.application.title}”项目经费的通知"
                            f"（{ctx.row.label}）")


def can_view_tranche(user: Any, tranche: Tranche) -> bool:
    return (money_reader(user, tranche) or bureau_reader(user, tranche)
            or organization_member(user, tranche.application))


# ---- milestones (揭榜挂帅) ----------------------------------------------------------------

MIN_MILESTONE_REPORT = 10


def project_in_progress(ctx: GuardContext) -> list[Reason]:
    app = ctx.row.application
    if app.state is not ApplicationState.in_progress:
        return refuse("project_not_running", f"项目当前为“{app.state.label}”，不能提交里程碑")
    return []


def milestone_report_given(ctx: GuardContext) -> list[Reason]:
    if len(ctx.text("report")) < MIN_MILESTONE_REPORT:
        return refuse("report_too_short",
                      f"请写明里程碑完成情况（不少于{MIN_MILESTONE_REPORT}字）")
    return []


def evidence_on_file(ctx: GuardContext) -> list[Reason]:
    """The evidence named in the report is what the team uploaded to this project."""
    given = ctx.data.get("evidence") or []
    if not isinstance(given, list) or not all(isinstance(sha, str) for sha in given):
        return refuse("evidence_invalid", "佐证材料应为已上传附件的 SHA-256 列表")
    if not given:
        return []
    known = set(db.session.scalars(sa.select(Attachment.sha256).where(
        Attachment.application_id == ctx.row.application_id, Attachment.sha256.in_(given))))
    missing = [sha for sha in given if sha not in known]
    if missing:
        return refuse("evidence_unknown", f"有 {len(missing)} 份佐证材料不是本项目已上传的附件")
    return []


def record_milestone_report(ctx: GuardContext, ch: Changes) -> None:
    m: Milestone = ctx.row
    ch.set(m, "report", ctx.text("report")[:20000])
    ch.set(m, "evidence", [*(m.evidence or []), *(ctx.data.get("evidence") or [])])
    ch.set(m, "reported_at", ctx.now)
    # A new report is judged anew by both parties.
    ch.set(m, "demand_verdict", None)
    ch.set(m, "officer_verdict", None)


def record_milestone_verdict(ctx: GuardContext, ch: Changes) -> None:
    """The acting party's verdict (``ctx.role``: demand or officer) and opinion; the
    rejection counted, the acceptance stamped."""
    m: Milestone = ctx.row
    rejected = m.state is MilestoneState.rejected
    ch.set(m, f"{ctx.role}_verdict", "fail" if rejected else "pass")
    ch.set(m, f"{ctx.role}_opinion", ctx.comment[:5000])
    if rejected:
        ch.set(m, "rejections", (m.rejections or 0) + 1)
    elif m.state is MilestoneState.accepted:
        ch.set(m, "accepted_at", ctx.now)


def milestone_owner(user: Any, role: str, m: Milestone) -> bool:
    """The team reports its own milestones; the demand side judges those of its own
    challenge; the bureau's officer any."""
    if role in (SYSTEM, "officer"):
        return True
    if user is None:
        return False
    if role == "applicant":
        return principal_investigator(user, m.application)
    if role == "demand":
        return demand_side(user, m.application)
    return False


def milestone_owned(user: Any, role: str) -> sa.ColumnElement[bool] | None:
    """``milestone_owner`` as a query."""
    if role == "officer":
        return sa.true()
    if role == "applicant":
        return Milestone.application_id.in_(
            sa.select(Application.id).where(Application.applicant_id == user.id))
    if role == "demand" and user.organization_id is not None:
        return Milestone.application_id.in_(
            sa.select(Application.id).where(on_challenges_of(user.organization_id)))
    return None


def can_view_milestone(user: Any, m: Milestone) -> bool:
    """Whoever reads the project reads its milestones (a colleague who sees only its
    heading does not)."""
    return can_read_application(user, m.application)


def milestone_steps(m: Milestone) -> frozenset[str]:
    return frozenset({DEMAND_SIDE}) if m.application.challenge_id is not None else frozenset()


def _project(app: Application) -> str:
    return app.project_number or f"“{app.title}”"


def tranche_name(t: Tranche) -> str:
    """"GZKJ-2026-BG-0003 合同签订后拨付 56.00万元"."""
    return f"{_project(t.application)} {t.label} {format_wan(t.amount)}万元"


MILESTONE_ENTITY = Entity("milestone", Milestone, MILESTONE, milestone_owner,
                          can_view_milestone, "里程碑", "milestones", steps=milestone_steps,
                          parent=("application", "application_id"), owned=milestone_owned,
                          name=lambda m: f"{_project(m.application)} 里程碑{m.seq}：{m.label}")

def tranche_steps(tranche: Tranche) -> frozenset[str]:
    """The call's steps, and ``payee_changed`` while the voucher's account is stale."""
    steps = tranche.application.call.enabled_steps
    return steps | {PAYEE_CHANGED} if payee_changed(tranche) else steps


TRANCHE_ENTITY = Entity("tranche", Tranche, TRANCHE, bureau_owner, can_view_tranche,
                        "拨付批次", "tranches", steps=tranche_steps,
                        parent=("application", "application_id"), owned=bureau_owned,
                        name=tranche_name)

RULES = Rules(
    entities=(TRANCHE_ENTITY, MILESTONE_ENTITY),
    guards={
        "tranche_condition_met": tranche_condition_met,
        "payee_account_known": payee_account_known,
        "payee_unchanged": payee_unchanged,
        "checker_not_maker": checker_not_maker,
        "collective_decision_recorded": collective_decision_recorded,
        "payment_reference_given": payment_reference_given,
        "within_grant": within_grant,
        "project_in_progress": project_in_progress,
        "milestone_report_given": milestone_report_given,
        "evidence_on_file": evidence_on_file,
    },
    follow_ups={
        "commit_grant": operations.commit_grant,
        "plan_tranches": operations.plan_contracted_tranches,
        "settle_completion": operations.settle_completion,
        "wind_up": operations.wind_up,
        "post_disbursement": operations.post_disbursement,
        "return_commitment": operations.return_commitment,
        "make_milestone_tranche_due": operations.make_milestone_tranche_due,
        "end_project_after_rejections": operations.end_project_after_rejections,
    },
    effects={
        "record_maker": record_maker,
        "record_checker": record_checker,
        "record_release": record_release,
        "record_milestone_report": record_milestone_report,
        "record_milestone_verdict": record_milestone_verdict,
    },
)
