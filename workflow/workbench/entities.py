"""A page per stateful entity: its lifecycle with the current state, actions, history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.wrappers import Response

from forms import parse_id
from states import ApplicationState, diagram
from workflow.core import audit, engine
from workflow.core.actions import Actions, actions, leaves
from workflow.core.entities import ENTITIES, can_view
from workflow.core.errors import NotFound
from workflow.permissions import (
    applicant,
    call_keeper,
    decision_reader,
    demand_side,
    money_reader,
    officer,
)
from workflow.web import attempt
from workflow.workbench.api import COLLECTIONS

bp = Blueprint("entities", __name__)



# What a trigger asks for besides the comment, typed on the page: (field, label).
TRIGGER_FIELDS: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("tranche", "approve"): [("decision_ref",
                              "集体决策会议纪要文号（金额达到“三重一大”标准时必填）")],
    ("tranche", "release"): [("payment_ref", "支付凭证号")],
    ("application", "pass_acceptance"): [("opinions", "验收专家组意见")],
    ("application", "fail_acceptance"): [("opinions", "验收专家组意见"),
                                         ("recovery_wan", "应追回金额（万元，无则留空）")],
    ("application", "terminate"): [("recovery_wan", "应追回金额（万元，无则留空）")],
    ("milestone", "report"): [("report", "里程碑完成情况（不少于10字）")],
}
# What a trigger implies: the verdict of an acceptance is its button.
TRIGGER_FIXED: dict[tuple[str, str], dict[str, str]] = {
    ("application", "pass_acceptance"): {"verdict": "pass"},
    ("application", "fail_acceptance"): {"verdict": "fail"},
}
# The guards' reasons that the inputs above answer when the form is sent (so a trigger
# waiting only for them is offered, with its field).
PAGE_ANSWERS = frozenset({"collective_decision_missing", "payment_ref_missing",
                          "acceptance_missing", "report_too_short"})


def _visible(collection: str, entity_id: int, lock: bool = False) -> tuple[str, Any]:
    kind = COLLECTIONS.get(collection)
    if kind is None:
        abort(404)
    try:
        row = engine.load(kind, entity_id, lock=lock)
    except NotFound:
        abort(404)
    if not can_view(current_user, row):
        abort(404)
    return kind, row


def title_of(kind: str, row: Any) -> str:
    if kind in ("call", "application"):
        return str(row.title)
    if kind == "review":
        return f"评审任务 #{row.id}"
    if kind == "decision":
        return f"立项建议名单 #{row.id}（{row.call.title}）"
    if kind == "objection":
        return f"公示异议 #{row.id}（{row.application.title}）"
    return f"{row.label}（{row.application.title}）"


@bp.route("/<collection>/<int:entity_id>")
@login_required
def show(collection: str, entity_id: int) -> str:
    kind, row = _visible(collection, entity_id)
    lifecycle = ENTITIES[kind].lifecycle
    svg = diagram.svg(lifecycle, row.state)
    extra = _extra(kind, row)
    may = page_actions(kind, row, current_user, extra)
    return render_template(
        "entities/show.html", kind=kind, collection=collection, row=row,
        title=title_of(kind, row), entity_label=ENTITIES[kind].label,
        svg=Markup(svg) if svg else None,  # noqa: S704 (graphviz output from our own DOT)
        lifecycle=lifecycle, stages=[(s.label, s is row.state) for s in lifecycle.states],
        may=may, fields=list(dict.fromkeys(f for o in may.buttons
                                           for f in TRIGGER_FIELDS.get((kind, o.trigger), []))),
        history=audit.history(kind, row.id), extra=extra,
    )


def page_actions(kind: str, row: Any, user: Any, extra: dict[str, Any]) -> Actions:
    """What ``user`` may do on the row's page: its triggers, and per kind the actions of
    its details block."""
    may = actions(row, user, answered=PAGE_ANSWERS)
    if kind == "application":
        _application_actions(may, row, user, extra)
    elif kind == "call":
        _call_actions(may, row, user, extra)
    elif kind == "review":
        from workflow.review.views import review_actions

        may.named |= review_actions(row, user).named
    return may


def _application_actions(may: Actions, app: Any, user: Any, extra: dict[str, Any]) -> None:
    from workflow.finance.operations import milestone_actions

    edit = may.option("resubmit") or may.option("submit")
    may.add("edit", edit is not None and edit.permitted,
            "修改并重新提交" if edit is not None and edit.trigger == "resubmit" else "继续填写")
    may.add("formal_review", may.permitted("pass_formal_review"))
    may.add("final_report", may.permitted("request_acceptance"))
    may.add("demand_acceptance", demand_side(user, app) and leaves(app, "pass_acceptance"))
    may.named |= milestone_actions(user, app, extra.get("milestones", []))


def _call_actions(may: Actions, call: Any, user: Any, extra: dict[str, Any]) -> None:
    from workflow.calls import operations as calls
    from workflow.review.operations import assignable

    may.add("manage", officer(user) and calls.editable(call))
    may.add("copy", call_keeper(user))
    may.add("add_challenge", "manage" in may and call.scheme.value == "jiebang")
    may.add("apply", applicant(user) and calls.open_for_applications(call))
    may.add("assign", officer(user) and assignable(call))
    may.add("ranking", decision_reader(user) and calls.past_deadline(call))
    may.add("defence", "ranking" in may and "defence" in call.enabled_steps)
    may.add("decision", decision_reader(user) and calls.in_decision(call))
    may.add("ledger", money_reader(user) and calls.decided(call))
    may.add("stage_gate", officer(user) and bool(extra.get("teams")))


def _extra(kind: str, row: Any) -> dict[str, Any]:
    """What the details block of an application shows besides the row itself."""
    if kind == "call":
        from workflow.calls.operations import guide_attachments
        from workflow.calls.views import publish_missing
        from workflow.decisions.operations import history
        from workflow.documents.operations import call_documents
        from workflow.finance.operations import running_teams

        return {"guide_files": guide_attachments(row), "documents": call_documents(row),
                "decisions": history(row.id), "teams": running_teams(row),
                "missing": publish_missing(row) if call_keeper(current_user) else []}
    if kind == "milestone":
        from workflow.finance import operations as finance

        return {"tranches": [t for t in finance.tranches_of(row.application)
                             if t.milestone_id == row.id],
                "conditions": finance.CONDITION_LABELS}
    if kind != "application":
        return {}
    from workflow.applying import operations as applications
    from workflow.applying.rules import eligible
    from workflow.core.models import utcnow
    from workflow.core.rules import GuardContext

    eligibility = None
    if officer(current_user) and row.state not in (ApplicationState.draft,
                                                   ApplicationState.withdrawn):
        ctx = GuardContext(row=row, actor=current_user, role="officer", comment="", data={},
                           now=utcnow())
        eligibility = eligible(ctx)
    from workflow.decisions.notices import objections_of
    from workflow.documents.operations import documents_of

    objections = objections_of(row) if decision_reader(current_user) else []
    from workflow.finance import operations as finance

    return {"rounds": applications.rounds(row), "eligibility": eligibility,
            "documents": documents_of(row), "objections": objections,
            "tranches": finance.tranches_of(row), "milestones": finance.milestones_of(row),
            "capital": finance.capital, "conditions": finance.CONDITION_LABELS}


@bp.route("/<collection>/<int:entity_id>/fire", methods=["POST"])
@login_required
def fire(collection: str, entity_id: int) -> Response:
    kind, row = _visible(collection, entity_id, lock=True)
    trigger = request.form.get("trigger", "")
    comment = request.form.get("comment", "")[:5000]
    version = request.form.get("version", "")
    typed = {name: request.form[name].strip()[:2000]
             for name, _ in TRIGGER_FIELDS.get((kind, trigger), [])
             if request.form.get(name, "").strip()}
    data = {**TRIGGER_FIXED.get((kind, trigger), {}), **typed}
    entity = ENTITIES[kind]
    attempt(lambda: engine.fire(row, trigger, current_user, comment=comment, data=data,
                                expected_version=parse_id(version), ip=request.remote_addr),
            lambda r: f"{entity.lifecycle.state_of(r.final_state).label}："
                      f"{entity.describe(r.row)}")
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("entities.show", collection=collection, entity_id=entity_id))
