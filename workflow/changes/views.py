"""Pages of change requests: the list (变更), the form the team drafts a request on, and
its evidence; the request's own page (with its steps and history) is the entity page
(``/changes/<id>``, ``workflow.workbench.entities``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from forms.schema import PERSON_COLUMNS
from workflow.applying.models import Application
from workflow.applying.visibility import can_view_application
from workflow.changes import operations as changes
from workflow.changes.lists import CHANGES
from workflow.changes.models import KIND_LABELS, ChangeRequest
from workflow.changes.rules import CHANGEABLE
from workflow.core import engine
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, NotFound, ServiceError
from workflow.core.models import db
from workflow.permissions import (
    allow,
    bureau_reader,
    found,
    has_role,
    principal_investigator,
)
from workflow.web import field_errors, flash_refusal, listing

bp = Blueprint("changes", __name__)
list_reader = has_role("officer", "leader", "auditor", "admin", "org_admin", "demand",
                       "applicant")
TEAM_ROWS = 12


@bp.route("/changes")
@login_required
def index() -> Response | str:
    allow(list_reader(current_user), "您无权查看项目变更")
    return listing.respond(CHANGES, "changes/list.html", user=current_user,
                           bureau=bureau_reader(current_user))


def _project(app_id: int) -> Application:
    return found(db.session.get(Application, app_id), current_user, can_view_application,
                 what="项目")


def _change(change_id: int) -> ChangeRequest:
    try:
        row: ChangeRequest = engine.load("change", change_id)
    except NotFound:
        row = None  # type: ignore[assignment]
    return found(row, current_user, can_view, what="变更申请")


def _team_rows() -> list[dict[str, str]]:
    rows = []
    for i in range(TEAM_ROWS):
        row = {col: request.form.get(f"team-{i}-{col}", "").strip() for col in PERSON_COLUMNS}
        if any(row.values()):
            rows.append(row)
    return rows


def _body(kind: str) -> dict[str, Any]:
    """The form's inputs as the service takes them (only those of the kind chosen)."""
    form = request.form
    body: dict[str, Any] = {"kind": kind, "reason": form.get("reason", "")[:6000]}
    if kind == "pi":
        body["new_pi_id"] = form.get("new_pi_id") or None
    elif kind == "organization":
        body["new_organization_id"] = form.get("new_organization_id") or None
    elif kind == "extension":
        body["new_end_date"] = form.get("new_end_date") or None
    elif kind == "member":
        body["new_team"] = _team_rows()
    elif kind == "content":
        indicators = {k.removeprefix("ind-"): v.strip() for k, v in form.items()
                      if k.startswith("ind-") and v.strip()}
        if indicators:
            body["new_indicators"] = indicators
        if form.get("new_content", "").strip():
            body["new_content"] = form.get("new_content", "")[:6000]
    return body


def _form_page(app: Application, change: ChangeRequest | None, errors: dict[str, str],
               form: Any, status: int = 200) -> tuple[str, int]:
    facts = changes.project_facts(app)
    team = (change.new_team if change is not None and change.new_team is not None else
            (app.data or {}).get(facts["team_field"]["name"]) if facts["team_field"] else [])
    return render_template(
        "changes/form.html", app=app, change=change, kinds=KIND_LABELS, errors=errors,
        form=form, facts=facts, pi_choices=changes.pi_choices(app),
        org_choices=changes.organization_choices(app), team=team or [],
        team_rows=TEAM_ROWS, columns=PERSON_COLUMNS), status


@bp.route("/applications/<int:app_id>/changes/new", methods=["GET", "POST"])
@login_required
def new(app_id: int) -> Response | tuple[str, int]:
    app = _project(app_id)
    allow(principal_investigator(current_user, app), "只有项目负责人可以申请项目变更",
          code="not_owner")
    if request.method == "GET":
        if app.state not in CHANGEABLE:
            flash(f"项目当前为“{app.state.label}”，只有执行中的项目可以申请变更", "error")
            return redirect(url_for("entities.show", collection="applications",
                                    entity_id=app_id))
        return _form_page(app, None, {}, {"kind": request.args.get("kind", "")})
    try:
        with db.session.begin_nested():
            change = changes.create(current_user, app, _body(request.form.get("kind", "")),
                                    request.remote_addr)
    except ServiceError as err:
        db.session.expire_all()
        errors = field_errors(err)
        flash_refusal(err, placed=errors)
        if isinstance(err, Invalid):
            return _form_page(_project(app_id), None, errors, request.form, err.status)
        return redirect(url_for("entities.show", collection="applications", entity_id=app_id))
    flash("变更申请已保存为草稿：请上传佐证材料后提交", "info")
    return redirect(url_for("entities.show", collection="changes", entity_id=change.id))


@bp.route("/changes/<int:change_id>/edit", methods=["GET", "POST"])
@login_required
def edit(change_id: int) -> Response | tuple[str, int]:
    change = _change(change_id)
    allow(principal_investigator(current_user, change.application),
          "只有项目负责人可以修改变更申请", code="not_owner")
    if request.method == "GET":
        return _form_page(change.application, change, {}, {})
    try:
        with db.session.begin_nested():
            changes.update(current_user, change, _body(change.kind.value),
                           ip=request.remote_addr)
    except ServiceError as err:
        db.session.expire_all()
        errors = field_errors(err)
        flash_refusal(err, placed=errors)
        if isinstance(err, Invalid):
            change = _change(change_id)
            return _form_page(change.application, change, errors, request.form, err.status)
    else:
        flash("变更申请已保存", "info")
    return redirect(url_for("entities.show", collection="changes", entity_id=change_id))


@bp.route("/changes/<int:change_id>/evidence", methods=["POST"])
@login_required
def evidence(change_id: int) -> Response:
    change = _change(change_id)
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise Invalid("请选择要上传的文件")
        with db.session.begin_nested():
            changes.attach_evidence(current_user, change, file.filename, file.stream,
                                    request.remote_addr)
        flash(f"已上传：{file.filename}", "info")
    except ServiceError as err:
        flash(f"上传失败：{err.message}", "error")
    return redirect(url_for("entities.show", collection="changes", entity_id=change_id))


def change_extra(change: ChangeRequest, user: Any) -> dict[str, Any]:
    """What a change request's page shows besides the row (``entities.show``)."""
    from workflow.changes.rules import change_steps
    from workflow.documents.models import Document

    steps = change_steps(change)
    docs = list(db.session.scalars(sa.select(Document).where(
        Document.application_id == change.application_id,
        Document.kind == "change_approval", Document.round == change.seq)))
    return {"facts": changes.project_facts(change.application),
            "evidence": changes.evidence_of(change), "documents": docs,
            "needs_demand": "demand_side" in steps, "leader_decides": "leader_decides" in steps,
            "editable": change.state in changes.EDITABLE
            and principal_investigator(user, change.application)}


def project_extra(app: Application, user: Any) -> dict[str, Any]:
    """A project's change requests, and whether its team may ask for one now."""
    return {"changes": changes.changes_of(app),
            "may_request_change": app.state in CHANGEABLE
            and principal_investigator(user, app)}
