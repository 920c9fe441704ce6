"""A page per stateful entity: its lifecycle with the current state, actions, history."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.wrappers import Response

from forms import parse_id
from states import diagram
from workflow.core import audit, engine
from workflow.core.entities import ENTITIES, can_view
from workflow.core.errors import NotFound
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
# Refusals that the typed fields answer (as a typed comment answers ``comment_given``):
# such a trigger is offered, with its fields.
TYPED_REASONS: dict[tuple[str, str], frozenset[str]] = {
    ("milestone", "report"): frozenset({"report_too_short"}),
}
# What a trigger implies: the verdict of an acceptance is its button.
TRIGGER_FIXED: dict[tuple[str, str], dict[str, str]] = {
    ("application", "pass_acceptance"): {"verdict": "pass"},
    ("application", "fail_acceptance"): {"verdict": "fail"},
}


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


def options_of(kind: str, row: Any) -> list[engine.Option]:
    """What ``current_user`` may do on ``row``: the engine's options, a refusal that the
    typed fields answer counted as allowed."""
    out = []
    for o in engine.options(row, current_user):
        typed = TYPED_REASONS.get((kind, o.trigger), frozenset())
        if not o.allowed and o.reasons and all(r.code in typed for r in o.reasons):
            o = replace(o, allowed=True, reasons=[])
        out.append(o)
    return out


@bp.route("/<collection>/<int:entity_id>")
@login_required
def show(collection: str, entity_id: int) -> str:
    kind, row = _visible(collection, entity_id)
    lifecycle = ENTITIES[kind].lifecycle
    svg = diagram.svg(lifecycle, row.state)
    return render_template(
        "entities/show.html", kind=kind, collection=collection, row=row,
        title=title_of(kind, row), entity_label=ENTITIES[kind].label,
        svg=Markup(svg) if svg else None,  # noqa: S704 (graphviz output from our own DOT)
        lifecycle=lifecycle, options=(options := options_of(kind, row)),
        fields=list(dict.fromkeys(f for o in options if o.allowed
                                  for f in TRIGGER_FIELDS.get((kind, o.trigger), []))),
        history=audit.history(kind, row.id), extra=_extra(kind, row),
    )


def _extra(kind: str, row: Any) -> dict[str, Any]:
    """What the details block of an application shows besides the row itself."""
    if kind == "call":
        from workflow.calls.operations import guide_attachments
        from workflow.decisions.operations import history
        from workflow.documents.operations import call_documents
        from workflow.finance.operations import running_teams

        return {"guide_files": guide_attachments(row), "documents": call_documents(row),
                "decisions": history(row.id), "teams": running_teams(row)}
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
    if current_user.has_role("officer") and row.state.value not in ("draft", "withdrawn"):
        ctx = GuardContext(row=row, actor=current_user, role="officer", comment="", data={},
                           now=utcnow())
        eligibility = eligible(ctx)
    from workflow.decisions.notices import objections_of
    from workflow.documents.operations import documents_of

    objections = objections_of(row) if current_user.has_role(
        "officer", "leader", "auditor") else []
    from workflow.finance import operations as finance

    milestones = finance.milestones_of(row)
    return {"rounds": applications.rounds(row), "eligibility": eligibility,
            "documents": documents_of(row), "objections": objections,
            "tranches": finance.tranches_of(row), "milestones": milestones,
            # Per milestone, the triggers the person may fire (the report and verdict forms).
            "milestone_actions": {m.id: {o.trigger for o in options_of("milestone", m)
                                         if o.allowed} for m in milestones},
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
    attempt(lambda: engine.fire_generic(row, trigger, current_user, comment=comment, data=data,
                                        expected_version=parse_id(version),
                                        ip=request.remote_addr),
            lambda r: "操作成功，当前状态："
                      f"{ENTITIES[kind].lifecycle.state_of(r.final_state).label}")
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("entities.show", collection=collection, entity_id=entity_id))
