"""The rules of 结题验收 that ``states.ACCEPTANCE`` names: the package complete, the panel
drawn without conflicts, the panel and 财务验收 in before the conclusion, a conclusion other
than the panel's majority explained, the diligence finding at a 不通过 (宽容失败); and what
follows: the project into acceptance at the unit's endorsement, out of it (completed or
failed, with the tranches, the surplus, a recovery and an integrity record as the
conclusion says) at the officer's, with the 验收结论书."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from forms import FieldError, format_wan, parse_wan
from states import ACCEPTANCE, SYSTEM, AcceptanceState, ApplicationState, TrancheState
from workflow.acceptance import documents, messages
from workflow.acceptance import operations as acceptances
from workflow.acceptance.models import GRADES, Acceptance, AcceptanceMember
from workflow.accounts.integrity import SANCTION_RECORDED
from workflow.accounts.models import Sanction
from workflow.accounts.models.integrity import DEFAULT_MEASURES
from workflow.applying.models import Application, FinalReport
from workflow.applying.visibility import can_read_application, on_challenges_of
from workflow.core import engine, numbering, outbox
from workflow.core.entities import Entity
from workflow.core.models import db
from workflow.core.registry import Rules
from workflow.core.rules import Changes, FireResult, GuardContext, Reason, refuse
from workflow.finance.models import Tranche
from workflow.permissions import principal_investigator, same_organization
from workflow.review.conflicts import panel_problem
from workflow.timeutil import SHANGHAI

A = ApplicationState
AC = AcceptanceState
MIN_REASON = 10
TRIGGER_GRADES = {"pass": "pass", "conclude": "concluded", "fail": "fail"}
CONCLUSION_TOPIC = "acceptance.conclusion"
# How long a 不通过 without diligence keeps the principal investigator off the list.
SANCTION_YEARS = 3


# ---- guards ---------------------------------------------------------------------------------

def acceptance_project_running(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row.application
    if app.state is not A.in_progress:
        return refuse("project_not_running",
                      f"项目当前为“{app.state.label}”，执行中的项目才能申请结题验收")
    return []


def package_complete(ctx: GuardContext) -> list[Reason]:
    problems = acceptances.package_problems(ctx.row)
    if problems:
        return refuse("package_incomplete", "验收材料不完整：" + "；".join(problems.values()),
                      problems)
    return []


def expert_ids(ctx: GuardContext) -> list[int]:
    raw = ctx.data.get("expert_ids") or []
    out: list[int] = []
    for value in raw:
        text = str(value).strip()
        if text.isascii() and text.isdigit() and len(text) < 10 and int(text) not in out:
            out.append(int(text))
    return out


def panel_valid(ctx: GuardContext) -> list[Reason]:
    """At least 3 experts of the pool, none conflicted with the project."""
    acc: Acceptance = ctx.row
    app = acc.application
    raw = ctx.data.get("expert_ids") or []
    ids = expert_ids(ctx)
    if len(ids) != len(raw):
        return refuse("panel_invalid", "验收专家应为不重复的专家编号",
                      {"expert_ids": "应为不重复的专家编号"})
    problem = panel_problem(ids, app, "验收专家组")
    if problem is not None:
        return refuse(problem.code, problem.message, problem.details)
    if app.challenge is not None and app.challenge.demand_org_id is None:
        return refuse("no_demand_side", "揭榜挂帅项目的榜单没有发榜方，无法组成验收专家组")
    return []


def panel_complete(ctx: GuardContext) -> list[Reason]:
    acc: Acceptance = ctx.row
    waiting = [m.alias for m in acc.members if m.submitted_at is None]
    if waiting:
        return refuse("panel_pending", "专家组意见尚未全部提交：" + "、".join(waiting))
    return []


def finance_checked(ctx: GuardContext) -> list[Reason]:
    if ctx.row.finance_verdict is None:
        return refuse("finance_pending", "财务验收意见尚未录入")
    return []


def conclusion_justified(ctx: GuardContext) -> list[Reason]:
    """The conclusion follows the panel's majority or says why not; 通过 needs 财务验收's
    pass; a 揭榜挂帅 project the demand side failed cannot be completed; the diligence
    finding and a recovery belong to a 不通过 only."""
    acc: Acceptance = ctx.row
    grade = TRIGGER_GRADES[ctx.trigger]
    out: list[Reason] = []
    proposed = acceptances.proposed_grade(acc)
    if proposed is not None and grade != proposed and len(ctx.comment.strip()) < MIN_REASON:
        out += refuse("conclusion_unexplained",
                      f"专家组多数意见为“{GRADES[proposed]}”，作出“{GRADES[grade]}”的结论须说明"
                      f"理由（不少于{MIN_REASON}字）", {"comment": "请说明理由"})
    if grade == "pass" and acc.finance_verdict == "fail":
        out += refuse("finance_failed", "财务验收不通过的项目不能验收通过")
    demand = acceptances.demand_member(acc)
    if grade != "fail" and demand is not None and demand.grade == "fail":
        out += refuse("demand_failed", "发榜方验收结论为不通过，揭榜挂帅项目不能结题或通过")
    if grade != "fail":
        given = [k for k in ("diligent", "recovery_wan") if ctx.data.get(k) not in (None, "")]
        if given:
            out += refuse("not_for_pass", "勤勉尽责认定和追回金额只在验收不通过时填写",
                          {k: "不通过时才填写" for k in given})
    return out


def _recovery(ctx: GuardContext) -> Any:
    raw = str(ctx.data.get("recovery_wan") or "").strip()
    if not raw:
        return None
    try:
        return parse_wan(raw)
    except FieldError:
        return "bad"


def diligence_found(ctx: GuardContext) -> list[Reason]:
    """宽容失败: at a 不通过 the officer finds whether the team worked diligently
    (勤勉尽责). Diligent: closed without recovery; otherwise (or where the call does not
    tolerate failure) the amount to recover is given, within what was paid."""
    acc: Acceptance = ctx.row
    app = acc.application
    tolerate = app.call.tolerate_failure
    diligent = ctx.data.get("diligent")
    amount = _recovery(ctx)
    if amount == "bad":
        return refuse("recovery_invalid", "应追回金额应为万元金额",
                      {"recovery_wan": "应为金额（万元）"})
    if tolerate and diligent not in ("yes", "no"):
        return refuse("diligence_missing", "本批次实行宽容失败：请认定项目团队是否勤勉尽责",
                      {"diligent": "请选择是或否"})
    if not tolerate and diligent not in (None, ""):
        return refuse("tolerance_off", "本批次不实行宽容失败，无需认定勤勉尽责",
                      {"diligent": "本批次不适用"})
    if tolerate and diligent == "yes":
        if amount:
            return refuse("diligent_no_recovery", "认定勤勉尽责的项目不予追回经费",
                          {"recovery_wan": "勤勉尽责时不填写"})
        return []
    if amount is None:
        return refuse("recovery_missing", "请填写应追回金额（万元，无须追回填0）",
                      {"recovery_wan": "请填写"})
    if amount > acceptances.disbursed(app):
        return refuse("recovery_too_much", f"追回金额不能超过已拨付的 "
                      f"{format_wan(acceptances.disbursed(app))} 万元",
                      {"recovery_wan": "超过已拨付金额"})
    return []


# ---- effects --------------------------------------------------------------------------------

def _name(ctx: GuardContext) -> str:
    return ctx.actor.name if ctx.actor is not None else "系统"


def record_package_submission(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "submitted_at", ctx.now)
    ch.set(ctx.row, "submitted_by_id", ctx.actor.id if ctx.actor is not None else None)


def record_unit_opinion(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "unit_opinion", ctx.comment[:5000] or "同意")
    ch.set(ctx.row, "unit_by", _name(ctx)[:100])


def seat_panel(ctx: GuardContext, ch: Changes) -> None:
    """The experts in the order chosen (专家1, 专家2, …), then the demand side."""
    acc: Acceptance = ctx.row
    ids = expert_ids(ctx)
    for seq, uid in enumerate(ids, start=1):
        acc.members.append(AcceptanceMember(seq=seq, role="expert", user_id=uid, scores={}))
    if acc.application.challenge is not None:
        acc.members.append(AcceptanceMember(seq=len(ids) + 1, role="demand", scores={}))
    ch.note("panel", [], [f"专家{i}" for i in range(1, len(ids) + 1)])


def record_conclusion(ctx: GuardContext, ch: Changes) -> None:
    """The conclusion, the majority it was set against, the diligence finding and the
    amount to recover; the 验收结论书 is issued (numbered now, or awaited from the office)."""
    acc: Acceptance = ctx.row
    grade = TRIGGER_GRADES[ctx.trigger]
    ch.set(acc, "proposed", acceptances.proposed_grade(acc))
    ch.set(acc, "conclusion", ctx.comment.strip()[:5000] or GRADES[grade])
    ch.set(acc, "concluded_by", _name(ctx)[:100])
    ch.set(acc, "concluded_at", ctx.now)
    if grade == "fail":
        diligent = ctx.data.get("diligent")
        ch.set(acc, "diligent", None if diligent in (None, "") else diligent == "yes")
        amount = _recovery(ctx)
        ch.set(acc, "recovery_amount", amount if amount not in (None, "bad") else None)
    app = acc.application
    numbering.issue("acceptance_conclusion", "acceptance", acc.id, ctx.now,
                    topic=CONCLUSION_TOPIC, subject=f"“{app.title}”项目结题验收结论书")


# ---- follow-ups -----------------------------------------------------------------------------

def open_project_acceptance(result: FireResult, actor: Any, ip: str | None) -> None:
    """The endorsed package is the project's final report (its text, its 科技报告, a
    包干制 project's surplus), and the project goes to acceptance."""
    acc: Acceptance = result.row
    app = engine.load("application", acc.application_id, lock=True)
    final = app.final_report or FinalReport()
    final.report, final.surplus = acc.report[:50000], acc.surplus or 0
    final.evidence = [acc.tech_report_sha256] if acc.tech_report_sha256 else []
    final.submitted_by_id, final.submitted_at = acc.submitted_by_id, result.now
    app.final_report = final
    db.session.flush()
    engine.fire(app, "request_acceptance", None, comment="单位审核同意，进入结题验收", ip=ip)


