"""Pages of annual reports: the list (officers, leaders, auditors; a unit's research
office), opening a year's reports (officer), and the team's form on the report's page
(``/annual-reports/<id>``, the entity page, which links it from the project's page)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from forms import parse_id
from workflow.annual import operations as annual
from workflow.annual.lists import ANNUAL_REPORTS
from workflow.annual.models import SPENDING_CATEGORIES, AnnualReport
from workflow.core import engine
from workflow.core.entities import can_view
from workflow.core.errors import ServiceError
from workflow.core.models import db
from workflow.permissions import allow, annual_report_lister, annual_report_opener, found
from workflow.web import field_errors, flash_refusal, listing
from workflow.workbench.entities import render_entity

bp = Blueprint("annual", __name__)


@bp.route("/annual-reports")
@login_required
def reports() -> Response | str:
    allow(annual_report_lister(current_user),
          "只有项目主管、领导、审计人员和单位管理员可以查看年度报告列表")
    return listing.respond(ANNUAL_REPORTS, "annual/list.html", user=current_user,
                           opener=annual_report_opener(current_user), today=annual.today())


@bp.route("/annual-reports/open", methods=["POST"])
@login_required
def open_year() -> Response:
    allow(annual_report_opener(current_user), "只有项目主管可以开启年度报告")
    try:
        with db.session.begin_nested():
            opened = annual.open_by_officer(current_user, parse_id(request.form.get("year")),
                                            request.form.get("due_on", "").strip() or None,
                                            request.remote_addr)
    except ServiceError as err:
        for message in field_errors(err).values():
            flash(message, "error")
        if not field_errors(err):
            flash_refusal(err)
    else:
        flash(f"已为 {len(opened)} 个在研项目开启年度报告" if opened
              else "所有在研项目都已有该年度的年度报告，未重复开启", "info")
    return redirect(url_for("annual.reports"))


def form_content(form: Any) -> dict[str, Any]:
    """The form's inputs as the content the API takes."""
    rows = []
    for i in range(annual.MAX_INDICATORS):
        indicator, status = form.get(f"indicator-{i}"), form.get(f"status-{i}")
        if indicator is None and status is None:
            break
        rows.append({"indicator": indicator or "", "status": status or ""})
    return {"progress": form.get("progress", ""), "outputs": form.get("outputs", ""),
            "indicators": rows,
            "spending": {k: form.get(f"spending-{k}", "") for k in SPENDING_CATEGORIES},
            "published_on": form.get("published_on", ""),
            "published_where": form.get("published_where", "")}


@bp.route("/annual-reports/<int:report_id>/edit", methods=["POST"])
@login_required
def edit(report_id: int) -> Response | tuple[str, int]:
    """The team saves its report, or saves and submits it; a refusal shows the page again
    with what was typed and each problem beside its input."""
    found(db.session.get(AnnualReport, report_id), current_user, can_view, what="年度报告")
    action = request.form.get("action", "save")
    try:
        with db.session.begin_nested():
            report = annual.save_draft(current_user, report_id, form_content(request.form),
                                       parse_id(request.form.get("version", "")),
                                       request.remote_addr)
            if action == "submit":
                engine.fire(report, "submit", current_user, ip=request.remote_addr)
    except ServiceError as err:
        errors = field_errors(err)
        flash_refusal(err, placed=errors)
        db.session.expire_all()
        return render_entity("annual-reports", report_id, errors, request.form, err.status,
                             errors_for="annual")
    flash("年度报告已提交，待单位审核" if action == "submit" else "年度报告已保存", "info")
    return redirect(url_for("entities.show", collection="annual-reports", entity_id=report_id))
