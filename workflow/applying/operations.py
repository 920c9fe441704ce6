"""A researcher's application: draft, autosave, sign, attach, submit, withdraw."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa

from forms import FieldError, check_line, has_line_break, parse_id, parse_wan
from forms.commitments import commitment_fingerprint, pledge_fingerprint
from forms.schema import to_input, validate
from states import ApplicationState, CallState
from workflow.accounts.models import User
from workflow.applying.facts import facts_json
from workflow.applying.models import (
    Application,
    ApplicationRound,
    SignedDocument,
    SigningParty,
)
from workflow.applying.visibility import can_read_application, can_view_application
from workflow.calls.models import Call, Challenge, Scheme
from workflow.calls.operations import form_fields
from workflow.core import audit, engine, outbox
from workflow.core.errors import Conflict, Forbidden, Invalid, NotFound
from workflow.core.files import save_upload
from workflow.core.models import Attachment, db, utcnow
from workflow.core.rules import FireResult
from workflow.permissions import allow, demand_side, draft_creator, found, principal_investigator

EDITABLE = (ApplicationState.draft, ApplicationState.returned)
LINE_BREAK_IN_TITLE = "项目名称不能换行，请写在一行内"
def _own(actor: User, app: Application) -> None:
    found(app, actor, can_view_application, what="申报书")
    allow(principal_investigator(actor, app), "只有项目负责人本人可以修改或提交申报书",
          code="not_owner")


def may_edit(user: User, app: Application) -> bool:
    """The application's form is open to ``user``: their own, as a draft or returned."""
    return principal_investigator(user, app) and app.state in EDITABLE


def create_draft(actor: User, call_id: Any, title: Any, challenge_id: Any = None,
                 data: Any = None) -> Application:
    if not draft_creator(actor):
        raise Forbidden("只有单位的申报人可以创建申报书", code="role_not_allowed")
    errors: dict[str, str] = {}
    call = db.session.get(Call, parse_id(call_id)) if parse_id(call_id) else None
    if call is None or call.state is CallState.draft:
        raise NotFound("申报指南不存在")
    now = utcnow()
    opens, closes = call.opens_at, call.closes_at
    if call.state is not CallState.published or opens is None or closes is None \
            or not opens <= now < closes:
        raise Conflict("该指南不在受理期，不能新建申报书", code="call_not_open")
    title = str(title or "").strip()
    if not title:
        errors["title"] = "请填写项目名称"
    elif len(title) > 200:
        errors["title"] = "项目名称不能超过200字"
    elif has_line_break(title):
        errors["title"] = LINE_BREAK_IN_TITLE
    challenge = None
    if call.scheme is Scheme.jiebang:
        challenge = db.session.get(Challenge, parse_id(challenge_id)) if parse_id(
            challenge_id) else None
        if challenge is None or challenge.call_id != call.id:
            errors["challenge_id"] = "请选择本批次的一个榜单"
    elif challenge_id is not None:
        errors["challenge_id"] = "包干制项目不需要选择榜单"
    if data is not None and not isinstance(data, dict):
        raise Invalid("data 应为对象", details={"data": "应为 JSON 对象"})
    data = data or {}
    fields = form_fields(call, call.form_version)
    errors.update(_unknown_keys(fields, data))
    clean, field_errors = validate(fields, data, partial=True)
    errors.update(field_errors)
    if call.scheme is Scheme.baogan or challenge is not None:
        # The indicators and milestone plan the edit page takes, taken at creation too.
        for key in JIEBANG_KEYS:
            if key in data:
                try:
                    clean[key] = _jiebang_part(challenge, key, data[key])
                except FieldError as err:
                    errors[key] = str(err)
    if errors:
        raise Invalid("申报书信息有误", details=errors)
    app = Application(call_id=call.id, challenge_id=challenge.id if challenge else None,
                      applicant_id=actor.id, organization_id=actor.organization_id,
                      title=title, data=clean, form_version=call.form_version)
    db.session.add(app)
    db.session.flush()
    audit.record(app, "application", "create", actor, "applicant", None, app.state.value)
    return app