def _opinions(acc: Acceptance) -> str:
    return "；".join(f"{m.alias}：{GRADES.get(m.grade or '', '')}，{m.opinion or ''}"
                    for m in acc.members)[:5000]


def close_accepted_project(result: FireResult, actor: Any, ip: str | None) -> None:
    """The project's own ending, by the system: 通过 and 结题 complete it (the last
    tranche due; at a 结题 withheld when the call says so), 不通过 fails it (unpaid
    tranches cancelled, a recovery opened unless the team worked diligently, and then an
    integrity record)."""
    acc: Acceptance = result.row
    app = engine.load("application", acc.application_id, lock=True)
    comment = f"结题验收结论：{acc.state.label}。{acc.conclusion or ''}"[:5000]
    if acc.state is AC.failed:
        data: dict[str, Any] = {"verdict": "fail", "opinions": _opinions(acc)}
        given = ((result.audit_event.data or {}).get("input") or {}).get("recovery_wan")
        if acc.diligent is not True and given not in (None, ""):
            data["recovery_wan"] = str(given)
        engine.fire(app, "fail_acceptance", None, comment=comment, data=data, ip=ip)
        if acc.diligent is False:
            _record_integrity(acc, app, actor, result.now)
        return
    engine.fire(app, "pass_acceptance", None, comment=comment,
                data={"verdict": "pass", "opinions": _opinions(acc)}, ip=ip)
    if acc.state is AC.concluded and app.call.concluded_rule == "withhold":
        for tranche_id in list(db.session.scalars(sa.select(Tranche.id).where(
                Tranche.application_id == app.id, Tranche.condition == "acceptance",
                Tranche.state.in_([TrancheState.planned, TrancheState.due]))
                .order_by(Tranche.seq))):
            engine.fire(engine.load("tranche", tranche_id, lock=True), "cancel", None,
                        comment="结题（未完全达到目标），按本批次规定不再拨付尾款", ip=ip)


