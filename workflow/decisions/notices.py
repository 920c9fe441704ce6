"""公示: the public list of projects in notice, written objections, and the end of it.

Anyone may read the list and object, without an account. A real-name objection
(name and a contact the bureau can reach) moves the project into 异议处理 through
``fire``; an anonymous one is recorded and not accepted (its ``refuse_anonymous``
transition). Each objection keeps its own trail; the officer's finding on the project
closes every open one (``uphold`` / ``dismiss``). When every project of a call has left
notice, the call's 立项文件 is issued (its 发文字号 taken, or awaited from the office), and
then each approved project's 立项通知书, which cites the 立项文件.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from forms.validators import FieldError, check_phone, has_line_break
from states import ApplicationState
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import audit, engine, numbering
from workflow.core.errors import Invalid, NotFound, Throttled, wait_text
from workflow.core.models import IssuedNumber, db, utcnow
from workflow.core.rules import FireResult
from workflow.decisions.models import Objection, ObjectionState

IN_NOTICE = (ApplicationState.public_notice, ApplicationState.objection)
PENDING = (ApplicationState.shortlisted, *IN_NOTICE)
APPROVAL_FILE = "call.approval_file"  # the 立项文件 is numbered: render it
NOTICE = "application.notice"         # a 立项通知书 is numbered: render it, tell the team
APPROVAL_FILE_KIND, NOTICE_KIND = "approval_file", "notice"
# The states of a project the 立项文件 lists (approved, and whatever became of it since).
APPROVED_STATES = (ApplicationState.approved, ApplicationState.contracted,
                   ApplicationState.in_progress, ApplicationState.midterm,
                   ApplicationState.acceptance, ApplicationState.completed,
                   ApplicationState.failed, ApplicationState.terminated)
MIN_OBJECTION = 10
MAX_OBJECTION = 5000
PER_SENDER_PER_HOUR = 5  # from one address by one contact (or anonymously)
PER_ADDRESS_PER_HOUR = 30  # from one address, past which each further one waits
ADDRESS_MAX_WAIT = 15 * 60  # seconds
ANONYMOUS = "匿名异议（未留真实姓名和联系方式），不予受理"


def in_notice() -> list[Application]:
    """Every project on public notice now (objections under investigation included)."""
    return list(db.session.scalars(sa.select(Application).where(
        Application.state.in_(IN_NOTICE)).order_by(Application.call_id, Application.id)))


def under_objection(app: Application) -> bool:
    """On notice, with a written objection being looked into (异议核查中)."""
    return app.state is ApplicationState.objection


def notice_entry(app_id: int) -> Application:
    app = db.session.get(Application, app_id)
    if app is None or app.state not in IN_NOTICE:
        raise NotFound("该项目不在公示期内")
    return app


@dataclass
class ObjectionReceipt:
    objection: Objection
    accepted: bool


def _contact(value: str) -> str:
    if "@" in value:
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as err:
            raise FieldError("电子邮箱格式不正确") from err
    return check_phone(value)


def objection_wait(ip: str, contact: str, now: datetime) -> int:
    """Seconds before another objection from ``ip`` by ``contact`` is taken; 0 now.

    The limit is per person, as far as a public form knows one: an address and a contact
    (the anonymous share one) may send ``PER_SENDER_PER_HOUR`` in an hour, so that junk
    sent from a shared address (a campus NAT) does not silence the real-name objector
    behind it. All of an address's objections together only slow down past
    ``PER_ADDRESS_PER_HOUR``: each further one waits 1 minute, 2, 4 ... up to
    ``ADDRESS_MAX_WAIT`` after the address's last one; never a lock for the hour."""
    hour = now - timedelta(hours=1)
    ip = ip[:45]
    mine = db.session.scalars(sa.select(Objection.received_at).where(
        Objection.ip == ip, Objection.contact == contact[:100], Objection.received_at > hour)
        .order_by(Objection.received_at.desc()).limit(PER_SENDER_PER_HOUR)).all()
    if len(mine) >= PER_SENDER_PER_HOUR:  # room again once the oldest of them is an hour old
        return max(1, math.ceil((mine[-1] + timedelta(hours=1) - now).total_seconds()))
    count, last = db.session.execute(sa.select(
        sa.func.count(Objection.id), sa.func.max(Objection.received_at)).where(
        Objection.ip == ip, Objection.received_at > hour)).one()
    if not count or count < PER_ADDRESS_PER_HOUR or last is None:
        return 0
    delay = min(60 * 2 ** min(count - PER_ADDRESS_PER_HOUR, 10), ADDRESS_MAX_WAIT)
    return max(0, math.ceil(delay - (now - last).total_seconds()))


