"""The rules of change requests that ``states.CHANGE`` names: the checks made when a
request is sent and decided, what each step records, and what an approved change does to
the project (in the approving transaction), with its 变更批复."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from states import CHANGE, DEMAND_SIDE, SYSTEM, ApplicationState, ChangeState, MilestoneState
from states.lifecycles import LEADER_DECIDES
from workflow.applying.models import Application
from workflow.applying.rules import limit_reasons, sanction_reasons
from workflow.applying.visibility import can_read_application, on_challenges_of
from workflow.calls.operations import form_fields
from workflow.changes import documents, messages
from workflow.changes.models import ChangeKind, ChangeRequest
from workflow.core import audit, engine, numbering
from workflow.core.entities import Entity
from workflow.core.models import Attachment, db
from workflow.core.registry import Rules
from workflow.core.rules import Changes, FireResult, GuardContext, Reason, refuse
from workflow.finance.models import Milestone
from workflow.permissions import demand_side, principal_investigator, same_organization
from workflow.timeutil import SHANGHAI

A = ApplicationState
# A project may ask for a change from its contract until it goes to acceptance.
CHANGEABLE = (A.contracted, A.in_progress, A.midterm)
EVIDENCE_FIELD = "change_evidence"
MIN_REASON = 10
MIN_CONTENT = 10
# Where a 包干制 project's adjusted content and indicators are kept in its data.
ADJUSTED_CONTENT = "adjusted_content"
OPEN_MILESTONES = (MilestoneState.planned, MilestoneState.rejected)


def months_after(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(day.year + y, m + 1, d)
        except ValueError:
            continue
    return day + timedelta(days=30 * months)  # (never: day 28 exists in every month)


def setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def max_extension_months() -> int:
    """KJFLOW_EXTENSION_MAX_MONTHS: how far one extension may move the end (default 12)."""
    return setting("EXTENSION_MAX_MONTHS", 12)


def extensions_allowed() -> int:
    """KJFLOW_EXTENSIONS_PER_PROJECT: how many extensions a project may have (default 1)."""
    return setting("EXTENSIONS_PER_PROJECT", 1)


def planned_end(app: Application) -> date:
    """The project's planned end: as the latest approved extension (延期) set it, else as
    the task book plans it (揭榜挂帅: the challenge's duration or the last milestone,
    whichever is later; 包干制: KJFLOW_PROJECT_MONTHS, default 24, from approval)."""
    extended = db.session.scalar(sa.select(sa.func.max(ChangeRequest.new_end_date)).where(
        ChangeRequest.application_id == app.id, ChangeRequest.kind == ChangeKind.extension,
        ChangeRequest.state == ChangeState.approved))
    if extended is not None:
        return extended
    return original_end(app)


def original_end(app: Application, dues: list[date] | None = None) -> date:
    """The end planned with the task book (``dues``: its milestones' due dates, when
    already read)."""
    start = (app.approved_at or app.created_at).astimezone(SHANGHAI).date()
    if app.challenge is not None:
        if dues is None:
            dues = list(db.session.scalars(sa.select(Milestone.due_on).where(
                Milestone.application_id == app.id)))
        return max([months_after(start, app.challenge.duration_months), *dues])
    return months_after(start, setting("PROJECT_MONTHS", 24))


def planned_ends(apps: list[Application]) -> dict[int, date]:
    """``planned_end`` of each of a page's projects, in two statements whatever their
    number (a list's page: at most a hundred ids)."""
    ids = [a.id for a in apps]
    if not ids:
        return {}
    extended: dict[int, date] = {app_id: end for app_id, end in db.session.execute(
        sa.select(ChangeRequest.application_id, sa.func.max(ChangeRequest.new_end_date))
        .where(ChangeRequest.application_id.in_(ids),
               ChangeRequest.kind == ChangeKind.extension,
               ChangeRequest.state == ChangeState.approved)
        .group_by(ChangeRequest.application_id)) if end is not None}
    planned = [a.id for a in apps if a.id not in extended and a.challenge_id is not None]
    dues: dict[int, list[date]] = {i: [] for i in planned}
    if planned:
        for app_id, due in db.session.execute(sa.select(
                Milestone.application_id, Milestone.due_on).where(
                Milestone.application_id.in_(planned))):
            dues[app_id].append(due)
    return {a.id: extended[a.id] if a.id in extended else original_end(a, dues.get(a.id))
            for a in apps}


def team_field(app: Application) -> dict[str, Any] | None:
    """The form's team table (the first ``persons`` field), if the call's form has one."""
    return next((f for f in form_fields(app.call, app.form_version)
                 if f.get("type") == "persons"), None)


# ---- guards ---------------------------------------------------------------------------------

def change_project_running(ctx: GuardContext) -> list[Reason]:
    app: Application = ctx.row.application
    if app.state not in CHANGEABLE:
        return refuse("project_not_running",
                      f"项目当前为“{app.state.label}”，只有执行中的项目可以办理变更")
    return []


def change_complete(ctx: GuardContext) -> list[Reason]:
    """Reasons and evidence given, the evidence uploaded to this project."""
    change: ChangeRequest = ctx.row
    out: list[Reason] = []
    if len((change.reason or "").strip()) < MIN_REASON:
        out += refuse("reason_missing", f"请写明变更理由（不少于{MIN_REASON}字）",
                      {"reason": f"请写明变更理由（不少于{MIN_REASON}字）"})
    if not change.evidence:
        out += refuse("evidence_missing", "请上传变更的佐证材料（如单位意见、证明文件）",
                      {"evidence": "请上传佐证材料"})
    else:
        known = set(db.session.scalars(sa.select(Attachment.sha256).where(
            Attachment.application_id == change.application_id,
            Attachment.sha256.in_(change.evidence))))
        if set(change.evidence) - known:
            out += refuse("evidence_unknown", "有佐证材料不是本项目已上传的附件")
    return out


def _new_pi_reasons(change: ChangeRequest, app: Application, ctx: GuardContext) -> list[Reason]:
    new = change.new_pi
    if new is None or not new.active or not new.has_role("applicant") \
            or new.organization_id != app.organization_id:
        return refuse("new_pi_not_member",
                      f"新负责人须为承担单位“{app.organization.name}”在册的科研人员")
    if new.id == app.applicant_id:
        return refuse("pi_unchanged", "新负责人与现负责人是同一人")
    # 限项 and 科研失信 as at submission, for the new PI (the organisation and the team
    # are unchanged: only the new PI is checked).
    today = ctx.now.astimezone(SHANGHAI).date()
    return [Reason(r.code, f"新负责人{new.name}：{r.message}")
            for r in limit_reasons(app.call, new.id, app.id)
            + sanction_reasons(new, None, [], today)]


def _organization_reasons(change: ChangeRequest, app: Application,
                          ctx: GuardContext) -> list[Reason]:
    org = change.new_organization
    if org is None or org.id == app.organization_id:
        return refuse("organization_unchanged", "新承担单位与现承担单位相同")
    pi = app.applicant
    out: list[Reason] = []
    if pi.organization_id != org.id:
        out += refuse("pi_not_in_new_organization",
                      f"项目负责人{pi.name}的账号不属于“{org.name}”：承担单位变更须负责人已调入"
                      "新单位，请先由系统管理员变更其所属单位")
    today = ctx.now.astimezone(SHANGHAI).date()
    return out + [Reason(r.code, f"新承担单位：{r.message}")
                  for r in sanction_reasons(None, org, [], today)]


def approved_extensions(app: Application) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(ChangeRequest).where(
        ChangeRequest.application_id == app.id, ChangeRequest.kind == ChangeKind.extension,
        ChangeRequest.state == ChangeState.approved)) or 0


