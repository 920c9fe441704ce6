"""Pages of 结题验收: the list, and the forms of the acceptance's own page (the entity page
``/acceptances/<id>``, ``workflow.workbench.entities``): the team's package and 科技报告,
the officer's panel, each member's scoring, 财务验收 and the officer's conclusion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from states import AcceptanceState, ApplicationState
from workflow.acceptance import operations as acceptances
from workflow.acceptance.lists import ACCEPTANCES
from workflow.acceptance.models import (
    ASSESSMENTS,
    FINANCE_VERDICTS,
    GRADE_TRIGGERS,
    GRADES,
    OUTPUT_KINDS,
    Acceptance,
)
from workflow.annual.models import SPENDING_CATEGORIES
from workflow.applying.models import Application
from workflow.applying.visibility import can_view_application
from workflow.core import engine
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, NotFound, ServiceError
from workflow.core.models import db
from workflow.documents.official import project_indicators
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

bp = Blueprint("acceptance", __name__)
list_reader = has_role("officer", "leader", "auditor", "admin", "finance", "org_admin",
                       "demand", "applicant", "expert")
OUTPUT_ROWS = 8
AC = AcceptanceState


@bp.route("/acceptances")
@login_required
def index() -> Response | str:
    allow(list_reader(current_user), "您无权查看结题验收")
    return listing.respond(ACCEPTANCES, "acceptance/list.html", user=current_user,
                           bureau=bureau_reader(current_user))


def _acceptance(acc_id: int, lock: bool = False) -> Acceptance:
    try:
        row: Acceptance = engine.load("acceptance", acc_id, lock=lock)
    except NotFound:
        row = None  # type: ignore[assignment]
    return found(row, current_user, can_view, what="结题验收")


def _show(acc_id: int) -> Response:
    return redirect(url_for("entities.show", collection="acceptances", entity_id=acc_id))


def _attempt(acc_id: int, action: Callable[[], Any], done: str, errors_for: str
             ) -> Response | tuple[str, int]:
    """One form's action in its own savepoint: done, or the page again with what was
    typed and each error beside its input."""
    from workflow.workbench.entities import render_entity

    try:
        with db.session.begin_nested():
            action()
    except ServiceError as err:
        db.session.expire_all()
        errors = field_errors(err)
        flash_refusal(err, placed=errors)
        if errors:
            return render_entity("acceptances", acc_id, errors, request.form, err.status,
                                 errors_for=errors_for)
        return _show(acc_id)
    flash(done, "info")
    return _show(acc_id)


@bp.route("/applications/<int:app_id>/acceptance", methods=["GET", "POST"])
@login_required
def project_acceptance(app_id: int) -> Response:
    """The project's acceptance; its principal investigator opens it (POST)."""
    app = found(db.session.get(Application, app_id), current_user, can_view_application,
                what="项目")
    acc = acceptances.acceptance_of(app)
    if request.method == "GET":
        if acc is None:
            flash("本项目尚未申请结题验收", "info")
            return redirect(url_for("entities.show", collection="applications",
                                    entity_id=app_id))
        return _show(acc.id)
    try:
        with db.session.begin_nested():
            acc = acceptances.open_package(current_user, app, request.remote_addr)
    except ServiceError as err:
        db.session.expire_all()
        flash_refusal(err)
        return redirect(url_for("entities.show", collection="applications", entity_id=app_id))
    flash("请填写结题验收材料，上传科技报告后提交", "info")
    return _show(acc.id)


def package_body(acc: Acceptance) -> dict[str, Any]:
    """The package form's inputs as the service takes them."""
    form = request.form
    app = acc.application
    outputs = []
    for i in range(OUTPUT_ROWS):
        row = {k: form.get(f"out-{i}-{k}", "").strip()[:400]
               for k in ("kind", "title", "identifier")}
        if row["title"] or row["identifier"]:
            outputs.append(row)
    assessment: dict[str, Any] = {}
    for i, name in enumerate(acceptances.indicator_names(app)):
        status = form.get(f"sa-{i}-status", "")
        evidence = form.get(f"sa-{i}-evidence", "")[:2100]
        if status or evidence.strip():
            assessment[name] = {"status": status, "evidence": evidence}
    body: dict[str, Any] = {"report": form.get("report", "")[:51000], "outputs": outputs,
                            "self_assessment": assessment}
    if acceptances.baogan(app):
        body["negative_list_declared"] = form.get("negative_list_declared") == "yes"
        body["spent_wan"] = form.get("spent_wan", "").strip()[:30]
        body["surplus_wan"] = form.get("surplus_wan", "").strip()[:30]
    else:
        body["spending"] = {k: form.get(f"spend-{k}", "").strip()[:30]
                            for k in SPENDING_CATEGORIES if form.get(f"spend-{k}", "").strip()}
    return body


@bp.route("/acceptances/<int:acc_id>/package", methods=["POST"])
@login_required
def package(acc_id: int) -> Response | tuple[str, int]:
    acc = _acceptance(acc_id)
    return _attempt(acc_id, lambda: acceptances.save_package(
        current_user, acc, package_body(acc), ip=request.remote_addr),
        "验收材料已保存", "package")


@bp.route("/acceptances/<int:acc_id>/tech-report", methods=["POST"])
@login_required
def tech_report(acc_id: int) -> Response:
    acc = _acceptance(acc_id)
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise Invalid("请选择要上传的科技报告（PDF）")
        with db.session.begin_nested():
            acceptances.attach_tech_report(current_user, acc, file.filename, file.stream,
                                           request.remote_addr)
        flash(f"已上传科技报告：{file.filename}", "info")
    except ServiceError as err:
        db.session.expire_all()
        flash(f"上传失败：{err.message}", "error")
    return _show(acc_id)


