"""The rules of applying that ``states/`` names: guards and effects."""

from __future__ import annotations

import json
from datetime import date
from difflib import SequenceMatcher
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import lazyload

from forms.schema import required_missing
from states import APPLICATION, SYSTEM, ApplicationState, CallState
from states.lifecycles import RUNNING
from workflow.accounts import integrity
from workflow.applying import formal_review, operations
from workflow.applying.models import (
    Application,
    SignedDocument,
    SigningParty,
    Verdict,
    normal_text,
)
from workflow.applying.visibility import (
    can_read_application,
    can_view_application,
    on_challenges_of,
    under,
)
from workflow.calls.models import Call, Scheme
from workflow.calls.operations import form_fields
from workflow.core import memo
from workflow.core.entities import Entity
from workflow.core.models import db
from workflow.core.registry import Rules
from workflow.core.rules import Changes, GuardContext, Reason, refuse
from workflow.permissions import (
    demand_side,
    jurisdiction,
    principal_investigator,
    same_organization,
)
from workflow.timeutil import SHANGHAI


def call_open(ctx: GuardContext) -> list[Reason]:
    call: Call = ctx.row.call
    if call.state is not CallState.published:
        return refuse("call_not_open", "该指南未在受理期")
    if call.opens_at is None or ctx.now < call.opens_at:
        return refuse("call_not_started", "申报尚未开始")
    if call.closes_at is None or ctx.now >= call.closes_at:
        return refuse("call_closed", "申报已截止，不能再提交")
    return []


def call_accepts_resubmission(ctx: GuardContext) -> list[Reason]:
    # A returned application may be revised after the deadline, while the call runs.
    call: Call = ctx.row.call
    if call.state not in (CallState.published, CallState.closed, CallState.reviewing):
        return refuse("call_finished", "该批次已结束，不能再修改提交")
    return []


def _missing_required(app: Application) -> list[str]:
    return required_missing(form_fields(app.call, app.form_version), app.data or {})


def form_complete(ctx: GuardContext) -> list[Reason]:
    """The form filled as the call asks, each problem with the input it is about."""
    app: Application = ctx.row
    out: list[Reason] = []
    if not (app.title or "").strip():
        out += refuse("title_missing", "请填写项目名称", {"title": "请填写项目名称"})
    missing = _missing_required(app)
    # Every problem with the answers (a required one missing, a value out of range, the
    # indicators and the milestone plan of 揭榜挂帅), so that no path submits what the
    # form would refuse.
    fields = form_fields(app.call, app.form_version)
    labels = {f["name"]: f["label"] for f in fields}
    errors = operations.full_errors(app)
    absent = {name: message for name, message in errors.items()
              if labels.get(name) in missing}
    if missing:
        out += refuse("fields_missing", "以下必填项未填写：" + "、".join(missing), absent)
    for name, message in errors.items():
        if name not in absent:
            label = labels.get(name)
            out += refuse("field_invalid", f"{label}：{message}" if label else message,
                          {name: message})
    if app.call.scheme is Scheme.jiebang and app.challenge_id is None:
        out += refuse("challenge_missing", "请选择要揭的榜单", {"challenge": "请选择要揭的榜单"})
    return out