def _extension_reasons(change: ChangeRequest, app: Application) -> list[Reason]:
    end, new = planned_end(app), change.new_end_date
    allowed, done = extensions_allowed(), approved_extensions(app)
    out: list[Reason] = []
    if done >= allowed:
        out += refuse("extension_used", f"本项目已延期{done}次，每个项目至多延期{allowed}次")
    if new is None or new <= end:
        out += refuse("extension_not_later",
                      f"延期后的结束日期应晚于现结束日期{end.isoformat()}",
                      {"new_end_date": f"应晚于{end.isoformat()}"})
    else:
        most = max_extension_months()
        latest = months_after(end, most)
        if new > latest:
            out += refuse("extension_too_long",
                          f"延期不能超过{most}个月：现结束日期{end.isoformat()}，"
                          f"最迟可延至{latest.isoformat()}",
                          {"new_end_date": f"最迟{latest.isoformat()}"})
    return out


def _content_reasons(change: ChangeRequest, app: Application) -> list[Reason]:
    data = app.data or {}
    if app.challenge is not None:
        names = [i["name"] for i in app.challenge.indicators]
        given = change.new_indicators or {}
        unknown = sorted(set(given) - set(names))
        if unknown:
            return refuse("indicator_unknown", "榜单没有这些攻关指标：" + "、".join(unknown))
        current = data.get("indicators") or {}
        if not given or all(current.get(k) == v for k, v in given.items()):
            return refuse("indicators_unchanged", "调整后的攻关指标与现有的相同")
        return []
    text = (change.new_content or "").strip()
    if len(text) < MIN_CONTENT:
        return refuse("content_missing",
                      f"请写明调整后的研究内容和考核指标（不少于{MIN_CONTENT}字）")
    return []


