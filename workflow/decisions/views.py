"""Pages for the decision (立项决策) and the public notice."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.calls.models import Call
from workflow.core.models import db
from workflow.decisions import operations as decisions
from workflow.decisions.models import FundingDecision
from workflow.web import attempt

bp = Blueprint("deciding", __name__)
READERS = ("officer", "leader", "auditor")


def _call(call_id: int) -> Call:
    call = db.session.get(Call, call_id)
    if call is None or not current_user.has_role(*READERS):
        abort(404)
    return call


def _decision(decision_id: int) -> FundingDecision:
    row = db.session.get(FundingDecision, decision_id)
    if row is None or not current_user.has_role(*READERS):
        abort(404)
    return row


MEETING_KEYS = ("meeting_name", "meeting_date", "meeting_attendees", "minutes_ref")


def _meeting_form() -> dict[str, str]:
    return {k: request.form.get(k, "")[:3000] for k in MEETING_KEYS}


@bp.route("/calls/<int:call_id>/decision")
@login_required
def decision(call_id: int) -> str:
    call = _call(call_id)
    pending = decisions.pending(call.id)
    approved = decisions.approved(call.id)
    draft = decisions.draft(call) if call.state.value == "reviewing" and not approved else None
    return render_template("decisions/decision.html", call=call, draft=draft, pending=pending,
                           approved=approved, history=decisions.history(call.id),
                           needs_meeting=pending is not None and decisions.needs_meeting(
                               call, pending.total),
                           shortlisted=decisions.shortlisted(call))


@bp.route("/calls/<int:call_id>/decision", methods=["POST"])
@login_required
def propose(call_id: int) -> Response:
    call = _call(call_id)
    items: list[dict[str, Any]] = []
    for app_id in request.form.getlist("include"):
        items.append({"application_id": app_id,
                      "amount_wan": request.form.get(f"amount-{app_id}", "")})
    attempt(lambda: decisions.propose(call, current_user, items, request.form.get(
        "comment", ""), _meeting_form(), request.remote_addr), "立项建议名单已提交领导审定")
    return redirect(url_for("deciding.decision", call_id=call.id))


@bp.route("/decisions/<int:decision_id>/meeting", methods=["POST"])
@login_required
def meeting(decision_id: int) -> Response:
    row = _decision(decision_id)
    upload = request.files.get("minutes")
    minutes = (upload.filename or "", upload.stream) if upload and upload.filename else None
    attempt(lambda: decisions.record_meeting(row, current_user, _meeting_form(), minutes,
                                             request.remote_addr), "集体决策会议已登记")
    return redirect(url_for("deciding.decision", call_id=row.call_id))


@bp.route("/decisions/<int:decision_id>/approve", methods=["POST"])
@login_required
def approve(decision_id: int) -> Response:
    row = _decision(decision_id)
    attempt(lambda: decisions.approve(row, current_user, request.form.get("comment", "")[:2000],
                                      request.remote_addr),
            "立项名单已审定：名单内项目拟立项，其余项目不予立项")
    return redirect(url_for("deciding.decision", call_id=row.call_id))


@bp.route("/decisions/<int:decision_id>/return", methods=["POST"])
@login_required
def send_back(decision_id: int) -> Response:
    row = _decision(decision_id)
    attempt(lambda: decisions.send_back(row, current_user, request.form.get(
        "comment", "")[:2000], request.remote_addr), "已退回项目主管重拟")
    return redirect(url_for("deciding.decision", call_id=row.call_id))


@bp.route("/calls/<int:call_id>/notices", methods=["POST"])
@login_required
def open_notices(call_id: int) -> Response:
    call = _call(call_id)
    report = attempt(lambda: decisions.open_notices(call, current_user, request.remote_addr),
                     lambda r: f"已发布公示：{r.done} 项")
    for app_id, message in report.refused if report else []:
        flash(f"申报书 {app_id}：{message}", "error")
    return redirect(url_for("deciding.decision", call_id=call.id))
