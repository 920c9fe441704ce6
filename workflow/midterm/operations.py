"""The verbs of midterm checks besides their transitions: the officer opens checks (for a
call's running projects or for chosen ones) and draws the panel; the team fills in its
progress report and uploads evidence; each panel expert scores. The outcome (通过, 整改,
终止) and every other state change is a transition of ``states.MIDTERM`` through the
engine."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa

from forms import format_wan, parse_id
from forms.schema import SchemaError, validate, validate_schema
from states import ApplicationState, MidtermState
from workflow.annual.models import SPENDING_CATEGORIES
from workflow.annual.operations import parse_spending
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import audit, engine
from workflow.core.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from workflow.core.files import save_upload
from workflow.core.models import Attachment, db, utcnow
from workflow.midterm.models import (
    OUTCOMES,
    OUTPUT_KINDS,
    MidtermForm,
    MidtermReport,
    MidtermScore,
)
from workflow.notify.notifications import REMINDER, Message, send_many
from workflow.permissions import allow, officer, principal_investigator
from workflow.review.conflicts import panel_problem
from workflow.timeutil import SHANGHAI

log = logging.getLogger(__name__)

MT = MidtermState
A = ApplicationState
# While the team writes its report.
EDITABLE = (MT.open, MT.overdue, MT.rectify)
# Before the panel starts scoring: the panel may be drawn (or drawn again).
PANEL_OPEN = (MT.open, MT.overdue, MT.submitted, MT.rectify)
MAX_TEXT = 5000
MAX_OUTPUTS = 100
MIN_OPINION = 10
EVIDENCE_FIELD = "midterm_evidence"
BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

# The form used when the call defines none.
DEFAULT_FORM: list[dict[str, Any]] = [
    {"name": "progress", "label": "进展情况", "type": "longtext", "required": True,
     "min": 20, "max": 5000,
     "help": "对照任务书的研究内容、考核指标和进度安排，说明完成情况"},
    {"name": "results", "label": "阶段性成果", "type": "longtext", "required": True,
     "max": 5000, "help": "已取得的成果；尚无成果请写明“暂无”"},
    {"name": "problems", "label": "存在问题及下一步计划", "type": "longtext", "required": True,
     "max": 5000},
]


def today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHANGHAI).date()


def parse_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def custom_form(call: Call) -> list[dict[str, Any]]:
    """The midterm form the call defines (empty: none)."""
    row = db.session.get(MidtermForm, call.id)
    return list(row.fields or []) if row is not None else []


def form_of(call: Call) -> list[dict[str, Any]]:
    """The call's midterm form, or the default one."""
    return custom_form(call) or [dict(f) for f in DEFAULT_FORM]