def signed(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    document = app.commitment_document
    if app.signature(document) is None:
        if document is SignedDocument.commitment:
            return refuse("commitment_unsigned", "请阅读并签署科研诚信承诺书（含负面清单）",
                          {"commitment": "请阅读并签署科研诚信承诺书（含负面清单）"})
        return refuse("pledge_unsigned", "请签署揭榜军令状", {"pledge": "请签署揭榜军令状"})
    return []


LIVE_STATES = tuple(s for s in ApplicationState if s not in (
    ApplicationState.draft, ApplicationState.withdrawn, ApplicationState.rejected,
    ApplicationState.not_funded, ApplicationState.completed, ApplicationState.failed,
    ApplicationState.terminated))


def limit_reasons(call: Call, applicant_id: int, app_id: int | None) -> list[Reason]:
    """限项 for ``applicant_id`` as PI of application ``app_id`` (None: a new one) in
    ``call``: one application per PI per call; at most N running projects per PI."""
    out: list[Reason] = []
    same_call = memo.remembered(("same_call", call.id, applicant_id, app_id), lambda: (
        db.session.scalar(sa.select(sa.func.count()).select_from(Application).where(
            Application.call_id == call.id, Application.applicant_id == applicant_id,
            Application.id != app_id, Application.state.in_(LIVE_STATES))) or 0))
    if same_call:
        out += refuse("limit_per_call", "同一负责人在本批次只能主持申报一个项目（限项）")
    running = memo.remembered(("running", applicant_id, app_id), lambda: (
        db.session.scalar(sa.select(sa.func.count()).select_from(Application).where(
            Application.applicant_id == applicant_id, Application.id != app_id,
            Application.state.in_(RUNNING))) or 0))
    if running >= call.max_running_projects:
        out += refuse("limit_running",
                      f"负责人在研项目已达{call.max_running_projects}项上限（限项）")
    return out


def read_limits(apps: list[Application]) -> None:
    """The 限项 counts of many applications (the 工作台's drafts) in two statements per
    principal investigator, remembered for ``limit_reasons`` (``memo.reading``)."""
    if not memo.active():
        return
    for applicant_id in sorted({a.applicant_id for a in apps}):
        own = [a for a in apps if a.applicant_id == applicant_id]
        live = dict(db.session.execute(
            sa.select(Application.call_id, sa.func.count()).where(
                Application.applicant_id == applicant_id,
                Application.state.in_(LIVE_STATES)).group_by(Application.call_id)).all())
        running = db.session.scalar(sa.select(sa.func.count()).select_from(Application).where(
            Application.applicant_id == applicant_id, Application.state.in_(RUNNING))) or 0
        for a in own:  # the others: without the application itself
            memo.seed(("same_call", a.call_id, applicant_id, a.id),
                      live.get(a.call_id, 0) - (a.state in LIVE_STATES))
            memo.seed(("running", applicant_id, a.id), running - (a.state in RUNNING))


def within_limits(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    return limit_reasons(app.call, app.applicant_id, app.id)


def sanction_reasons(pi: Any, org: Any, team: Any, today: date) -> list[Reason]:
    """科研失信: neither the principal investigator ``pi``, nor a member of ``team``, nor
    the organisation ``org`` is under a 不得申报 measure in force on ``today`` (a person
    or organisation with a ``name`` and, where known, ``id_number`` / ``uscc``)."""
    out: list[Reason] = []
    for sanction, who in integrity.sanctions_touching(
            pi.name if pi else "", pi.id_number if pi else None,
            org.name if org else "", org.uscc if org else None, team, today, "no_apply"):
        who = who.replace("承担单位", "申报单位")
        out += refuse("integrity_sanction",
                      f"{who}在科研失信处理期内（{sanction.starts_on.isoformat()}至"
                      f"{sanction.ends_on.isoformat()}，不得申报），不能申报")
    return out


def integrity_clear(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    return sanction_reasons(app.applicant, app.organization, integrity.team_of(app.data),
                            ctx.now.astimezone(SHANGHAI).date())


NEAR_IDENTICAL = 0.9


def not_duplicate(ctx: GuardContext) -> list[Reason]:
    """一题多报: the same title in the same year, or the same principal investigator with
    near-identical content in the same year. The year's other live applications are
    searched by the database: those with the same title key, and the principal
    investigator's own (a year of a province holds a hundred thousand)."""
    app: Application = ctx.row
    title = normal_text(app.title)
    others = (sa.select(Application).join(Call)
              .where(Application.id != app.id, Call.year == app.call.year,
                     Application.state.in_(LIVE_STATES))
              .order_by(Application.id))
    text = normal_text(json.dumps(app.data.get("summary", ""), ensure_ascii=False))
    same_pi = others.where(Application.applicant_id == app.applicant_id) if text else None
    found = set(db.session.scalars(others.where(Application.title_key == title[:200])))
    if same_pi is not None:
        found.update(db.session.scalars(same_pi))
    out: list[Reason] = []
    for other in sorted(found, key=lambda a: a.id):
        if normal_text(other.title) == title:
            receipt = f"（受理回执号{other.receipt_no}）" if other.receipt_no else ""
            out += refuse("duplicate_title", f"与本年度已申报的“{other.title}”{receipt}"
                          "题目相同（一题多报）")
        elif other.applicant_id == app.applicant_id and text:
            other_text = normal_text(json.dumps(other.data.get("summary", ""),
                                                ensure_ascii=False))
            if SequenceMatcher(None, text, other_text).ratio() >= NEAR_IDENTICAL:
                out += refuse("duplicate_content", f"与同一负责人本年度已申报的“{other.title}”"
                              "内容高度相似（一题多报）")
    return out


def eligible(ctx: GuardContext) -> list[Reason]:
    """Everything checked before formal review, each with its reason."""
    return within_limits(ctx) + not_duplicate(ctx) + integrity_clear(ctx)


def contract_signed(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    # The officer signs for the bureau now; the team and the demand side have signed
    # the task book themselves before (applications.sign_task_book).
    signed_by = app.task_book_parties | {SigningParty.bureau}
    needed = {SigningParty.bureau, SigningParty.team} | (
        {SigningParty.demand} if app.call.scheme is Scheme.jiebang else set())
    missing = needed - signed_by
    if missing:
        return refuse("contract_unsigned", "任务书尚缺签署方：" + "、".join(
            p.label for p in sorted(missing, key=lambda p: p.value)))
    return []


def final_report_given(ctx: GuardContext) -> list[Reason]:
    if ctx.row.final_report is None:
        return refuse("final_report_missing", "请先提交结题报告及佐证材料")
    return []


def demand_accepted(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row
    if app.challenge is None:
        return []
    if app.demand_verdict is not Verdict.passed:
        return refuse("demand_acceptance_missing",
                      "揭榜挂帅项目须发榜方验收通过" if app.demand_verdict is Verdict.failed
                      else "请先由发榜方录入验收意见")
    return []


def acceptance_recorded(ctx: GuardContext) -> list[Reason]:
    recorded = ctx.row.acceptance_verdict
    verdict = ctx.text("verdict") or (recorded.value if recorded else None)
    if verdict != "pass":
        return refuse("acceptance_missing", "请先录入验收结论（含专家意见）")
    return []


def checklist_known(ctx: GuardContext) -> list[Reason]:
    """A checklist names only the call's own items; one given with a pass answers every
    item, 符合 or 不符合 (a pass with nothing ticked is no review)."""
    items = formal_review.checklist_items(ctx.row.call)
    answers = ctx.data.get("checklist")
    unknown = sorted(set(answers or {}) - {i.label for i in items})
    if unknown:
        return refuse("checklist_unknown", "形式审查要点中没有：" + "、".join(unknown))
    if answers is None or ctx.trigger != "pass_formal_review":
        return []
    unanswered = [i for i in items if i.label not in answers]
    if unanswered:
        return refuse("checklist_unanswered", "请逐项确认形式审查要点：" + "、".join(
            f"“{i.label}”" for i in unanswered) + "尚未确认",
            {i.key: f"请确认“{i.label}”：符合或不符合" for i in unanswered})
    return []


def required_checks_ticked(ctx: GuardContext) -> list[Reason]:
    """The items the call marks 必须勾选 are ticked: formal review passes only with them
    (returning or rejecting needs none: an item not met is why)."""
    ticked = ctx.data.get("checklist")
    ticked = ticked if isinstance(ticked, dict) else {}
    unticked = [item for item in ctx.row.call.checklist_required or []
                if ticked.get(item) is not True]
    if unticked:
        # Beside each item on the formal review form: 不符合, or no answer at all.
        return refuse("checks_unticked",
                      "以下形式审查要点必须勾选后才能通过：" + "、".join(unticked),
                      {formal_review.CHECKLIST_KEY + item:
                       f"“{item}”为必须符合的要点，答“不符合”时不能通过形式审查"
                       "（可退回修改或不予受理）" if ticked.get(item) is False
                       else f"“{item}”为必须符合的要点，请确认为“符合”后再通过"
                       for item in unticked})
    return []


def record_formal_review(ctx: GuardContext, ch: Changes) -> None:
    """The officer's verdict, comment and checklist are kept on the round under review."""
    outcome = {"pass_formal_review": "pass", "return_for_revision": "return",
               "reject": "reject"}[ctx.trigger]
    ticked = ctx.data.get("checklist")
    operations.record_outcome(ctx.row, outcome, ctx.comment,
                             None if ticked is None else dict(ticked))


def record_submission(ctx: GuardContext, ch: Changes) -> None:
    """A (re)submission: its time, the next round kept as it was sent, the receipt number;
    the worker renders the archival PDF of exactly this round once it is committed."""
    app: Application = ctx.row
    ch.set(app, "submitted_at", ctx.now)
    ch.set(app, "round", app.round + 1)
    if app.receipt_no is None:
        ch.set(app, "receipt_no", f"SB{app.call.year}{app.call.scheme.code}{app.id:06d}")
    operations.record_round(app, ctx.now)


def countersign_contract(ctx: GuardContext, ch: Changes) -> None:
    app: Application = ctx.row
    before = sorted(p.value for p in app.task_book_parties)
    app.sign(SignedDocument.task_book, SigningParty.bureau,
             ctx.actor.id if ctx.actor else None, ctx.actor.name if ctx.actor else "", ctx.now)
    ch.note("task_book_signed_by", before, sorted(p.value for p in app.task_book_parties))


def record_acceptance(ctx: GuardContext, ch: Changes) -> None:
    # The verdict is the transition's: 验收通过 records a pass, 验收不通过 a fail (the
    # database holds a completed project to a pass and a failed one to a fail).
    app: Application = ctx.row
    passed = app.state is ApplicationState.completed
    ch.set(app, "acceptance_verdict", Verdict.passed if passed else Verdict.failed)
    if ctx.text("opinions"):
        ch.set(app, "acceptance_opinions", ctx.text("opinions"))


# Who owns an application in each role that owns only some: the bureau's roles own all.
OWNERS_BY_ROLE = {"applicant": principal_investigator, "org_admin": same_organization,
                  "demand": demand_side, "recommender": jurisdiction}


def application_owner(user: Any, role: str, app: Application) -> bool:
    if role == SYSTEM or role in ("officer", "leader"):
        return True
    owns = OWNERS_BY_ROLE.get(role)
    return user is not None and owns is not None and owns(user, app)


def application_owned(user: Any, role: str) -> sa.ColumnElement[bool] | None:
    """``application_owner`` as a query."""
    if role in ("officer", "leader"):
        return sa.true()
    if role == "recommender" and user.organization_id is not None:
        return under(user.organization_id)
    if role == "applicant":
        return Application.applicant_id == user.id
    if role == "org_admin" and user.organization_id is not None:
        return Application.organization_id == user.organization_id
    if role == "demand" and user.organization_id is not None:
        return on_challenges_of(user.organization_id)
    return None


def application_name(app: Application) -> str:
    """Its project number (after approval) or receipt number, and its title."""
    return " ".join(x for x in (app.project_number or app.receipt_no, app.title) if x)


APPLICATION_ENTITY = Entity(
    "application", Application, APPLICATION, application_owner, can_view_application, "申报书",
    "applications", steps=lambda app: app.call.enabled_steps,
    locked_steps=sa.select(Call.steps).where(Call.id == Application.call_id).scalar_subquery(),
    lock_options=(lazyload(Application.call),), owned=application_owned,
    name=application_name, readable=can_read_application)

RULES = Rules(
    jobs={formal_review.BULK_JOB: formal_review.bulk_job},
    entities=(APPLICATION_ENTITY,),
    guards={
        "call_open": call_open,
        "checklist_known": checklist_known,
        "required_checks_ticked": required_checks_ticked,
        "call_accepts_resubmission": call_accepts_resubmission,
        "form_complete": form_complete,
        "signed": signed,
        "within_limits": within_limits,
        "integrity_clear": integrity_clear,
        "eligible": eligible,
        "contract_signed": contract_signed,
        "final_report_given": final_report_given,
        "demand_accepted": demand_accepted,
        "acceptance_recorded": acceptance_recorded,
    },
    effects={
        "record_submission": record_submission,
        "record_formal_review": record_formal_review,
        "countersign_contract": countersign_contract,
        "record_acceptance": record_acceptance,
    },
)
