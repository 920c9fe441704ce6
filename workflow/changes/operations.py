"""The verbs of change requests besides their transitions: the team drafts a request (its
kind and what it asks for, with reasons) and uploads its evidence; every step after that
is a transition of ``states.CHANGE`` through the engine."""

from __future__ import annotations

import re
from datetime import date
from typing import IO, Any

import sqlalchemy as sa

from forms import parse_id
from forms.schema import validate
from states import ChangeState
from workflow.accounts.models import Organization, User
from workflow.applying.models import Application
from workflow.applying.visibility import can_view_application
from workflow.changes.models import KIND_LABELS, ChangeKind, ChangeRequest
from workflow.changes.rules import (
    ADJUSTED_CONTENT,
    CHANGEABLE,
    EVIDENCE_FIELD,
    extensions_allowed,
    max_extension_months,
    months_after,
    planned_end,
    team_field,
)
from workflow.core import audit, engine
from workflow.core.errors import Conflict, Invalid
from workflow.core.files import save_upload
from workflow.core.models import Attachment, db
from workflow.permissions import allow, found, principal_investigator

EDITABLE = (ChangeState.draft, ChangeState.returned)
OPEN = (ChangeState.draft, ChangeState.submitted, ChangeState.returned, ChangeState.endorsed,
        ChangeState.demand_agreed, ChangeState.proposed)
MAX_TEXT = 5000
# Control characters (PostgreSQL cannot store U+0000) and lone surrogates; line breaks
# and tabs are text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# What each kind asks for (the fields of the form and the API besides kind and reason).
KIND_FIELDS = {"pi": ("new_pi_id",), "member": ("new_team",),
               "organization": ("new_organization_id",), "extension": ("new_end_date",),
               "content": ("new_indicators", "new_content"), "termination": ()}
FIELDS = ("new_pi_id", "new_team", "new_organization_id", "new_end_date", "new_indicators",
          "new_content")


def _team_lead(actor: Any, app: Application) -> None:
    found(app, actor, can_view_application, what="项目")
    allow(principal_investigator(actor, app), "只有项目负责人可以申请项目变更", code="not_owner")


