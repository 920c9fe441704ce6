"""The guards named in ``states/``: each returns the reasons it refuses, in Chinese.

A guard gets a ``GuardContext`` and returns a list of ``Reason`` (empty when it
passes). The engine runs every guard of a transition and reports every reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from difflib import SequenceMatcher
from typing import Any

import sqlalchemy as sa

from forms import format_wan
from forms.schema import required_missing
from states import ApplicationState, CallState, ReviewState
from states.lifecycles import RUNNING
from workflow.accounts.models import Sanction, User
from workflow.applying.models import Application
from workflow.calls.models import Call, Scheme
from workflow.core.models import db
from workflow.decisions.models import DecisionState, FundingDecision, Objection, ObjectionState
from workflow.finance.models import Tranche
from workflow.review.models import ReviewAssignment
from workflow.timeutil import SHANGHAI


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class GuardContext:
    row: Any
    actor: User | None
    role: str
    comment: str
    data: dict[str, Any]
    now: datetime
    steps: frozenset[str] = field(default_factory=frozenset)

    def text(self, key: str) -> str:
        """A text the caller sent in ``data`` (anything but a string counts as absent)."""
        value = self.data.get(key)
        return value.strip() if isinstance(value, str) else ""


Guard = Callable[[GuardContext], list[Reason]]
GUARDS: dict[str, Guard] = {}


def guard(name: str) -> Callable[[Guard], Guard]:
    def register(fn: Guard) -> Guard:
        GUARDS[name] = fn
        return fn

    return register


def refuse(code: str, message: str) -> list[Reason]:
    return [Reason(code, message)]


# ---- shared -----------------------------------------------------------------------------

MIN_COMMENT = 2


@guard("comment_given")
def comment_given(ctx: GuardContext) -> list[Reason]:
    if len((ctx.comment or "").strip()) < MIN_COMMENT:
        return refuse("comment_required", "请填写意见或理由")
    return []


# ---- call -------------------------------------------------------------------------------

@guard("call_complete")
def call_complete(ctx: GuardContext) -> list[Reason]:
    call: Call = ctx.row
    out: list[Reason] = []
    if not call.title.strip():
        out += refuse("title_missing", "请填写指南名称")
    if not (call.guide or "").strip():
        out += refuse("guide_missing", "请填写申报指南正文")
    if call.budget is None or call.budget <= 0:
        out += refuse("budget_missing", "请填写大于零的总预算")
    if call.closes_at <= call.opens_at:
        out += refuse("dates_invalid", "截止时间必须晚于开始时间")
    elif call.closes_at <= ctx.now:
        out += refuse("closes_in_past", "截止时间已过，请调整申报时间")
    if not call.form_schema:
        out += refuse("form_missing", "请设置申报书表单")
    weights = sum(Decimal(str(c.get("weight", 0))) for c in call.rubric or [])
    if not call.rubric or weights != 100:
        out += refuse("rubric_invalid", f"评分标准各项权重之和应为100（当前为{weights}）")
    if call.scheme is Scheme.jiebang and not call.challenges:
        out += refuse("no_challenges", "揭榜挂帅批次至少需要一个榜单")
    return out


@guard("call_deadline_passed")
def call_deadline_passed(ctx: GuardContext) -> list[Reason]:
    call: Call = ctx.row
    if ctx.role != "system" and (ctx.text("early_close_reason") or ctx.comment):
        return []  # an officer may close early, saying why (recorded with the change)
    if ctx.now < call.closes_at:
        return refuse("deadline_not_reached", "尚未到截止时间；如需提前截止，请填写理由")
    return []


# ---- application ------------------------------------------------------------------------

@guard("call_open")
def call_open(ctx: GuardContext) -> list[Reason]:
    call: Call = ctx.row.call
    if call.state is not CallState.published:
        return refuse("call_not_open", "该指南未在受理期")
    if ctx.now < call.opens_at:
        return refuse("call_not_started", "申报尚未开始")
    if ctx.now >= call.closes_at:
        return refuse("call_closed", "申报已截止，不能再提交")
    return []


@guard("call_accepts_resubmission")
def call_accepts_resubmission(ctx: GuardContext) -> list[Reason]:
    # A returned application may be revised after the deadline, while the call runs.
    call: Call = ctx.row.call
    if call.state not in (CallState.published, CallState.closed, CallState.reviewing):
        return refuse("call_finished", "该批次已结束，不能再修改提交")
    return []


def _missing_required(app: Application) -> list[str]:
    from workflow.calls.operations import form_fields

    return required_missing(form_fields(app.call, app.form_version), app.data or {})


@guard("form_complete")
def form_complete(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    out: list[Reason] = []
    if not (app.title or "").strip():
        out += refuse("title_missing", "请填写项目名称")
    missing = _missing_required(app)
    if missing:
        out += refuse("fields_missing", "以下必填项未填写：" + "、".join(missing))
    if app.call.scheme is Scheme.jiebang and app.challenge_id is None:
        out += refuse("challenge_missing", "请选择要揭的榜单")
    return out


@guard("signed")
def signed(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    data = app.data or {}
    if app.call.scheme is Scheme.baogan:
        if not (data.get("commitment") or {}).get("signed_at"):
            return refuse("commitment_unsigned", "请阅读并签署科研诚信承诺书（含负面清单）")
    elif not (data.get("pledge") or {}).get("signed_at"):
        return refuse("pledge_unsigned", "请签署揭榜军令状")
    return []


LIVE_STATES = tuple(s for s in ApplicationState if s not in (
    ApplicationState.draft, ApplicationState.withdrawn, ApplicationState.rejected,
    ApplicationState.not_funded, ApplicationState.completed, ApplicationState.failed,
    ApplicationState.terminated))


@guard("within_limits")
def within_limits(ctx: GuardContext) -> list[Reason]:
    """限项: one application per PI per call; at most N running projects per PI."""
    app: Application = ctx.row
    out: list[Reason] = []
    same_call = db.session.scalar(
        sa.select(sa.func.count()).select_from(Application).where(
            Application.call_id == app.call_id, Application.applicant_id == app.applicant_id,
            Application.id != app.id, Application.state.in_(LIVE_STATES)))
    if same_call:
        out += refuse("limit_per_call", "同一负责人在本批次只能主持申报一个项目（限项）")
    running = db.session.scalar(
        sa.select(sa.func.count()).select_from(Application).where(
            Application.applicant_id == app.applicant_id, Application.id != app.id,
            Application.state.in_(RUNNING))) or 0
    if running >= app.call.max_running_projects:
        out += refuse("limit_running",
                      f"负责人在研项目已达{app.call.max_running_projects}项上限（限项）")
    return out


@guard("integrity_clear")
def integrity_clear(ctx: GuardContext) -> list[Reason]:
    """科研失信: neither the principal investigator nor the organisation is sanctioned."""
    app: Application = ctx.row
    today = ctx.now.astimezone(SHANGHAI).date()
    pi, org = app.applicant, app.organization
    out: list[Reason] = []
    for sanction in db.session.scalars(sa.select(Sanction).where(
            Sanction.starts_on <= today, Sanction.ends_on >= today,
            sa.or_(sa.and_(Sanction.subject == "person", Sanction.id_number == pi.id_number,
                           Sanction.id_number.is_not(None)),
                   sa.and_(Sanction.subject == "org", Sanction.uscc == org.uscc)))):
        who = f"项目负责人{pi.name}" if sanction.subject == "person" else f"申报单位{org.name}"
        out += refuse("integrity_sanction",
                      f"{who}在科研失信处理期内（至{sanction.ends_on.isoformat()}），不能申报")
    return out


def _normal(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


NEAR_IDENTICAL = 0.9


@guard("not_duplicate")
def not_duplicate(ctx: GuardContext) -> list[Reason]:
    """一题多报: the same title in the same year, or the same principal investigator with
    near-identical content in the same year."""
    app: Application = ctx.row
    others = db.session.scalars(sa.select(Application).join(Call).where(
        Application.id != app.id, Call.year == app.call.year,
        Application.state.in_(LIVE_STATES)))
    title = _normal(app.title)
    text = _normal(json.dumps(app.data.get("summary", ""), ensure_ascii=False))
    out: list[Reason] = []
    for other in others:
        if _normal(other.title) == title:
            out += refuse("duplicate_title", f"与本年度已申报的“{other.title}”"
                          f"（{other.receipt_no or other.id}）题目相同（一题多报）")
        elif other.applicant_id == app.applicant_id and text:
            other_text = _normal(json.dumps(other.data.get("summary", ""),
                                            ensure_ascii=False))
            if SequenceMatcher(None, text, other_text).ratio() >= NEAR_IDENTICAL:
                out += refuse("duplicate_content", f"与同一负责人本年度已申报的“{other.title}”"
                              "内容高度相似（一题多报）")
    return out


@guard("eligible")
def eligible(ctx: GuardContext) -> list[Reason]:
    """Everything checked before formal review, each with its reason."""
    return within_limits(ctx) + not_duplicate(ctx) + integrity_clear(ctx)


def _active_reviews(app: Application) -> list[ReviewAssignment]:
    return list(db.session.scalars(sa.select(ReviewAssignment).where(
        ReviewAssignment.application_id == app.id,
        ReviewAssignment.state.in_([ReviewState.invited, ReviewState.accepted,
                                    ReviewState.submitted]))))


@guard("reviews_complete")
def reviews_complete(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    reviews = _active_reviews(app)
    done = sum(1 for r in reviews if r.state is ReviewState.submitted)
    pending = len(reviews) - done
    needed = app.call.reviewers_per_application
    override = ctx.text("override_reason") or ctx.comment
    if ctx.role == "officer" and override:
        # The officer may move on before every review is in, saying why.
        return [] if done else refuse("no_scores", "至少需要一份专家评分")
    out: list[Reason] = []
    if pending:
        out += refuse("reviews_pending", f"还有{pending}份评审未提交")
    if done < needed:
        out += refuse("too_few_reviews", f"已提交{done}份评审，少于要求的{needed}份"
                      "（如需强制完成，请填写理由）")
    return out


@guard("defence_scored")
def defence_scored(ctx: GuardContext) -> list[Reason]:
    score = ctx.data.get("defence_score", (ctx.row.data or {}).get("defence_score"))
    try:
        ok = score is not None and 0 <= Decimal(str(score)) <= 100
    except ArithmeticError:
        ok = False
    return [] if ok else refuse("defence_unscored", "请录入0-100之间的答辩得分")


@guard("decision_approved")
def decision_approved(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    if app.call.state is not CallState.decided:
        return refuse("decision_pending", "立项建议名单尚未经领导审定")
    return []


@guard("objection_real_name")
def objection_real_name(ctx: GuardContext) -> list[Reason]:
    out: list[Reason] = []
    if not ctx.text("objector_name"):
        out += refuse("anonymous_objection", "异议须实名提出：请填写异议人姓名")
    if not ctx.text("objector_contact"):
        out += refuse("objection_contact_missing", "请填写异议人联系方式")
    if len((ctx.comment or "").strip()) < MIN_COMMENT:
        out += refuse("objection_text_missing", "请填写书面异议内容")
    return out


@guard("notice_period_over")
def notice_period_over(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    if app.notice_ends_at is None or ctx.now < app.notice_ends_at:
        return refuse("notice_running", "公示期尚未结束")
    return []


@guard("no_open_objection")
def no_open_objection(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    still_open = db.session.scalar(sa.select(sa.func.count(Objection.id)).where(
        Objection.application_id == app.id, Objection.state == ObjectionState.open))
    if still_open:
        return refuse("objection_open", f"尚有 {still_open} 件异议未处理")
    return []


@guard("decision_ready")
def decision_ready(ctx: GuardContext) -> list[Reason]:
    call: Call = ctx.row
    decision = db.session.scalar(sa.select(FundingDecision).where(
        FundingDecision.call_id == call.id, FundingDecision.state == DecisionState.proposed))
    if decision is None:
        return refuse("no_decision", "尚无待审定的立项建议名单，请项目主管先拟定名单")
    threshold = call.collective_threshold
    if threshold is not None and decision.total >= threshold and not decision.has_meeting:
        return refuse("meeting_missing",
                      f"拟资助总额 {format_wan(decision.total)} 万元达到“三重一大”集体决策标准"
                      f"（{format_wan(threshold)} 万元），须先登记会议名称、日期、参会人员、"
                      "纪要文号并上传会议纪要")
    return []


@guard("contract_signed")
def contract_signed(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    # The officer signs for the bureau now; the team and the demand side have signed
    # the task book themselves before (applications.sign_task_book).
    signed_by = set((app.data or {}).get("contract", {}).get("signed_by", [])) | {"bureau"}
    needed = {"bureau", "team"} | ({"demand"} if app.call.scheme is Scheme.jiebang else set())
    missing = needed - signed_by
    names = {"bureau": "市科技局", "team": "项目承担方", "demand": "发榜方"}
    if missing:
        return refuse("contract_unsigned",
                      "任务书尚缺签署方：" + "、".join(names[m] for m in sorted(missing)))
    return []


@guard("final_report_given")
def final_report_given(ctx: GuardContext) -> list[Reason]:
    if not (ctx.row.data or {}).get("final_report"):
        return refuse("final_report_missing", "请先提交结题报告及佐证材料")
    return []


@guard("demand_accepted")
def demand_accepted(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    if app.challenge is None:
        return []
    verdict = (app.data or {}).get("demand_acceptance", {}).get("verdict")
    if verdict != "pass":
        return refuse("demand_acceptance_missing",
                      "揭榜挂帅项目须发榜方验收通过" if verdict == "fail"
                      else "请先由发榜方录入验收意见")
    return []


@guard("acceptance_recorded")
def acceptance_recorded(ctx: GuardContext) -> list[Reason]:
    verdict = ctx.text("verdict") or (ctx.row.data or {}).get("acceptance", {}).get("verdict")
    if verdict != "pass":
        return refuse("acceptance_missing", "请先录入验收结论（含专家意见）")
    return []


# ---- review -----------------------------------------------------------------------------

@guard("invitation_overdue")
def invitation_overdue(ctx: GuardContext) -> list[Reason]:
    review: ReviewAssignment = ctx.row
    if review.respond_by is None or ctx.now < review.respond_by:
        return refuse("invitation_running", "邀请尚未过期")
    return []


MIN_REVIEW_COMMENT = 20


@guard("scores_complete")
def scores_complete(ctx: GuardContext) -> list[Reason]:
    review: ReviewAssignment = ctx.row
    out: list[Reason] = []
    scores = review.scores or {}
    for crit in review.application.call.rubric or []:
        value = scores.get(crit["name"])
        try:
            ok = value is not None and 0 <= Decimal(str(value)) <= Decimal(str(crit["max"]))
        except ArithmeticError:
            ok = False
        if not ok:
            out += refuse("score_missing", f"“{crit['label']}”应在0至{crit['max']}分之间")
    if len((review.comment or "").strip()) < MIN_REVIEW_COMMENT:
        out += refuse("comment_too_short", f"综合评价意见不少于{MIN_REVIEW_COMMENT}字")
    return out


# ---- tranche ----------------------------------------------------------------------------

@guard("tranche_condition_met")
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


@guard("payee_account_known")
def payee_account_known(ctx: GuardContext) -> list[Reason]:
    org = ctx.row.application.organization
    if not (org.bank_name and org.bank_account):
        return refuse("payee_account_missing",
                      f"承担单位“{org.name}”尚未登记收款账户，请单位管理员先登记")
    return []


@guard("checker_not_maker")
def checker_not_maker(ctx: GuardContext) -> list[Reason]:
    tranche: Tranche = ctx.row
    if ctx.actor is not None and ctx.actor.id == tranche.prepared_by_id:
        return refuse("maker_is_checker", "制单人不能审核自己制的单，请由另一位财务人员审核")
    return []


@guard("collective_decision_recorded")
def collective_decision_recorded(ctx: GuardContext) -> list[Reason]:
    from workflow.finance.operations import needs_decision_ref

    tranche: Tranche = ctx.row
    ref = ctx.text("decision_ref") or (tranche.decision_ref or "").strip()
    if needs_decision_ref(tranche) and not ref:
        return refuse("collective_decision_missing",
                      "金额达到“三重一大”标准，请先录入集体决策会议纪要编号")
    return []


@guard("payment_reference_given")
def payment_reference_given(ctx: GuardContext) -> list[Reason]:
    if not ctx.text("payment_ref"):
        return refuse("payment_ref_missing", "请填写支付凭证号")
    return []


@guard("within_grant")
def within_grant(ctx: GuardContext) -> list[Reason]:
    tranche: Tranche = ctx.row
    app = tranche.application
    grant = app.granted_amount
    if grant is None or (app.disbursed or Decimal(0)) + tranche.amount > grant:
        return refuse("over_grant",
                      f"拨付后累计金额将超过立项资助额（已拨付 {format_wan(app.disbursed)} 万元，"
                      f"资助额 {format_wan(grant)} 万元）")
    return []
