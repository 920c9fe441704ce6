"""The rules of finance that ``states/`` names: guards and effects."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from forms import format_wan
from states import TRANCHE, ApplicationState
from states.lifecycles import RUNNING
from workflow.calls.rules import bureau_owned, bureau_owner
from workflow.core.entities import Entity
from workflow.core.registry import Rules
from workflow.core.rules import Changes, GuardContext, Reason, refuse
from workflow.finance import operations
from workflow.finance.models import Tranche
from workflow.finance.operations import needs_decision_ref
from workflow.permissions import bureau_reader, money_reader, organization_member


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
    # A new voucher needs a new check: an approval given before a hold lapses.
    ch.set(ctx.row, "approved_by_id", None)


def record_checker(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "approved_by_id", ctx.actor.id if ctx.actor else None)
    if ctx.text("decision_ref"):
        ch.set(ctx.row, "decision_ref", ctx.text("decision_ref")[:100])


def record_release(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "payment_ref", ctx.text("payment_ref")[:100])
    ch.set(ctx.row, "released_at", ctx.now)


def can_view_tranche(user: Any, tranche: Tranche) -> bool:
    return (money_reader(user, tranche) or bureau_reader(user, tranche)
            or organization_member(user, tranche.application))


TRANCHE_ENTITY = Entity("tranche", Tranche, TRANCHE, bureau_owner, can_view_tranche,
                        "拨付批次", "tranches",
                        steps=lambda tranche: tranche.application.call.enabled_steps,
                        parent=("application", "application_id"), owned=bureau_owned)

RULES = Rules(
    entities=(TRANCHE_ENTITY,),
    guards={
        "tranche_condition_met": tranche_condition_met,
        "payee_account_known": payee_account_known,
        "checker_not_maker": checker_not_maker,
        "collective_decision_recorded": collective_decision_recorded,
        "payment_reference_given": payment_reference_given,
        "within_grant": within_grant,
    },
    follow_ups={
        "commit_grant": operations.commit_grant,
        "plan_tranches": operations.plan_contracted_tranches,
        "settle_completion": operations.settle_completion,
        "wind_up": operations.wind_up,
        "post_disbursement": operations.post_disbursement,
        "return_commitment": operations.return_commitment,
    },
    effects={
        "record_maker": record_maker,
        "record_checker": record_checker,
        "record_release": record_release,
    },
)
