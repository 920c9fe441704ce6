"""Pages of midterm checks: the list (中期检查) with the officer's form to open checks, the
team's report, the panel, the expert's score and the officer's outcome on the check's own
page (``/midterms/<id>``, the entity page: timeline, actions, history), the expert's
queue, and the call's midterm form."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from forms import parse_id
from states import MidtermState
from workflow.annual.models import SPENDING_CATEGORIES
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import engine
from workflow.core.actions import leaves
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, NotFound, ServiceError
from workflow.core.models import db
from workflow.midterm import operations as midterm
from workflow.midterm.lists import MIDTERMS, SEATS
from workflow.midterm.models import OUTCOMES, OUTPUT_KINDS, MidtermReport
from workflow.permissions import (
    allow,
    bureau_reader,
    expert_name_reader,
    found,
    has_role,
    officer,
    principal_investigator,
)
from workflow.review.conflicts import expert_pool
from workflow.web import field_errors, flash_refusal, listing
from workflow.workbench.entities import render_entity

bp = Blueprint("midterm", __name__)
list_reader = has_role("officer", "leader", "auditor", "admin", "org_admin", "applicant")
OUTPUT_ROWS = 8
FORM_ROWS = 10
FIELD_TYPES = {"longtext": "多行文字", "text": "单行文字", "integer": "整数", "date": "日期"}


def _page(report_id: int) -> Response:
    return redirect(url_for("entities.show", collection="midterms", entity_id=report_id))


def _visible(report_id: int) -> MidtermReport:
    return found(db.session.get(MidtermReport, report_id), current_user, can_view,
                 what="中期检查")


@bp.route("/midterms")
@login_required
def index() -> Response | str:
    allow(list_reader(current_user) or has_role("expert")(current_user),
          "您无权查看中期检查")
    opener = officer(current_user)
    return listing.respond(
        MIDTERMS, "midterm/list.html", user=current_user, opener=opener,
        calls=midterm.calls_with_midterm_step() if opener else [],
        projects=midterm.running_projects() if opener else [], today=midterm.today())


@bp.route("/midterms/open", methods=["POST"])
@login_required
def open_checks() -> Response:
    allow(officer(current_user), "只有项目主管可以开启中期检查")
    form = request.form
    scope = form.get("scope", "call")
    call_id = form.get("call_id") or None if scope == "call" else None
    app_ids = [v for v in form.getlist("application_ids") if v] if scope == "projects" else None
    try:
        with db.session.begin_nested():
            opened = midterm.open_checks(current_user, call_id, app_ids,
                                         form.get("due_on", "").strip(),
                                         form.get("instructions", ""), request.remote_addr)
    except ServiceError as err:
        for message in field_errors(err).values():
            flash(message, "error")
        if not field_errors(err) or not isinstance(err, Invalid):
            flash_refusal(err)
    else:
        flash(f"已为 {len(opened)} 个项目开启中期检查，项目负责人已收到通知", "info")
    return redirect(url_for("midterm.index"))


def form_content(form: Any, report: MidtermReport) -> dict[str, Any]:
    """The page's inputs as the content the API takes."""
    answers = {f["name"]: form.get(f"answer-{f['name']}", "") for f in report.form}
    outputs = []
    for i in range(midterm.MAX_OUTPUTS):
        kind, title = form.get(f"output-{i}-kind"), form.get(f"output-{i}-title")
        if kind is None and title is None:
            break
        outputs.append({"kind": kind or "", "title": title or "",
                        "note": form.get(f"output-{i}-note", "")})
    return {"answers": answers, "outputs": outputs,
            "spending": {k: form.get(f"spending-{k}", "") for k in SPENDING_CATEGORIES}}