def _record_integrity(acc: Acceptance, app: Application, actor: Any, now: Any) -> None:
    """Failed without diligence: a 科研失信 record of the principal investigator (or, with
    no 身份证号 on file, of the organisation), as the integrity list records marks."""
    pi, org = app.applicant, app.organization
    today: date = now.astimezone(SHANGHAI).date()
    try:
        ends = today.replace(year=today.year + SANCTION_YEARS)
    except ValueError:  # 29 February
        ends = today.replace(year=today.year + SANCTION_YEARS, day=28)
    reason = (f"项目“{app.title}”（{app.project_number or ''}）结题验收不通过，"
              "经认定未勤勉尽责")
    if pi.id_number:
        row = Sanction(subject="person", name=pi.name, id_number=pi.id_number, reason=reason,
                       starts_on=today, ends_on=ends, measures=list(DEFAULT_MEASURES),
                       recorded_by_id=getattr(actor, "id", None))
    elif org.uscc:
        row = Sanction(subject="org", name=org.name, uscc=org.uscc, reason=reason,
                       starts_on=today, ends_on=ends, measures=list(DEFAULT_MEASURES),
                       recorded_by_id=getattr(actor, "id", None))
    else:
        return
    db.session.add(row)
    db.session.flush()
    acc.sanction_id = row.id
    db.session.flush()
    outbox.emit(SANCTION_RECORDED, "sanction", row.id)