def save_draft(actor: User, app: Application, title: Any = None, data: Any = None,
               expected_version: int | None = None) -> Application:
    """Autosave and edits: only the form's own fields, only before submission (or after
    a return), only by the principal investigator. A refused save changes nothing."""
    _own(actor, app)
    app = engine.load("application", app.id, lock=True)
    if app.state not in EDITABLE:
        raise Conflict(f"申报书当前为“{app.state.label}”，不能修改", code="not_editable")
    if expected_version is not None and app.version != expected_version:
        raise Conflict("申报书已在别处保存过，请刷新后再改", details={"version": app.version},
                       code="stale_version")
    errors: dict[str, str] = {}
    if title is not None:
        title = str(title).strip()
        if not title:
            errors["title"] = "请填写项目名称"
        elif len(title) > 200:
            errors["title"] = f"项目名称不能超过200字（当前{len(title)}字）"
        elif has_line_break(title):
            errors["title"] = LINE_BREAK_IN_TITLE
    if data is not None and not isinstance(data, dict):
        raise Invalid("data 应为对象", details={"data": "应为 JSON 对象"})
    merged = dict(app.data or {})
    if data:
        fields = form_fields(app.call, app.form_version)
        errors.update(_unknown_keys(fields, data))
        clean, field_errors = validate(fields, data, partial=True)
        errors.update(field_errors)
        merged.update(clean)
        for key in JIEBANG_KEYS:
            if key in data:
                try:
                    merged[key] = _jiebang_part(app.challenge, key, data[key])
                except FieldError as err:
                    errors[key] = str(err)
    if errors:
        raise Invalid("申报书信息有误", details=errors)
    if title is not None:
        app.title = title
    app.data = merged
    db.session.flush()
    return app


# What a 揭榜挂帅 application holds besides its form: the answer to each indicator of its
# challenge and the milestone plan within the ceiling.
JIEBANG_KEYS = ("indicators", "milestones")


def _unknown_keys(fields: list[dict[str, Any]], data: dict[str, Any]) -> dict[str, str]:
    """A key the form does not define is refused by name, never dropped in silence."""
    known = {f["name"] for f in fields} | set(JIEBANG_KEYS)
    return {f"data.{k}": "申报书表单中没有此项" for k in sorted(set(data) - known)}


def _jiebang_part(challenge: Challenge | None, key: str, value: Any) -> Any:
    if challenge is None:
        raise FieldError("包干制项目没有此项")
    if key == "indicators":
        names = [i["name"] for i in challenge.indicators]
        if not isinstance(value, dict):
            raise FieldError("请逐项回应攻关指标")
        unknown = [str(k) for k in value if k not in names]
        if unknown:
            raise FieldError("榜单没有这些攻关指标：" + "、".join(unknown))
        return {n: str(value.get(n, ""))[:2000] for n in names}
    if not isinstance(value, list) or not value:
        raise FieldError("请填写里程碑计划")
    plan, total = [], Decimal(0)
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict) or not str(item.get("label", "")).strip():
            raise FieldError(f"第{i}个里程碑需要名称")
        unknown = sorted(set(item) - {"label", "amount_wan", "months"})
        if unknown:
            raise FieldError(f"第{i}个里程碑不接受：" + "、".join(map(str, unknown)))
        amount = parse_wan(item.get("amount_wan", ""))
        try:
            months = int(item.get("months", 0))
        except (TypeError, ValueError) as err:
            raise FieldError(f"第{i}个里程碑的完成月数应为整数") from err
        if amount <= 0 or not 1 <= months <= challenge.duration_months:
            raise FieldError(f"第{i}个里程碑的金额应大于零，月数应在1至"
                             f"{challenge.duration_months}之间")
        total += amount
        label = check_line(str(item["label"]).strip(), f"第{i}个里程碑的名称")
        plan.append({"label": label, "amount": str(amount), "months": months})
    if total > challenge.ceiling:
        raise FieldError(f"里程碑金额合计{total / 10000}万元，超过榜额"
                         f"{challenge.ceiling / 10000}万元")
    return plan