@bp.route("/acceptances/<int:acc_id>/tech-report")
@login_required
def download_tech_report(acc_id: int) -> Response:
    """科技报告, to whoever sees the acceptance (the panel's experts and finance too, who
    do not read the rest of the project)."""
    from flask import abort

    from workflow.core import files

    row = acceptances.tech_report_of(_acceptance(acc_id))
    if row is None:
        abort(404)
    return files.send_attachment(row)


@bp.route("/acceptances/<int:acc_id>/panel", methods=["POST"])
@login_required
def panel(acc_id: int) -> Response | tuple[str, int]:
    acc = _acceptance(acc_id, lock=True)
    ids = [v for v in request.form.getlist("expert_ids") if v][:20]
    return _attempt(acc_id, lambda: engine.fire(
        acc, "assign_panel", current_user, comment=request.form.get("comment", "")[:5000],
        data={"expert_ids": ids}, expected_version=None, ip=request.remote_addr),
        "验收专家组已组成，已通知专家", "panel")


def score_body(acc: Acceptance) -> dict[str, Any]:
    form = request.form
    scores: dict[str, Any] = {}
    for i, name in enumerate(acceptances.indicator_names(acc.application)):
        answer = form.get(f"score-{i}")
        if answer in ("yes", "no"):
            scores[name] = answer == "yes"
    diligent = form.get("diligent")
    return {"scores": scores, "grade": form.get("grade") or None,
            "opinion": form.get("opinion", "")[:5100],
            "diligent": None if diligent not in ("yes", "no") else diligent == "yes"}


@bp.route("/acceptances/<int:acc_id>/score", methods=["POST"])
@login_required
def score(acc_id: int) -> Response | tuple[str, int]:
    acc = _acceptance(acc_id)
    return _attempt(acc_id, lambda: acceptances.score(
        current_user, acc, score_body(acc), request.remote_addr),
        "验收意见已提交", "score")


@bp.route("/acceptances/<int:acc_id>/finance", methods=["POST"])
@login_required
def finance(acc_id: int) -> Response | tuple[str, int]:
    acc = _acceptance(acc_id)
    return _attempt(acc_id, lambda: acceptances.check_finance(
        current_user, acc, request.form.get("verdict") or None,
        request.form.get("opinion", "")[:5100], request.remote_addr),
        "财务验收意见已录入", "finance")


@bp.route("/acceptances/<int:acc_id>/conclude", methods=["POST"])
@login_required
def conclude(acc_id: int) -> Response | tuple[str, int]:
    acc = _acceptance(acc_id, lock=True)
    grade = request.form.get("grade", "")
    trigger = GRADE_TRIGGERS.get(grade)
    if trigger is None:
        flash("请选择验收结论：通过、结题或不通过", "error")
        return _show(acc_id)
    data = {k: request.form.get(k, "").strip()[:100] for k in ("diligent", "recovery_wan")
            if grade == "fail" and request.form.get(k, "").strip()}
    return _attempt(acc_id, lambda: engine.fire(
        acc, trigger, current_user, comment=request.form.get("comment", "")[:5000], data=data,
        ip=request.remote_addr), f"验收结论已作出：{GRADES[grade]}", "conclude")


# ---- what the acceptance's page and the project's page show --------------------------

def acceptance_extra(acc: Acceptance, user: Any) -> dict[str, Any]:
    """What an acceptance's page shows besides the row (``entities.show``)."""
    from workflow.documents.models import Document

    app = acc.application
    seat = acceptances.seat_of(user, acc)
    drawing = officer(user) and acc.state is AC.endorsed
    docs = list(db.session.scalars(sa.select(Document).where(
        Document.application_id == app.id, Document.kind == "acceptance_conclusion")))
    return {
        "indicators": project_indicators(app),
        "baogan": acceptances.baogan(app), "disbursed": acceptances.disbursed(app),
        "spent": acceptances.spending_total(acc), "problems": acceptances.package_problems(acc),
        "tech_report": acceptances.tech_report_of(acc),
        "editable": acc.state in acceptances.EDITABLE and principal_investigator(user, app),
        "seat": seat, "may_score": seat is not None and seat.submitted_at is None
        and acc.state is AC.panel_review,
        "may_check_finance": acceptances.finance_checker(user) and acc.finance_verdict is None
        and acc.state in (AC.endorsed, AC.panel_review),
        "may_draw": drawing, "experts": expert_pool(app) if drawing else [],
        "may_conclude": officer(user) and acc.state is AC.panel_review,
        "shown": (shown := {m.id: acceptances.verdict_shown(user, acc, m)
                            for m in acc.members}),
        "proposed": acceptances.proposed_grade(acc) if all(shown.values()) else None,
        "names": expert_name_reader(user), "documents": docs,
        "grades": GRADES, "assessments": ASSESSMENTS, "output_kinds": OUTPUT_KINDS,
        "categories": SPENDING_CATEGORIES, "finance_verdicts": FINANCE_VERDICTS,
        "output_rows": OUTPUT_ROWS, "tolerate": app.call.tolerate_failure,
    }


def project_extra(app: Application, user: Any) -> dict[str, Any]:
    """A project's acceptance, and whether its team may open one now."""
    acc = acceptances.acceptance_of(app)
    return {"acceptance": acc,
            "may_open_acceptance": acc is None and app.state is ApplicationState.in_progress
            and principal_investigator(user, app)}