def change_permitted(ctx: GuardContext) -> list[Reason]:
    """What the kind of change must still satisfy, now."""
    change: ChangeRequest = ctx.row
    app = change.application
    kind = change.kind
    if kind is ChangeKind.pi:
        return _new_pi_reasons(change, app, ctx)
    if kind is ChangeKind.organization:
        return _organization_reasons(change, app, ctx)
    if kind is ChangeKind.extension:
        return _extension_reasons(change, app)
    if kind is ChangeKind.member:
        field = team_field(app)
        if field is None:
            return refuse("no_team_table", "本项目申报书没有团队成员表，不能申请团队成员变更")
        if (change.new_team or []) == ((app.data or {}).get(field["name"]) or []):
            return refuse("team_unchanged", "变更后的团队成员与现有的相同")
        return []
    if kind is ChangeKind.content:
        return _content_reasons(change, app)
    return []


# ---- effects --------------------------------------------------------------------------------

def _name(ctx: GuardContext) -> str:
    return ctx.actor.name if ctx.actor is not None else "系统"


def record_change_submission(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "submitted_at", ctx.now)


def record_change_opinion(ctx: GuardContext, ch: Changes) -> None:
    """The unit's, the demand side's or the officer's opinion, by name."""
    who = {"org_admin": "unit", "demand": "demand", "officer": "officer"}.get(ctx.role)
    if who is None:
        return
    ch.set(ctx.row, f"{who}_opinion", ctx.comment[:5000] or "同意")
    ch.set(ctx.row, f"{who}_by", _name(ctx)[:100])


def record_change_decision(ctx: GuardContext, ch: Changes) -> None:
    ch.set(ctx.row, "decision", ctx.comment[:5000])
    ch.set(ctx.row, "decided_by", _name(ctx)[:100])
    ch.set(ctx.row, "decided_at", ctx.now)


def _replan_milestones(app: Application, old_end: date, new_end: date,
                       ch: Changes) -> None:
    """An extension moves the due dates of the milestones still to be reported by as much
    as the end moved (never past the new end); their tranches follow their milestones."""
    shift = new_end - old_end
    moved: dict[str, list[str]] = {}
    for m in db.session.scalars(sa.select(Milestone).where(
            Milestone.application_id == app.id, Milestone.state.in_(OPEN_MILESTONES))
            .order_by(Milestone.seq)):
        due = min(m.due_on + shift, new_end)
        if due != m.due_on:
            moved[m.label] = [m.due_on.isoformat(), due.isoformat()]
            m.due_on = due
    if moved:
        ch.note("milestones_due", {k: v[0] for k, v in moved.items()},
                {k: v[1] for k, v in moved.items()})


def _apply(change: ChangeRequest, app: Application, ch: Changes) -> dict[str, Any]:
    """Make the change on the project; what it was before."""
    kind = change.kind
    data = dict(app.data or {})
    if kind is ChangeKind.pi and change.new_pi is not None:
        before: dict[str, Any] = {"pi": app.applicant.name}
        app.applicant = change.new_pi
        ch.note("pi", before["pi"], change.new_pi.name)
        return before
    if kind is ChangeKind.organization and change.new_organization is not None:
        before = {"organization": app.organization.name}
        app.organization = change.new_organization
        ch.note("organization", before["organization"], change.new_organization.name)
        return before
    if kind is ChangeKind.extension and change.new_end_date is not None:
        # The request is approved by now: the end it sets is the project's from here on.
        old = _end_before(change)
        ch.note("ends_on", old.isoformat(), change.new_end_date.isoformat())
        _replan_milestones(app, old, change.new_end_date, ch)
        return {"ends_on": old.isoformat()}
    if kind is ChangeKind.member:
        field = team_field(app)
        if field is None:
            return {}
        before = {"team": data.get(field["name"]) or []}
        data[field["name"]] = change.new_team or []
    elif kind is ChangeKind.content and app.challenge is not None:
        before = {"indicators": dict(data.get("indicators") or {})}
        data["indicators"] = {**before["indicators"], **(change.new_indicators or {})}
    elif kind is ChangeKind.content:
        before = {"content": data.get(ADJUSTED_CONTENT) or ""}
        data[ADJUSTED_CONTENT] = change.new_content or ""
    else:  # a termination: the follow-up fires the project's own ``terminate``
        return {"state": app.state.value}
    ch.note(kind.value, before, {k: data.get(k) for k in data if data.get(k) != (
        app.data or {}).get(k)})
    app.data = data
    return before