def submit_objection(app_id: int, fields: dict[str, Any], ip: str | None) -> ObjectionReceipt:
    """A written objection from the public page. Refuses bad input with every reason;
    records an anonymous one as not accepted."""
    name = str(fields.get("name") or "").strip()
    contact = str(fields.get("contact") or "").strip()
    org = str(fields.get("organization") or "").strip()
    text = str(fields.get("text") or "").strip()
    errors: dict[str, str] = {}
    if len(text) < MIN_OBJECTION:
        errors["text"] = f"请写明异议的事实和理由（不少于{MIN_OBJECTION}字）"
    elif len(text) > MAX_OBJECTION:
        errors["text"] = f"异议内容不能超过{MAX_OBJECTION}字"
    if len(name) > 50:
        errors["name"] = "姓名不能超过50字"
    elif has_line_break(name):
        errors["name"] = "姓名不能换行，请写在一行内"
    if len(org) > 200:
        errors["organization"] = "单位名称不能超过200字"
    elif has_line_break(org):
        errors["organization"] = "单位名称不能换行，请写在一行内"
    if contact:
        try:
            contact = _contact(contact)
        except FieldError as err:
            errors["contact"] = str(err)
    if errors:
        raise Invalid("异议未提交：" + "；".join(errors.values()), details=errors)
    app = engine.load("application", app_id, lock=True)
    if app.state not in IN_NOTICE:
        raise NotFound("该项目不在公示期内")
    if ip:
        wait = objection_wait(ip, contact, utcnow())
        if wait:
            raise Throttled(f"提交过于频繁，请{wait_text(wait)}后再试，或以书面形式寄送异议材料",
                            retry_after=wait)

    if not (name and contact):
        # Recorded for the file, not investigated: objections must be real-name.
        objection = _receive(app, name, contact, org, text, ip, utcnow())
        engine.fire(objection, "refuse_anonymous", None, ip=ip, comment=ANONYMOUS)
        return ObjectionReceipt(objection, accepted=False)

    data = {"objector_name": name, "objector_contact": contact, "objector_org": org,
            "objector_ip": ip or ""}
    if app.state is ApplicationState.public_notice:
        engine.fire(app, "raise_objection", None, comment=text, data=data, ip=ip)
        objection = db.session.scalars(sa.select(Objection).where(
            Objection.application_id == app.id).order_by(Objection.id.desc()).limit(1)).one()
    else:
        # Already under investigation: one more objection joins it.
        objection = _receive(app, name, contact, org, text, ip, utcnow())
    return ObjectionReceipt(objection, accepted=True)


def _receive(app: Application, name: str, contact: str, org: str, text: str,
             ip: str | None, now: datetime) -> Objection:
    """A new objection (open), the first row of its own trail. The objector's name stays
    on the objection, which only the bureau reads."""
    objection = Objection(application_id=app.id, name=name[:50], contact=contact[:100],
                          organization=org[:200], text=text, ip=(ip or "")[:45] or None,
                          received_at=now)
    db.session.add(objection)
    db.session.flush()
    audit.record(objection, "objection", "receive", None, "system", None,
                 objection.state.value, "", {"application_id": app.id}, ip)
    return objection


def record_objection(result: FireResult, actor: User | None, ip: str | None) -> None:
    """The follow-up of the project's ``raise_objection``: the objection it received."""
    given = (result.audit_event.data or {}).get("input", {})
    _receive(result.row, str(given.get("objector_name", "")),
             str(given.get("objector_contact", "")), str(given.get("objector_org", "")),
             result.audit_event.comment, str(given.get("objector_ip", "")) or None,
             result.now or result.audit_event.at)