@bp.route("/midterms/<int:report_id>/report", methods=["POST"])
@login_required
def report(report_id: int) -> Response | tuple[str, int]:
    """The team saves its report, or saves and submits it; a refusal shows the page again
    with what was typed and each problem beside its input."""
    row = _visible(report_id)
    action = request.form.get("action", "save")
    try:
        with db.session.begin_nested():
            saved = midterm.save_report(current_user, report_id,
                                        form_content(request.form, row),
                                        parse_id(request.form.get("version", "")),
                                        request.remote_addr)
            if action == "submit":
                engine.fire(saved, "submit", current_user, ip=request.remote_addr)
    except ServiceError as err:
        errors = field_errors(err)
        flash_refusal(err, placed=errors)
        db.session.expire_all()
        return render_entity("midterms", report_id, errors, request.form, err.status,
                             errors_for="midterm")
    flash("中期报告已提交" if action == "submit" else "中期报告已保存", "info")
    return _page(report_id)


@bp.route("/midterms/<int:report_id>/evidence", methods=["POST"])
@login_required
def evidence(report_id: int) -> Response:
    _visible(report_id)
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise Invalid("请选择要上传的文件")
        with db.session.begin_nested():
            midterm.attach_evidence(current_user, report_id, file.filename, file.stream,
                                    request.remote_addr)
        flash(f"已上传：{file.filename}", "info")
    except ServiceError as err:
        flash(f"上传失败：{err.message}", "error")
    return _page(report_id)


@bp.route("/midterms/<int:report_id>/panel", methods=["POST"])
@login_required
def panel(report_id: int) -> Response:
    _visible(report_id)
    allow(officer(current_user), "只有项目主管可以组织中期检查专家组")
    ids = [parse_id(v) for v in request.form.getlist("expert_ids")]
    try:
        with db.session.begin_nested():
            midterm.assign_panel(current_user, report_id, [i for i in ids if i],
                                 request.remote_addr)
        flash("评议专家组已确定", "info")
    except ServiceError as err:
        flash_refusal(err)
    return _page(report_id)


@bp.route("/midterms/<int:report_id>/score", methods=["POST"])
@login_required
def score(report_id: int) -> Response | tuple[str, int]:
    _visible(report_id)
    form = request.form
    try:
        with db.session.begin_nested():
            midterm.score(current_user, report_id, {
                "score": form.get("score", "").strip(), "opinion": form.get("opinion", ""),
                "recommendation": form.get("recommendation", "")}, request.remote_addr)
    except ServiceError as err:
        errors = field_errors(err)
        flash_refusal(err, placed=errors)
        db.session.expire_all()
        return render_entity("midterms", report_id, errors, form, err.status,
                             errors_for="midterm_score")
    flash("评议已提交", "info")
    return _page(report_id)


@bp.route("/midterms/<int:report_id>/outcome", methods=["POST"])
@login_required
def outcome(report_id: int) -> Response | tuple[str, int]:
    row = _visible(report_id)
    form = request.form
    trigger = form.get("outcome", "")
    data: dict[str, Any] = {}
    for key in ("override_reason", "due_on", "items", "recovery_wan"):
        value = form.get(key, "").strip()
        if value and (key == "override_reason" or (trigger, key) in (
                ("rectify", "due_on"), ("rectify", "items"), ("terminate", "recovery_wan"))):
            data[key] = value
    try:
        if trigger not in OUTCOMES:
            raise Invalid("请选择结论", details={"outcome": "请选择通过、整改或终止"})
        with db.session.begin_nested():
            engine.fire(row, trigger, current_user, comment=form.get("opinion", ""),
                        data=data, expected_version=parse_id(form.get("version", "")),
                        ip=request.remote_addr)
    except ServiceError as err:
        errors = field_errors(err)
        if "comment" in errors:
            errors["opinion"] = errors.pop("comment")
        flash_refusal(err, placed=errors)
        db.session.expire_all()
        return render_entity("midterms", report_id, errors, form, err.status,
                             errors_for="midterm_outcome")
    flash(f"中期检查结论已作出：{OUTCOMES[trigger]}", "info")
    return _page(report_id)


