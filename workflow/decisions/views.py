"""Pages for the decision (立项决策) and the public notice."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.calls.models import Call
from workflow.core import engine
from workflow.core.actions import actions
from workflow.core.entities import can_view
from workflow.core.models import db
from workflow.decisions import operations as decisions
from workflow.decisions.lists import OBJECTIONS
from workflow.decisions.models import FundingDecision
from workflow.permissions import allow, decision_reader, found, officer, organiser
from workflow.web import attempt, listing

bp = Blueprint("deciding", __name__)


def _call(call_id: int) -> Call:
    """A call whose decision page is open to the decision readers (the call is seen by
    more: to them the page is refused, not hidden)."""
    call = found(db.session.get(Call, call_id), current_user, can_view, what="申报指南")
    allow(decision_reader(current_user), "只有项目主管、领导和审计人员可以查看立项决策")
    return call


def _decision(decision_id: int) -> FundingDecision:
    return found(db.session.get(FundingDecision, decision_id), current_user,
                 decision_reader, what="立项名单")


# What the page's meeting form answers of the decision's guard.
DECISION_PAGE_ANSWERS = frozenset({"meeting_missing"})
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
    shortlisted = decisions.shortlisted(call)
    may = actions(call, current_user, answered=DECISION_PAGE_ANSWERS)
    # Approve or return the pending list: its own lifecycle's (the call's decide follows).
    may.add("approve", pending is not None and engine.permitted(pending, "approve",
                                                                current_user))
    may.add("meeting", organiser(current_user))
    may.add("propose", officer(current_user) and draft is not None)
    may.add("open_notices", officer(current_user) and shortlisted > 0)
    return render_template("decisions/decision.html", call=call, draft=draft, pending=pending,
                           approved=approved, history=decisions.history(call.id),
                           needs_meeting=pending is not None and decisions.needs_meeting(
                               call, pending.total),
                           shortlisted=shortlisted, may=may)


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


@bp.route("/objections")
@login_required
def objections() -> Response | str:
    allow(decision_reader(current_user), "只有项目主管、领导和审计人员可以查看公示异议")
    return listing.respond(OBJECTIONS, "decisions/objections.html", user=current_user)


@bp.route("/calls/<int:call_id>/notices", methods=["POST"])
@login_required
def open_notices(call_id: int) -> Response:
    call = _call(call_id)
    report = attempt(lambda: decisions.open_notices(call, current_user, request.remote_addr),
                     lambda r: f"已发布公示：{r.done} 项")
    for app_id, message in report.refused if report else []:
        flash(f"申报书 {app_id}：{message}", "error")
    return redirect(url_for("deciding.decision", call_id=call.id))