def sign(actor: User, app: Application) -> Application:
    """Sign the commitment letter (包干制) or the pledge (揭榜挂帅), by name and time."""
    _own(actor, app)
    app = engine.load("application", app.id, lock=True)
    if app.state not in EDITABLE:
        raise Conflict("已提交的申报书不需要再签署", code="not_editable")
    document = app.commitment_document
    text_fp = (commitment_fingerprint() if document is SignedDocument.commitment
               else pledge_fingerprint())
    app.sign(document, SigningParty.team, actor.id, actor.name, utcnow(), text_fp)
    db.session.flush()
    audit.record(app, "application", f"sign_{document.value}", actor, "applicant",
                 app.state.value, app.state.value, data={"text": text_fp})
    return app


def full_errors(app: Application) -> dict[str, str]:
    """Every problem that stops submission, field by field."""
    fields = form_fields(app.call, app.form_version)
    _clean, errors = validate(fields, to_input(fields, app.data or {}), partial=False)
    if app.challenge is not None:
        answers = (app.data or {}).get("indicators") or {}
        missing = [i["name"] for i in app.challenge.indicators if not answers.get(i["name"])]
        if missing:
            errors["indicators"] = "请回应攻关指标：" + "、".join(missing)
        if not (app.data or {}).get("milestones"):
            errors["milestones"] = "请填写里程碑计划"
    return errors


def submit(actor: User, app: Application, expected_version: int | None = None,
           ip: str | None = None) -> FireResult:
    _own(actor, app)
    app = engine.load("application", app.id, lock=True)
    if expected_version is not None and app.version != expected_version:
        raise Conflict("申报书已在别处修改或提交，请刷新后重试", code="stale_version")
    trigger = "resubmit" if app.state is ApplicationState.returned else "submit"
    if app.state in EDITABLE:
        errors = full_errors(app)
        if errors:
            # Whatever else the submission waits for, in the same answer: the title, the
            # signature, the deadline, the limits.
            others: list[str] = []
            for option in engine.options(app, actor):
                if option.trigger != trigger:
                    continue
                for reason in option.reasons:
                    for name, message in reason.fields:
                        errors.setdefault(name, message)
                    if not reason.fields:
                        others.append(reason.message)
            raise Invalid("；".join(["申报书还有未完成的内容", *others]), details=errors)
    return engine.fire(app, trigger, actor, ip=ip)


def record_round(app: Application, now: datetime) -> None:
    """Keep the round just submitted as it was sent, and announce it (receipt, PDF). The
    round keeps the signature it was sent with too (its archival PDF shows it)."""
    sent = {**(app.data or {}), **facts_json(app, (app.commitment_document.value,))}
    db.session.add(ApplicationRound(application_id=app.id, round=app.round, title=app.title,
                                    data=sent, submitted_at=now))
    outbox.emit("application.round_submitted", "application", app.id, {"round": app.round})


def record_outcome(app: Application, outcome: str, comment: str,
                  checklist: dict[str, Any] | None = None) -> None:
    """Keep the officer's verdict on the current round."""
    current = db.session.scalar(sa.select(ApplicationRound).where(
        ApplicationRound.application_id == app.id, ApplicationRound.round == app.round))
    if current is not None:
        current.outcome, current.outcome_comment = outcome, comment
        if checklist is not None:
            current.checklist = checklist


def rounds(app: Application) -> list[ApplicationRound]:
    return list(db.session.scalars(sa.select(ApplicationRound).where(
        ApplicationRound.application_id == app.id).order_by(ApplicationRound.round)))


# The evidence a running project's team uploads with its reports: a milestone's
# (``finance.report_milestone``) and the final report's (``finance.submit_final_report``).
EVIDENCE_FIELDS = {"milestone_evidence": "里程碑佐证材料", "final_evidence": "结题佐证材料"}
# While the project runs, before it goes to acceptance: when those reports are given.
EVIDENCE_STATES = (ApplicationState.in_progress, ApplicationState.midterm)