def _end_before(change: ChangeRequest) -> date:
    """The project's end before ``change`` (an extension being approved) took effect."""
    earlier = db.session.scalar(sa.select(sa.func.max(ChangeRequest.new_end_date)).where(
        ChangeRequest.application_id == change.application_id,
        ChangeRequest.kind == ChangeKind.extension, ChangeRequest.id != change.id,
        ChangeRequest.state == ChangeState.approved))
    return earlier if earlier is not None else original_end(change.application)


APPROVAL_TOPIC = "change.approval"


def apply_change(ctx: GuardContext, ch: Changes) -> None:
    """The approved change takes effect on the project in this transaction (recorded in
    the project's trail too), and its 变更批复 is issued (its 发文字号 taken now, or
    awaited from the office)."""
    change: ChangeRequest = ctx.row
    app = change.application
    record_change_decision(ctx, ch)
    state = app.state.value
    project = Changes()
    before = _apply(change, app, project)
    ch.set(change, "before", before)
    audit.record(app, "application", "apply_change", ctx.actor, ctx.role, state, state,
                 f"{change.label}：{change.decision}"[:5000],
                 {"changes": dict(project), "change_id": change.id})
    numbering.issue("change_approval", "change", change.id, ctx.now, topic=APPROVAL_TOPIC,
                    subject=f"关于“{app.title}”项目{change.kind.label}的批复")


def carry_out_change(result: FireResult, actor: Any, ip: str | None) -> None:
    """A termination approved: the project's own ``terminate``, by the system, with its
    wind-up (unpaid tranches cancelled, open milestones too)."""
    change: ChangeRequest = result.row
    if change.kind is not ChangeKind.termination:
        return
    app = engine.load("application", change.application_id, lock=True)
    engine.fire(app, "terminate", None, comment=f"经项目变更申请批准终止：{change.reason}"[:5000],
                ip=ip)


# ---- the entity -----------------------------------------------------------------------------

def change_owner(user: Any, role: str, change: ChangeRequest) -> bool:
    """The team (its principal investigator) asks; its unit's research office endorses;
    the demand side of its challenge agrees; the bureau's officers and leaders decide."""
    if role in (SYSTEM, "officer", "leader"):
        return True
    if user is None:
        return False
    app = change.application
    if role == "applicant":
        return principal_investigator(user, app)
    if role == "org_admin":
        return same_organization(user, app)
    if role == "demand":
        return demand_side(user, app)
    return False


def _of_projects(condition: Any) -> sa.ColumnElement[bool]:
    return ChangeRequest.application_id.in_(sa.select(Application.id).where(condition))


def change_owned(user: Any, role: str) -> sa.ColumnElement[bool] | None:
    """``change_owner`` as a query."""
    if role in ("officer", "leader"):
        return sa.true()
    org_id = getattr(user, "organization_id", None)
    if role == "applicant":
        return _of_projects(Application.applicant_id == user.id)
    if role == "org_admin" and org_id is not None:
        return _of_projects(Application.organization_id == org_id)
    if role == "demand" and org_id is not None:
        return _of_projects(on_challenges_of(org_id))
    return None


def can_view_change(user: Any, change: ChangeRequest) -> bool:
    """Whoever reads the project reads its change requests (an expert, or a researcher of
    another organisation, does not know they exist)."""
    return user is not None and can_read_application(user, change.application)


def change_steps(change: ChangeRequest) -> frozenset[str]:
    """The demand side agrees to a 揭榜挂帅 project's change of indicators; a leader
    decides a change of organisation and a termination."""
    steps: set[str] = set()
    if change.kind is ChangeKind.content and change.application.challenge_id is not None:
        steps.add(DEMAND_SIDE)
    if change.kind in (ChangeKind.organization, ChangeKind.termination):
        steps.add(LEADER_DECIDES)
    return frozenset(steps)


def change_name(change: ChangeRequest) -> str:
    app = change.application
    return f"{app.project_number or app.title} {change.label}"


CHANGE_ENTITY = Entity("change", ChangeRequest, CHANGE, change_owner, can_view_change,
                       "项目变更申请", "changes", steps=change_steps,
                       parent=("application", "application_id"), owned=change_owned,
                       name=change_name)

RULES = Rules(
    entities=(CHANGE_ENTITY,),
    guards={
        "change_complete": change_complete,
        "change_project_running": change_project_running,
        "change_permitted": change_permitted,
    },
    effects={
        "record_change_submission": record_change_submission,
        "record_change_opinion": record_change_opinion,
        "record_change_decision": record_change_decision,
        "apply_change": apply_change,
    },
    follow_ups={"carry_out_change": carry_out_change},
    messages={"change_decided": messages.change_decided,
              "change_returned": messages.change_returned},
    documents={"change_approval": documents.change_approval},
)