def _text(value: Any, label: str, key: str, errors: dict[str, str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[key] = "应为文字"
        return ""
    text = value.strip()
    if _CONTROL.search(text):
        errors[key] = f"{label}含有无法保存的控制字符，请重新输入"
    elif len(text) > MAX_TEXT:
        errors[key] = f"{label}不超过{MAX_TEXT}字（当前{len(text)}字）"
    return text


def _new_pi(app: Application, value: Any, errors: dict[str, str]) -> int | None:
    user_id = parse_id(value) if not isinstance(value, bool) else None
    user = db.session.get(User, user_id) if user_id else None
    if user is None or user.organization_id != app.organization_id \
            or not user.has_role("applicant") or not user.active:
        errors["new_pi_id"] = f"请选择承担单位“{app.organization.name}”在册的科研人员"
        return None
    if user.id == app.applicant_id:
        errors["new_pi_id"] = "新负责人与现负责人是同一人"
    return user.id


def _new_org(app: Application, value: Any, errors: dict[str, str]) -> int | None:
    org_id = parse_id(value) if not isinstance(value, bool) else None
    org = db.session.get(Organization, org_id) if org_id else None
    if org is None:
        errors["new_organization_id"] = "请选择已登记的单位"
        return None
    if org.id == app.organization_id:
        errors["new_organization_id"] = "新承担单位与现承担单位相同"
    return org.id


def _new_end(app: Application, value: Any, errors: dict[str, str]) -> date | None:
    try:
        new = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        new = None
    if new is None:
        errors["new_end_date"] = "请填写延期后的结束日期（YYYY-MM-DD）"
        return None
    end = planned_end(app)
    latest = months_after(end, max_extension_months())
    if new <= end:
        errors["new_end_date"] = f"应晚于现结束日期{end.isoformat()}"
    elif new > latest:
        errors["new_end_date"] = (f"延期不能超过{max_extension_months()}个月，"
                                  f"最迟{latest.isoformat()}")
    return new


def _new_team(app: Application, value: Any, errors: dict[str, str]) -> list[Any] | None:
    field = team_field(app)
    if field is None:
        errors["kind"] = "本项目申报书没有团队成员表，不能申请团队成员变更"
        return None
    clean, problems = validate([field], {field["name"]: value})
    for key, message in problems.items():
        errors[key.replace(field["name"], "new_team", 1)] = message
    rows = clean.get(field["name"])
    if not problems and not rows:
        errors["new_team"] = "请填写变更后的团队成员"
    return rows if isinstance(rows, list) else None


def _new_indicators(app: Application, value: Any, errors: dict[str, str]
                    ) -> dict[str, str] | None:
    names = [i["name"] for i in app.challenge.indicators] if app.challenge else []
    if not isinstance(value, dict) or not value:
        errors["new_indicators"] = "请逐项填写调整后的攻关指标：" + "、".join(names)
        return None
    unknown = [str(k) for k in value if k not in names]
    if unknown:
        errors["new_indicators"] = "榜单没有这些攻关指标：" + "、".join(unknown)
        return None
    out = {}
    for name, target in value.items():
        if not isinstance(target, str) or not target.strip() or len(target) > 2000 \
                or _CONTROL.search(target):
            errors["new_indicators"] = f"“{name}”的目标值应为不超过2000字的文字"
            return None
        out[str(name)] = target.strip()
    return out


def parse(app: Application, kind: ChangeKind, body: dict[str, Any]) -> dict[str, Any]:
    """What a request of ``kind`` asks for, checked; a field another kind takes is
    refused by name, every problem in one 422."""
    errors: dict[str, str] = {}
    for name in FIELDS:
        if body.get(name) not in (None, "", [], {}) and name not in KIND_FIELDS[kind.value]:
            errors[name] = f"{kind.label}不填写此项"
    out: dict[str, Any] = {name: None for name in FIELDS}
    out["reason"] = _text(body.get("reason"), "变更理由", "reason", errors)
    if kind is ChangeKind.pi:
        out["new_pi_id"] = _new_pi(app, body.get("new_pi_id"), errors)
    elif kind is ChangeKind.organization:
        out["new_organization_id"] = _new_org(app, body.get("new_organization_id"), errors)
    elif kind is ChangeKind.extension:
        out["new_end_date"] = _new_end(app, body.get("new_end_date"), errors)
    elif kind is ChangeKind.member:
        out["new_team"] = _new_team(app, body.get("new_team"), errors)
    elif kind is ChangeKind.content and app.challenge is not None:
        if body.get("new_content"):
            errors["new_content"] = "揭榜挂帅项目请逐项填写调整后的攻关指标（new_indicators）"
        out["new_indicators"] = _new_indicators(app, body.get("new_indicators"), errors)
    elif kind is ChangeKind.content:
        if body.get("new_indicators"):
            errors["new_indicators"] = ("包干制项目请以文字写明调整后的研究内容和考核指标"
                                        "（new_content）")
        text = _text(body.get("new_content"), "调整后的研究内容和考核指标", "new_content", errors)
        if not text:
            errors["new_content"] = "请写明调整后的研究内容和考核指标"
        out["new_content"] = text
    if errors:
        raise Invalid("变更申请有误：" + "；".join(dict.fromkeys(errors.values())),
                      details=errors)
    return out


def kind_of(value: Any) -> ChangeKind:
    try:
        return ChangeKind(value)
    except ValueError:
        raise Invalid("请选择变更类型", details={"kind": "可选：" + "、".join(
            f"{k}（{v}）" for k, v in KIND_LABELS.items())}) from None


def _open_of_kind(app: Application, kind: ChangeKind, but: int | None = None) -> None:
    query = sa.select(ChangeRequest.id).where(
        ChangeRequest.application_id == app.id, ChangeRequest.kind == kind,
        ChangeRequest.state.in_(OPEN))
    if but is not None:
        query = query.where(ChangeRequest.id != but)
    if db.session.scalar(query.limit(1)) is not None:
        raise Conflict(f"本项目已有一项办理中的“{kind.label}”申请，请先办结或撤回",
                       code="change_open")


def create(actor: Any, app: Application, body: dict[str, Any],
           ip: str | None = None) -> ChangeRequest:
    """A draft change request of a running project, by its principal investigator."""
    _team_lead(actor, app)
    kind = kind_of(body.get("kind"))
    app = engine.load("application", app.id, lock=True)
    if app.state not in CHANGEABLE:
        raise Conflict(f"项目当前为“{app.state.label}”，只有执行中的项目可以申请变更",
                       code="project_not_running")
    if kind is ChangeKind.extension and extensions_allowed() <= _approved_extensions(app):
        raise Conflict(f"本项目已延期，每个项目至多延期{extensions_allowed()}次",
                       code="extension_used")
    _open_of_kind(app, kind)
    values = parse(app, kind, body)
    seq = (db.session.scalar(sa.select(sa.func.max(ChangeRequest.seq)).where(
        ChangeRequest.application_id == app.id)) or 0) + 1
    change = ChangeRequest(application_id=app.id, seq=seq, kind=kind, evidence=[],
                           requested_by_id=actor.id, **values)
    db.session.add(change)
    db.session.flush()
    audit.record(change, "change", "create", actor, "applicant", None, change.state.value,
                 data={"kind": kind.value}, ip=ip)
    return change


def _approved_extensions(app: Application) -> int:
    from workflow.changes.rules import approved_extensions

    return approved_extensions(app)


def _editable(actor: Any, change: ChangeRequest) -> ChangeRequest:
    _team_lead(actor, change.application)
    change = engine.load("change", change.id, lock=True)
    if change.state not in EDITABLE:
        raise Conflict(f"变更申请当前为“{change.state.label}”，不能修改", code="not_editable")
    return change


def update(actor: Any, change: ChangeRequest, body: dict[str, Any],
           expected_version: int | None = None, ip: str | None = None) -> ChangeRequest:
    """Edit a draft (or returned) request: the fields given replace those stored."""
    change = _editable(actor, change)
    if expected_version is not None and change.version != expected_version:
        raise Conflict("变更申请已在别处修改，请刷新后再改", code="stale_version")
    if "kind" in body and body["kind"] != change.kind.value:
        raise Invalid("变更类型不能修改，请撤回后重新申请", details={"kind": "不能修改"})
    merged = {"reason": change.reason, **{n: _stored(change, n) for n in FIELDS}}
    merged.update({k: v for k, v in body.items() if k != "kind"})
    values = parse(change.application, change.kind, merged)
    changes = {}
    for name, value in values.items():
        if getattr(change, name) != value:
            changes[name] = [str(getattr(change, name)), str(value)]
            setattr(change, name, value)
    db.session.flush()
    if changes:
        audit.record(change, "change", "update", actor, "applicant", change.state.value,
                     change.state.value, data={"changes": changes}, ip=ip)
    return change


def _stored(change: ChangeRequest, name: str) -> Any:
    value = getattr(change, name)
    return value.isoformat() if isinstance(value, date) else value


def attach_evidence(actor: Any, change: ChangeRequest, filename: str, stream: IO[bytes],
                    ip: str | None = None) -> Attachment:
    """A file of evidence for a draft request, checked by its content and size as every
    upload is, kept with the project's attachments."""
    change = _editable(actor, change)
    attachment = save_upload(actor, filename, stream, EVIDENCE_FIELD,
                             application_id=change.application_id)
    if attachment.sha256 not in change.evidence:
        change.evidence = [*change.evidence, attachment.sha256]
    db.session.flush()
    audit.record(change, "change", "attach_change_evidence", actor, "applicant",
                 change.state.value, change.state.value,
                 data={"sha256": attachment.sha256, "filename": attachment.filename}, ip=ip)
    return attachment


def evidence_of(change: ChangeRequest) -> list[Attachment]:
    if not change.evidence:
        return []
    return list(db.session.scalars(sa.select(Attachment).where(
        Attachment.application_id == change.application_id,
        Attachment.sha256.in_(change.evidence)).order_by(Attachment.id)))


def changes_of(app: Application) -> list[ChangeRequest]:
    return list(db.session.scalars(sa.select(ChangeRequest).where(
        ChangeRequest.application_id == app.id).order_by(ChangeRequest.seq)))


def pi_choices(app: Application) -> list[User]:
    """Who may become the project's principal investigator: the researchers of its
    organisation but the current one."""
    from workflow.accounts.models import UserRole

    return list(db.session.scalars(sa.select(User).join(UserRole).where(
        User.organization_id == app.organization_id, User.active.is_(True),
        UserRole.role == "applicant", User.id != app.applicant_id).order_by(User.name)))


def organization_choices(app: Application) -> list[Organization]:
    return list(db.session.scalars(sa.select(Organization).where(
        Organization.id != app.organization_id).order_by(Organization.name)))


def project_facts(app: Application) -> dict[str, Any]:
    """What the change pages show of the project now."""
    data = app.data or {}
    return {"ends_on": planned_end(app), "team_field": team_field(app),
            "adjusted_content": data.get(ADJUSTED_CONTENT),
            "indicators": data.get("indicators") or {},
            "max_months": max_extension_months(), "extensions_allowed": extensions_allowed(),
            "extensions_done": _approved_extensions(app)}
