"""The rules of calls that ``states/`` names: guards and effects."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from states import CALL, SYSTEM
from workflow.calls.models import Call, Scheme
from workflow.calls.visibility import can_view_call
from workflow.core.entities import Entity
from workflow.core.registry import Rules
from workflow.core.rules import GuardContext, Reason, refuse


def call_complete(ctx: GuardContext) -> list[Reason]:
    """Everything a call needs before it is published, each missing item by name."""
    call: Call = ctx.row
    out: list[Reason] = []
    if not call.title.strip():
        out += refuse("title_missing", "请填写指南名称")
    if not (call.guide or "").strip():
        out += refuse("guide_missing", "请填写申报指南正文")
    if call.budget is None or call.budget <= 0:
        out += refuse("budget_missing", "请填写大于零的总预算")
    if call.opens_at is None:
        out += refuse("opens_missing", "请填写开始时间")
    if call.closes_at is None:
        out += refuse("closes_missing", "请填写截止时间")
    elif call.opens_at is not None and call.closes_at <= call.opens_at:
        out += refuse("dates_invalid", "截止时间必须晚于开始时间")
    elif call.closes_at <= ctx.now:
        out += refuse("closes_in_past", "截止时间已过，请调整申报时间")
    if not call.form_schema:
        out += refuse("form_missing", "请设置申报书表单")
    weights = sum(Decimal(str(c.get("weight", 0))) for c in call.rubric or [])
    if not call.rubric:
        out += refuse("rubric_invalid", "请设置评分标准（各项权重之和为100）")
    elif weights != 100:
        out += refuse("rubric_invalid", f"评分标准各项权重之和应为100（当前为{weights}）")
    if call.scheme is Scheme.jiebang and not call.challenges:
        out += refuse("no_challenges", "揭榜挂帅批次至少需要一个榜单")
    return out


def call_deadline_passed(ctx: GuardContext) -> list[Reason]:
    call: Call = ctx.row
    if ctx.role != "system" and (ctx.text("early_close_reason") or ctx.comment):
        return []  # an officer may close early, saying why (recorded with the change)
    if call.closes_at is not None and ctx.now < call.closes_at:
        return refuse("deadline_not_reached", "尚未到截止时间；如需提前截止，请填写理由")
    return []


BUREAU_STAFF = ("officer", "leader", "finance")


def bureau_owner(_user: Any, role: str, _row: Any) -> bool:
    """Rows of the bureau's own (calls, tranches): its staff act on all of them."""
    return role == SYSTEM or role in BUREAU_STAFF


def bureau_owned(_user: Any, role: str) -> sa.ColumnElement[bool] | None:
    """``bureau_owner`` as a query."""
    return sa.true() if role in BUREAU_STAFF else None


CALL_ENTITY = Entity("call", Call, CALL, bureau_owner, can_view_call, "申报指南", "calls",
                     steps=lambda call: call.enabled_steps, owned=bureau_owned,
                     name=lambda call: str(call.title))

RULES = Rules(
    entities=(CALL_ENTITY,),
    guards={
        "call_complete": call_complete,
        "call_deadline_passed": call_deadline_passed,
    },
)