def _text(value: Any, label: str, key: str, errors: dict[str, str],
          limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[key] = f"{label}应为文字"
        return ""
    text = value.strip()
    if BAD_CHARS.search(text):
        errors[key] = f"{label}含有无法保存的控制字符，请删除后再保存"
    elif len(text) > limit:
        errors[key] = f"{label}不超过{limit}字（当前{len(text)}字）"
    return text[:limit]


# ---- the call's midterm form -----------------------------------------------------------

def set_form(actor: Any, call: Call, fields: Any, ip: str | None = None) -> Call:
    """The officer defines the call's midterm form (the call builder's field format);
    an empty list restores the default form."""
    allow(officer(actor), "只有项目主管可以设置中期检查表")
    if not isinstance(fields, list):
        raise Invalid("中期检查表应为字段定义的列表", details={"fields": "应为列表"})
    problems = validate_schema(fields) if fields else []
    if problems:
        raise Invalid("中期检查表定义有误：" + "；".join(problems[:5]),
                      details={"fields": "；".join(problems)})
    call = engine.load("call", call.id, lock=True)
    old = custom_form(call)
    if old != fields:
        row = db.session.get(MidtermForm, call.id)
        if row is None:
            row = MidtermForm(call_id=call.id)
            db.session.add(row)
        row.fields, row.updated_at = fields, utcnow()
        db.session.flush()
        audit.record(call, "call", "set_midterm_form", actor, "officer", call.state.value,
                     call.state.value, data={"fields": len(fields)}, ip=ip)
    return call


# ---- opening -----------------------------------------------------------------------------

def _due_and_text(due: Any, instructions: Any) -> tuple[date, str]:
    errors: dict[str, str] = {}
    due_date = parse_date(due)
    if due_date is None:
        errors["due_on"] = "请填写中期报告的提交期限（YYYY-MM-DD）"
    elif due_date <= today():
        errors["due_on"] = f"提交期限应晚于今天（{today().isoformat()}）"
    text = _text(instructions, "检查要求", "instructions", errors)
    if errors or due_date is None:
        raise Invalid("开启中期检查的输入有误：" + "；".join(errors.values()), details=errors)
    return due_date, text


def _projects(call_id: Any, application_ids: Any) -> list[Application]:
    if call_id not in (None, "") and application_ids not in (None, "", []):
        raise Invalid("请在“整个指南”与“选定项目”中选择一种",
                      details={"call_id": "与 application_ids 只能给出一个"})
    if call_id not in (None, ""):
        cid = parse_id(call_id) if not isinstance(call_id, bool) else None
        call = db.session.get(Call, cid) if cid else None
        if call is None:
            raise NotFound("申报指南不存在")
        apps = list(db.session.scalars(sa.select(Application).where(
            Application.call_id == call.id, Application.state == A.in_progress)
            .order_by(Application.id)))
        if not apps:
            raise Conflict(f"指南“{call.title}”没有执行中的项目，无需开启中期检查",
                           code="no_running_projects")
        return apps
    if not isinstance(application_ids, list) or not application_ids:
        raise Invalid("请选择要开展中期检查的指南或项目",
                      details={"application_ids": "请至少选择一个项目"})
    ids: list[int] = []
    for value in application_ids:
        pid = parse_id(value) if isinstance(value, int | str) and not isinstance(
            value, bool) else None
        if pid is None:
            raise Invalid("项目编号有误", details={"application_ids": "应为项目 id 的列表"})
        if pid not in ids:
            ids.append(pid)
    if len(ids) > 500:
        raise Invalid("一次至多选择500个项目", details={"application_ids": "至多500个"})
    apps = list(db.session.scalars(sa.select(Application).where(Application.id.in_(ids))
                                   .order_by(Application.id)))
    missing = sorted(set(ids) - {a.id for a in apps})
    if missing:
        raise NotFound(f"项目不存在：{'、'.join(str(i) for i in missing)}")
    return apps


def _refusal(app: Application) -> str | None:
    name = app.project_number or f"“{app.title}”"
    if "midterm" not in app.call.enabled_steps:
        return (f"项目{name}所属指南“{app.call.title}”未设置中期检查环节，"
                "请先在指南中启用“中期检查”")
    if app.state is not A.in_progress:
        return f"项目{name}当前为“{app.state.label}”，只有执行中的项目可以开展中期检查"
    return None


def open_checks(actor: Any, call_id: Any = None, application_ids: Any = None,
                due: Any = None, instructions: Any = "", ip: str | None = None
                ) -> list[MidtermReport]:
    """The officer opens a midterm check for every running project of a call, or for
    the projects chosen: each gets its report, and the project goes to 中期检查 through
    the engine (``start_midterm``). Any project that cannot is refused by name and
    nothing is opened."""
    allow(officer(actor), "只有项目主管可以开启中期检查")
    due_date, text = _due_and_text(due, instructions)
    apps = _projects(call_id, application_ids)
    problems = {str(a.id): p for a in apps if (p := _refusal(a)) is not None}
    if problems:
        raise Conflict("以下项目不能开启中期检查：" + "；".join(problems.values()),
                       details=problems, code="midterm_not_possible")
    opened: list[MidtermReport] = []
    now = utcnow()
    for app in apps:
        app = engine.load("application", app.id, lock=True)
        seq = (db.session.scalar(sa.select(sa.func.max(MidtermReport.seq)).where(
            MidtermReport.application_id == app.id)) or 0) + 1
        report = MidtermReport(application_id=app.id, seq=seq, due_on=due_date,
                               instructions=text, opened_by_id=actor.id,
                               form=form_of(app.call), answers={}, spending={}, outputs=[],
                               evidence=[], earlier=[], rectify_items=[], created_at=now)
        db.session.add(report)
        db.session.flush()
        audit.record(report, "midterm", "open_midterm", actor, "officer", None, MT.open.value, text,
                     {"due_on": due_date.isoformat()}, ip)
        engine.fire(app, "start_midterm", actor, comment=f"开启中期检查，提交期限{due_date}",
                    ip=ip)
        opened.append(report)
    send_many([(Message(r.application.applicant_id, "midterm_opened", "notice", {
        "app": r.application, "midterm": r, "due_on": r.due_on.isoformat(),
        "instructions": r.instructions}, link=f"/midterms/{r.id}"), f"midterm:{r.id}:opened")
        for r in opened])
    return opened


# ---- the team's report -------------------------------------------------------------------

def _outputs(raw: Any, errors: dict[str, str]) -> list[dict[str, str]]:
    given = [] if raw is None else raw
    if not isinstance(given, list) or len(given) > MAX_OUTPUTS:
        errors["outputs"] = f"成果应为不超过{MAX_OUTPUTS}项的列表"
        return []
    out: list[dict[str, str]] = []
    for i, row in enumerate(given):
        if not isinstance(row, dict) or set(row) - {"kind", "title", "note"} or not all(
                isinstance(v, str) for v in row.values()):
            errors[f"outputs.{i}"] = f"第{i + 1}项成果应含“类别”“名称”和可选的“说明”"
            continue
        kind, title = row.get("kind", "").strip(), row.get("title", "").strip()
        note = row.get("note", "").strip()
        if not kind and not title and not note:
            continue
        if kind not in OUTPUT_KINDS:
            errors[f"outputs.{i}.kind"] = (f"第{i + 1}项成果的类别应为："
                                           + "、".join(OUTPUT_KINDS.values()))
        if not title or len(title) > 500 or len(note) > 2000 or BAD_CHARS.search(
                title + note):
            errors[f"outputs.{i}.title"] = f"第{i + 1}项成果请填写名称（不超过500字）"
        out.append({"kind": kind, "title": title[:500], "note": note[:2000]})
    return out


CONTENT_KEYS = frozenset({"answers", "spending", "outputs"})


def parse_content(report: MidtermReport, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The report as typed (a page or a JSON body), checked for form on every save; its
    completeness is checked when it is submitted (``missing``)."""
    errors: dict[str, str] = {}
    for key in raw:
        if key not in CONTENT_KEYS:
            errors[key] = "不接受该字段"
    answers_raw = raw.get("answers", report.answers or {})
    answers: dict[str, Any] = {}
    if not isinstance(answers_raw, dict):
        errors["answers"] = "中期检查表应为按字段给出的内容"
    else:
        known = {f["name"] for f in report.form}
        for key in answers_raw:
            if key not in known:
                errors[f"answers.{key}"] = "中期检查表没有这一项"
        try:
            clean, problems = validate(report.form, answers_raw, partial=True)
        except SchemaError:  # pragma: no cover (checked when the form was set)
            clean, problems = {}, {"_form": "中期检查表定义有误，请联系项目主管"}
        for key, message in problems.items():
            errors[f"answers.{key}"] = message
        answers = {k: v for k, v in clean.items() if v is not None}
    spending, total = parse_spending(raw.get("spending", report.spending), errors)
    outputs = _outputs(raw.get("outputs", report.outputs), errors)
    if errors:
        raise Invalid("中期报告填写有误：" + "；".join(dict.fromkeys(errors.values())),
                      details=errors)
    return {"answers": answers, "spending": spending, "spent_total": total,
            "outputs": outputs}


def _team_lead(actor: Any, report: MidtermReport) -> None:
    if not principal_investigator(actor, report.application):
        raise Forbidden("只有项目负责人可以填写中期报告", code="not_owner")


def _editable(actor: Any, report_id: int) -> MidtermReport:
    report: MidtermReport = engine.load("midterm", report_id, lock=True)
    _team_lead(actor, report)
    if report.state not in EDITABLE:
        raise Conflict(f"中期检查当前为“{report.state.label}”，不能修改中期报告",
                       code="not_editable")
    return report


def save_report(actor: Any, report_id: int, raw: Mapping[str, Any],
                expected_version: int | None = None, ip: str | None = None) -> MidtermReport:
    """The team saves its report (the PI, while it is to be written)."""
    report = _editable(actor, report_id)
    if expected_version is not None and expected_version != report.version:
        raise Conflict("中期报告已被修改，请刷新后再保存", code="stale_version")
    values = parse_content(report, raw)
    changes: dict[str, Any] = {}
    for name, value in values.items():
        old = getattr(report, name)
        if old != value:
            changes[name] = [str(old) if isinstance(old, Decimal) else old,
                             str(value) if isinstance(value, Decimal) else value]
            setattr(report, name, value)
    if changes:
        db.session.flush()
        state = report.state.value
        audit.record(report, "midterm", "save_midterm_report", actor, "applicant", state,
                     state, "", {"changed": sorted(changes)}, ip)
    return report


def missing(report: MidtermReport) -> dict[str, str]:
    """What the report still lacks to be submitted, by field."""
    out: dict[str, str] = {}
    try:
        _clean, problems = validate(report.form, report.answers or {})
    except SchemaError:  # pragma: no cover
        problems = {}
    for key, message in problems.items():
        out[f"answers.{key}"] = message
    for key, label in SPENDING_CATEGORIES.items():
        if key not in (report.spending or {}):
            out[f"spending.{key}"] = f"请填写截至目前的{label}支出（万元，无支出填 0）"
    released = report.application.disbursed or Decimal("0.00")
    if report.spent_total > released:
        out["spending"] = (f"支出合计 {format_wan(report.spent_total)} 万元，超过项目已拨付经费 "
                           f"{format_wan(released)} 万元")
    return out


def attach_evidence(actor: Any, report_id: int, filename: str, stream: IO[bytes],
                    ip: str | None = None) -> Attachment:
    """A file of evidence, checked by content and size as every upload is, kept with the
    project's attachments."""
    report = _editable(actor, report_id)
    attachment = save_upload(actor, filename, stream, EVIDENCE_FIELD,
                             application_id=report.application_id)
    if attachment.sha256 not in report.evidence:
        report.evidence = [*report.evidence, attachment.sha256]
    db.session.flush()
    state = report.state.value
    audit.record(report, "midterm", "attach_midterm_evidence", actor, "applicant", state, state,
                 data={"sha256": attachment.sha256, "filename": attachment.filename}, ip=ip)
    return attachment


def evidence_of(report: MidtermReport) -> list[Attachment]:
    if not report.evidence:
        return []
    return list(db.session.scalars(sa.select(Attachment).where(
        Attachment.application_id == report.application_id,
        Attachment.sha256.in_(report.evidence)).order_by(Attachment.id)))


# ---- the panel ---------------------------------------------------------------------------

def assign_panel(actor: Any, report_id: int, expert_ids: Any,
                 ip: str | None = None) -> MidtermReport:
    """The officer draws the round's panel (at least three experts, none conflicted with
    the project); a panel drawn before any score replaces the earlier one. A report
    already sent goes to the panel at once (``convene``)."""
    allow(officer(actor), "只有项目主管可以组织中期检查专家组")
    report: MidtermReport = engine.load("midterm", report_id, lock=True)
    if report.state not in PANEL_OPEN:
        raise Conflict(f"中期检查当前为“{report.state.label}”，不能再调整专家组",
                       code="panel_closed")
    if not isinstance(expert_ids, list) or not all(
            isinstance(i, int) and parse_id(i) is not None for i in expert_ids):
        raise Invalid("请选择专家", details={"expert_ids": "应为专家用户 id 的列表"})
    ids = list(dict.fromkeys(expert_ids))
    problem = panel_problem(ids, report.application, "中期检查专家组")
    if problem is not None:
        raise Invalid(problem.message, details=problem.details, code=problem.code)
    now = utcnow()
    for old in report.panel():
        if old.submitted_at is not None:  # pragma: no cover (scores only while reviewing)
            raise Conflict("已有专家提交评分，不能再调整专家组", code="panel_closed")
        db.session.delete(old)
    db.session.flush()
    db.session.expire(report, ["scores"])
    for n, expert_id in enumerate(ids, start=1):
        row = MidtermScore(midterm_id=report.id, round=report.round, seq=n,
                           expert_id=expert_id, assigned_at=now)
        db.session.add(row)
        db.session.flush()
        audit.record(row, "midterm_score", "assign_midterm_seat", actor, "officer", None, None,
                     data={"midterm_id": report.id, "round": report.round}, ip=ip)
    db.session.expire(report, ["scores"])
    audit.record(report, "midterm", "assign_midterm_panel", actor, "officer", report.state.value,
                 report.state.value, f"第{report.round}轮评议专家组：{len(ids)}名专家",
                 {"round": report.round, "experts": len(ids)}, ip)
    if report.state is MT.submitted:
        engine.fire(report, "convene", actor, ip=ip)
    return report


def score(actor: Any, report_id: int, body: Mapping[str, Any],
          ip: str | None = None) -> MidtermScore:
    """A panel expert scores the current round: 0–100, an opinion and the outcome they
    recommend; they may revise it until the officer concludes."""
    report: MidtermReport = engine.load("midterm", report_id, lock=True)
    mine = next((s for s in report.panel() if s.expert_id == getattr(actor, "id", None)),
                None)
    if mine is None or not actor.has_role("expert"):
        raise Forbidden("您不在本次中期检查的专家组中", code="not_panelist")
    if report.state is not MT.reviewing:
        raise Conflict(f"中期检查当前为“{report.state.label}”，不在专家评议阶段",
                       code="not_reviewing")
    errors: dict[str, str] = {}
    for key in body:
        if key not in ("score", "opinion", "recommendation"):
            errors[key] = "不接受该字段"
    value = body.get("score")
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,3}", value.strip()):
        value = int(value.strip())  # ASCII digits only: "²" is a digit int() refuses
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        errors["score"] = "评分应为0至100的整数"
    opinion = _text(body.get("opinion"), "评议意见", "opinion", errors)
    if "opinion" not in errors and len(opinion) < MIN_OPINION:
        errors["opinion"] = f"请填写评议意见（不少于{MIN_OPINION}字）"
    recommendation = body.get("recommendation")
    if recommendation not in OUTCOMES:
        errors["recommendation"] = "请选择建议结论：通过、整改或终止"
    if errors or not isinstance(value, int) or not isinstance(recommendation, str):
        raise Invalid("评议有误：" + "；".join(dict.fromkeys(errors.values())), details=errors)
    mine.score, mine.opinion, mine.recommendation = value, opinion, recommendation
    mine.submitted_at = utcnow()
    db.session.flush()
    audit.record(mine, "midterm_score", "score_midterm", actor, "expert", None, None, opinion,
                 {"score": value, "recommendation": recommendation, "round": mine.round}, ip)
    return mine


def scores_missing(report: MidtermReport) -> int:
    return sum(1 for s in report.panel() if s.submitted_at is None)


def average(report: MidtermReport, round_no: int | None = None) -> Decimal | None:
    given = [s.score for s in report.panel(round_no) if s.score is not None]
    if not given:
        return None
    return (Decimal(sum(given)) / len(given)).quantize(Decimal("0.1"))


# ---- the beat ----------------------------------------------------------------------------

def mark_overdue(now: datetime | None = None) -> int:
    """Reports past due and not sent become overdue (the team is told once, by the
    transition's message); running again changes nothing."""
    now = now or utcnow()
    on = today(now)
    done = 0
    ids = list(db.session.scalars(sa.select(MidtermReport.id).where(
        MidtermReport.state.in_([MT.open, MT.rectify])).order_by(MidtermReport.id)))
    for report_id in ids:
        report = db.session.get(MidtermReport, report_id)
        if report is None or report.due >= on:
            continue
        try:
            report = engine.load("midterm", report_id, lock=True)
            engine.fire(report, "mark_overdue", None, now=now)
            db.session.commit()
            done += 1
        except ServiceError as err:
            db.session.rollback()
            log.info("midterm %s not marked overdue: %s", report_id, err.message)
    return done


def send_reminders(now: datetime | None = None) -> int:
    """Three days before the due date, and each week after the first one overdue (the
    transition to overdue tells the team itself), the team is reminded; each reminder
    once per report, round and step."""
    on = today(now)
    batch: list[tuple[Message, str]] = []
    for report in db.session.scalars(sa.select(MidtermReport).where(
            MidtermReport.state.in_(EDITABLE)).order_by(MidtermReport.id)):
        due = report.due
        if report.state is MT.overdue:
            weeks = (on - due).days // 7
            if weeks < 1:  # the first week: the overdue transition's own message
                continue
            step = f"overdue{weeks}"
        elif 0 <= (due - on).days <= 3:
            step = "before3"
        else:
            continue
        app = report.application
        batch.append((Message(app.applicant_id, "midterm_due", REMINDER, {
            "app": app, "midterm": report, "due_on": due.isoformat(),
            "overdue": report.state is MT.overdue}, link=f"/midterms/{report.id}"),
            f"reminder:midterm:{report.id}:{report.round}:{step}"))
    made = len(send_many(batch)) if batch else 0
    db.session.commit()
    return made


# ---- reading -----------------------------------------------------------------------------

def midterms_of(app: Application) -> list[MidtermReport]:
    return list(db.session.scalars(sa.select(MidtermReport).where(
        MidtermReport.application_id == app.id).order_by(MidtermReport.seq)))


def running_projects(call_id: int | None = None) -> list[Application]:
    query = sa.select(Application).where(Application.state == A.in_progress)
    if call_id is not None:
        query = query.where(Application.call_id == call_id)
    return list(db.session.scalars(query.order_by(Application.id).limit(500)))


def calls_with_midterm_step() -> list[tuple[int, str]]:
    """(id, title) of the calls with running projects whose steps include the midterm
    check: each call's running projects looked up in the (call_id, state) index, the
    calls' other columns not read (2,000 calls, 157,000 running projects: 0.9 s to 0.1 s)."""
    running = sa.exists().where(Application.call_id == Call.id,
                                Application.state == A.in_progress)
    rows = db.session.execute(sa.select(Call.id, Call.title, Call.steps).where(running)
                              .order_by(Call.id.desc()))
    return [(call_id, title) for call_id, title, steps in rows if "midterm" in (steps or ())]