def objections_of(app: Application) -> list[Objection]:
    return list(db.session.scalars(sa.select(Objection).where(
        Objection.application_id == app.id).order_by(Objection.id)))


def close_objections(result: FireResult, actor: User | None, trigger: str,
                     ip: str | None = None) -> list[int]:
    """The officer's finding on the project closes each of its open objections through
    their ``uphold`` or ``dismiss``, with the finding as the comment; their ids."""
    app: Application = result.row
    now = result.now or result.audit_event.at
    closed = []
    for objection_id in list(db.session.scalars(sa.select(Objection.id).where(
            Objection.application_id == app.id, Objection.state == ObjectionState.open)
            .order_by(Objection.id))):
        engine.fire(engine.load("objection", objection_id, lock=True), trigger, actor,
                    comment=result.audit_event.comment, ip=ip, now=now)
        closed.append(objection_id)
    return closed


def uphold_objections(result: FireResult, actor: User | None, ip: str | None) -> None:
    """异议成立: the project is not funded; it may have been the last of its call in notice."""
    close_objections(result, actor, "uphold", ip)
    settle_call(result.row, result.now or result.audit_event.at)


def dismiss_objections(result: FireResult, actor: User | None, ip: str | None) -> None:
    """异议不成立: the project is back on notice."""
    close_objections(result, actor, "dismiss", ip)


def settle_call(app: Application, now: datetime) -> None:
    """When ``app`` is the last of its call to leave notice and some project is approved,
    the call's 立项文件 is issued: numbered in this transaction (and rendered after
    commit), or waiting for the office's number. The call's lock makes the last of two
    concurrent approvals see the other one."""
    call: Call = engine.load("call", app.call_id, lock=True)
    if call.doc_number is not None or numbering.issued(
            APPROVAL_FILE_KIND, "call", call.id) is not None:
        return
    others = sa.select(sa.func.count(Application.id)).where(
        Application.call_id == call.id, Application.id != app.id)
    if db.session.scalar(others.where(Application.state.in_(PENDING))):
        return
    approved = app.state is ApplicationState.approved or db.session.scalar(
        others.where(Application.approved_at.is_not(None)))
    if not approved:
        return
    row = numbering.issue(APPROVAL_FILE_KIND, "call", call.id, now, topic=APPROVAL_FILE,
                          subject=f"关于下达{call.title}立项项目的通知")
    if row.number is not None:
        approval_file_numbered(call, row, None, "system", approving=app)


def approved_projects(call: Call) -> list[Application]:
    """The call's projects the 立项文件 lists (approved, whatever became of them since)."""
    return list(db.session.scalars(sa.select(Application).where(
        Application.call_id == call.id, Application.approved_at.is_not(None),
        Application.state.in_(APPROVED_STATES)).order_by(Application.project_number)))


def approval_file_numbered(call: Call, row: IssuedNumber, actor: User | None, role: str,
                           ip: str | None = None, approving: Application | None = None
                           ) -> None:
    """The 立项文件 (``row``) got its 发文字号 (``call``, locked by the caller): recorded
    on the call, and each project it lists is issued its 立项通知书, which cites it, in
    the same transaction. ``approving``: the project whose approval (not yet written:
    this runs inside its transition) issued the file."""
    call.doc_number = row.number
    audit.record(call, "call", "issue_approval_file", actor, role, call.state.value,
                 call.state.value, "", {"doc_number": call.doc_number}, ip)
    at = row.numbered_at or utcnow()
    projects = approved_projects(call)
    if approving is not None and approving.approved_at is not None \
            and approving not in projects:
        projects = sorted([*projects, approving], key=lambda a: a.project_number or "")
    for project in projects:
        notice = numbering.issue(NOTICE_KIND, "application", project.id, at, topic=NOTICE,
                                 subject=f"关于“{project.title}”项目立项的通知")
        if notice.number is not None:
            notice_numbered(project, notice)


def notice_numbered(app: Application, row: IssuedNumber) -> None:
    """The 立项通知书 (``row``) got its 发文字号: kept on the project as well."""
    app.doc_number = row.number