@bp.route("/midterm-scores")
@login_required
def queue() -> Response | str:
    allow(has_role("expert")(current_user), "只有评审专家有中期检查评议任务")
    return listing.respond(SEATS, "midterm/queue.html", user=current_user)


@bp.route("/calls/<int:call_id>/midterm-form", methods=["GET", "POST"])
@login_required
def call_form(call_id: int) -> Response | tuple[str, int]:
    """A simple list editor of the call's midterm form: label, type, required."""
    call = db.session.get(Call, call_id)
    if call is None:
        raise NotFound("申报指南不存在")
    allow(officer(current_user), "只有项目主管可以设置中期检查表")
    if request.method == "GET":
        return render_template("midterm/call_form.html", call=call,
                               fields=midterm.form_of(call), types=FIELD_TYPES,
                               rows=FORM_ROWS, custom=bool(midterm.custom_form(call))), 200
    fields: list[dict[str, Any]] = []
    if request.form.get("action") != "default":
        for i in range(FORM_ROWS):
            label = request.form.get(f"label-{i}", "").strip()
            if not label:
                continue
            kind = request.form.get(f"type-{i}", "longtext")
            fld: dict[str, Any] = {"name": f"f{i + 1}", "label": label[:100],
                                   "type": kind if kind in FIELD_TYPES else "longtext",
                                   "required": bool(request.form.get(f"required-{i}"))}
            fields.append(fld)
    try:
        with db.session.begin_nested():
            midterm.set_form(current_user, call, fields, request.remote_addr)
        flash("中期检查表已保存" if fields else "已恢复默认的中期检查表", "info")
    except ServiceError as err:
        flash_refusal(err)
    return redirect(url_for("midterm.call_form", call_id=call_id))


def midterm_extra(row: MidtermReport, user: Any) -> dict[str, Any]:
    """What a check's page shows besides the row (``entities.show``)."""
    from workflow.documents.models import Document
    from workflow.midterm.api import _panel_visible

    editable = row.state in midterm.EDITABLE and principal_investigator(user, row.application)
    mine = next((s for s in row.panel() if s.expert_id == user.id), None)
    docs = list(db.session.scalars(sa.select(Document).where(
        Document.application_id == row.application_id,
        Document.kind == "midterm_conclusion", Document.round == row.seq)))
    return {
        "evidence": midterm.evidence_of(row), "editable": editable,
        "missing": midterm.missing(row) if editable else {},
        "panel": [s for s in row.scores if _panel_visible(row, s, user)],
        "names": expert_name_reader(user), "average": midterm.average(row),
        "choose_panel": officer(user) and row.state in midterm.PANEL_OPEN,
        "experts": expert_pool(row.application) if officer(user)
        and row.state in midterm.PANEL_OPEN else [],
        "chosen": {s.expert_id for s in row.panel()},
        "mine": mine if row.state is MidtermState.reviewing else None,
        "decide": officer(user) and (leaves(row, "pass") or leaves(row, "terminate")),
        # The panel is scoring (通过 and 整改 are open); 整改 is once, in the first round.
        "scoring": leaves(row, "pass"), "may_rectify": leaves(row, "rectify") and row.round == 1,
        "overdue": row.state is MidtermState.overdue,
        "lacking": midterm.scores_missing(row), "documents": docs,
        "categories": SPENDING_CATEGORIES, "output_kinds": OUTPUT_KINDS,
        "outcomes": OUTCOMES, "output_rows": OUTPUT_ROWS, "today": midterm.today(),
        "bureau": bureau_reader(user),
    }


def project_extra(app: Application, user: Any) -> dict[str, Any]:
    """A project's midterm checks (on its page)."""
    return {"midterms": [m for m in midterm.midterms_of(app) if can_view(user, m)]}


# What the check's page and the project's page read (the Jinja global ``MIDTERM``): the
# entity page belongs to ``workflow.workbench``, which imports no feature above it.
PAGE = {"extra": midterm_extra, "project": project_extra}