def attach(actor: User, app: Application, field: str, filename: str,
           stream: IO[bytes]) -> Attachment:
    """An upload to the application: a file of its form while the form is open, or a
    report's evidence (``EVIDENCE_FIELDS``) while the project runs."""
    if field in EVIDENCE_FIELDS:
        return attach_evidence(actor, app, field, filename, stream)
    _own(actor, app)
    if app.state not in EDITABLE:
        raise Conflict("已提交的申报书不能再上传附件", code="not_editable")
    fields = {f["name"]: f for f in form_fields(app.call, app.form_version)}
    if field not in fields or fields[field].get("type") != "file":
        raise Invalid("附件栏目不存在", details={"field": "应为表单中的附件栏目"})
    attachment = save_upload(actor, filename, stream, field, application_id=app.id)
    sha = attachment.sha256
    data = dict(app.data or {})
    current = data.get(field)
    if fields[field].get("multiple"):
        listed = list(current) if isinstance(current, list) else []
        if sha not in listed:
            listed.append(sha)
        data[field] = listed
    else:
        data[field] = sha
    app.data = data
    db.session.flush()
    return attachment


def attach_evidence(actor: User, app: Application, field: str, filename: str,
                    stream: IO[bytes]) -> Attachment:
    """Evidence for a report of a running project, uploaded by its principal investigator
    (the one who gives the reports); a report then names it by its SHA-256."""
    found(app, actor, can_view_application, what="申报书")
    allow(principal_investigator(actor, app), "只有项目负责人可以上传佐证材料", code="not_owner")
    if field not in EVIDENCE_FIELDS:
        raise Invalid("附件栏目不存在", details={"field": "应为" + "或".join(EVIDENCE_FIELDS)})
    app = engine.load("application", app.id, lock=True)
    if app.state not in EVIDENCE_STATES:
        raise Conflict(f"项目当前为“{app.state.label}”，不能上传佐证材料",
                       code="not_running")
    return save_upload(actor, filename, stream, field, application_id=app.id)


def evidence_on_file(app: Application, given: Any) -> list[str]:
    """The SHA-256s a report names as its evidence, each an upload of this project;
    else a 422 saying which are not."""
    if given is None:
        return []
    if not isinstance(given, list) or not all(isinstance(sha, str) for sha in given):
        raise Invalid("佐证材料应为已上传附件的 SHA-256 列表",
                      details={"evidence": "应为已上传附件的 SHA-256 列表"})
    known = set(db.session.scalars(sa.select(Attachment.sha256).where(
        Attachment.application_id == app.id, Attachment.sha256.in_(given))))
    missing = [sha for sha in given if sha not in known]
    if missing:
        raise Invalid(f"有 {len(missing)} 份佐证材料不是本项目已上传的附件",
                      details={"evidence": "不是本项目已上传的附件："
                               + "、".join(sha[:64] for sha in missing[:10])})
    return list(dict.fromkeys(given))


def attachment_for(actor: User, app: Application, sha256: str) -> Attachment:
    if not can_read_application(actor, app):
        raise NotFound("附件不存在")
    row = db.session.scalar(sa.select(Attachment).where(
        Attachment.application_id == app.id, Attachment.sha256 == sha256))
    if row is None:
        raise NotFound("附件不存在")
    return row


def attachments_of(app: Application) -> list[Attachment]:
    return list(db.session.scalars(sa.select(Attachment).where(
        Attachment.application_id == app.id).order_by(Attachment.id)))


def sign_task_book(actor: User, app: Application) -> Application:
    """The team (the principal investigator) or, for 揭榜挂帅, the demand side signs the
    task book (任务书); the officer's sign_contract then signs for the bureau."""
    app = engine.load("application", app.id, lock=True)
    if app.state is not ApplicationState.approved:
        raise Conflict("只有已立项的项目可以签署任务书", code="invalid_state")
    if principal_investigator(actor, app):
        party = SigningParty.team
    elif demand_side(actor, app):
        party = SigningParty.demand
    else:
        raise Forbidden("只有项目负责人或发榜方可以在此签署任务书", code="not_party")
    app.sign(SignedDocument.task_book, party, actor.id, actor.name, utcnow())
    db.session.flush()
    audit.record(app, "application", "sign_task_book", actor, "applicant"
                 if party is SigningParty.team else "demand", app.state.value,
                 app.state.value, data={"party": party.value})
    return app