# ---- the entity -----------------------------------------------------------------------------

def acceptance_owner(user: Any, role: str, acc: Acceptance) -> bool:
    """The team (its principal investigator) submits; its unit's research office
    endorses or returns; the bureau's officers draw the panel and conclude."""
    if role in (SYSTEM, "officer", "leader"):
        return True
    if user is None:
        return False
    if role == "applicant":
        return principal_investigator(user, acc.application)
    if role == "org_admin":
        return same_organization(user, acc.application)
    return False


def _of_projects(condition: Any) -> sa.ColumnElement[bool]:
    return Acceptance.application_id.in_(sa.select(Application.id).where(condition))


def acceptance_owned(user: Any, role: str) -> sa.ColumnElement[bool] | None:
    if role in ("officer", "leader"):
        return sa.true()
    org_id = getattr(user, "organization_id", None)
    if role == "applicant":
        return _of_projects(Application.applicant_id == user.id)
    if role == "org_admin" and org_id is not None:
        return _of_projects(Application.organization_id == org_id)
    return None


def can_view_acceptance(user: Any, acc: Acceptance) -> bool:
    """Whoever reads the project, the panel's members, and finance (or an auditor) who
    check the 决算."""
    if user is None:
        return False
    return (can_read_application(user, acc.application)
            or acceptances.seat_of(user, acc) is not None
            or acceptances.finance_checker(user))


def acceptance_name(acc: Acceptance) -> str:
    app = acc.application
    return f"{app.project_number or app.title} 结题验收"


def visible_query(user: Any) -> sa.ColumnElement[bool]:
    """``can_view_acceptance`` as a query (the list)."""
    from workflow.permissions import bureau_reader, has_role

    if bureau_reader(user) or acceptances.finance_checker(user):
        return sa.true()
    org_id = getattr(user, "organization_id", None)
    conditions: list[Any] = []
    if has_role("org_admin")(user) and org_id is not None:
        conditions.append(Application.organization_id == org_id)
    if has_role("demand")(user) and org_id is not None:
        conditions.append(on_challenges_of(org_id))
    if has_role("applicant")(user):
        conditions.append(Application.applicant_id == user.id)
    out: list[Any] = []
    if conditions:
        out.append(_of_projects(sa.or_(*conditions)))
    if has_role("expert")(user):
        out.append(Acceptance.id.in_(sa.select(AcceptanceMember.acceptance_id).where(
            AcceptanceMember.user_id == user.id, AcceptanceMember.role == "expert")))
    return sa.or_(*out) if out else sa.false()


ACCEPTANCE_ENTITY = Entity("acceptance", Acceptance, ACCEPTANCE, acceptance_owner,
                           can_view_acceptance, "结题验收", "acceptances",
                           parent=("application", "application_id"), owned=acceptance_owned,
                           name=acceptance_name)

RULES = Rules(
    entities=(ACCEPTANCE_ENTITY,),
    guards={
        "acceptance_project_running": acceptance_project_running,
        "package_complete": package_complete,
        "panel_valid": panel_valid,
        "panel_complete": panel_complete,
        "finance_checked": finance_checked,
        "conclusion_justified": conclusion_justified,
        "diligence_found": diligence_found,
    },
    effects={
        "record_package_submission": record_package_submission,
        "record_unit_opinion": record_unit_opinion,
        "seat_panel": seat_panel,
        "record_conclusion": record_conclusion,
    },
    follow_ups={"open_project_acceptance": open_project_acceptance,
                "close_accepted_project": close_accepted_project},
    messages={"acceptance_submitted": messages.acceptance_submitted,
              "acceptance_returned": messages.acceptance_returned,
              "panel_invited": messages.panel_invited,
              "acceptance_concluded": messages.acceptance_concluded},
    documents={"acceptance_conclusion": documents.acceptance_conclusion},
)
