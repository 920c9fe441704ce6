"""A page per stateful entity: its lifecycle with the current state, actions, history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.wrappers import Response

from forms import parse_id
from states import ApplicationState, diagram
from states.progress import progress
from workflow.core import audit, engine
from workflow.core.actions import Actions, actions
from workflow.core.entities import ENTITIES, can_read, can_view
from workflow.core.errors import NotFound, ServiceError
from workflow.core.models import db
from workflow.permissions import (
    allow,
    applicant,
    bank_account_reader,
    call_keeper,
    decision_reader,
    lifecycle_reader,
    money_reader,
    officer,
)
from workflow.timeutil import local_time
from workflow.web import field_errors, flash_refusal
from workflow.workbench.api import COLLECTIONS

bp = Blueprint("entities", __name__)

# What a trigger asks for besides the comment, typed on the page: (field, label).
TRIGGER_FIELDS: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("tranche", "approve"): [("decision_ref",
                              "集体决策会议纪要文号（金额达到“三重一大”标准时必填）")],
    ("tranche", "release"): [("payment_ref", "支付凭证号")],
    ("application", "terminate"): [("recovery_wan", "应追回金额（万元，无则留空）")],
    ("milestone", "report"): [("report", "里程碑完成情况（不少于10字）")],
    ("recovery", "notify"): [("due_on", "还款期限（YYYY-MM-DD，留空按立案时所定）")],
    ("recovery", "receive"): [("amount_wan", "本次归还金额（万元）"),
                              ("key", "到账流水号（同一笔只记一次）"),
                              ("paid_on", "到账日期（YYYY-MM-DD）")],
    ("sanction_review", "terminate"): [("recovery_wan", "应追回金额（万元，无则留空）")],
}
# What a trigger implies (none at present: the acceptance's verdicts have their own form,
# workflow/acceptance/views.py).
TRIGGER_FIXED: dict[tuple[str, str], dict[str, str]] = {}
# The details of rows of the features above the workbench (结题验收), and what they add to
# a project's page: given by the app factory (workflow/__init__.py), as it lists them.
EXTRAS: dict[str, Callable[[Any, Any], dict[str, Any]]] = {}
PROJECT_EXTRAS: dict[str, Callable[[Any, Any], dict[str, Any]]] = {}
# The guards' reasons that the inputs above answer when the form is sent (so a trigger
# waiting only for them is offered, with its field).
PAGE_ANSWERS = frozenset({"collective_decision_missing", "payment_ref_missing",
                          "acceptance_missing", "report_too_short", "instalment_invalid"})


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
    """A row's name on its page: what it is about, never its id."""
    if kind in ("call", "application"):
        return str(row.title)
    if kind == "review":
        return f"评审任务：{row.application.title}"
    if kind == "decision":
        return f"立项建议名单：{row.call.title}（{local_time(row.proposed_at, '%Y-%m-%d')}拟定）"
    if kind in ("recovery", "sanction_review"):
        return ENTITIES[kind].describe(row)
    if kind == "objection":
        return (f"公示异议：{row.application.title}"
                f"（{local_time(row.received_at, '%Y-%m-%d')}收到）")
    return f"{row.label}（{row.application.title}）"


def render_entity(collection: str, entity_id: int, errors: dict[str, str] | None = None,
                  form: Any = None, status: int = 200, errors_for: str = "fire"
                  ) -> tuple[str, int]:
    """A row's page; after a refused form (``errors_for``: the generic transition form, or
    a form of the details block), with what was typed and each error beside its field."""
    kind, row = _visible(collection, entity_id)
    lifecycle = ENTITIES[kind].lifecycle
    history = audit.history(kind, row.id)
    # Bureau staff read the whole lifecycle; everyone sees the main path as a step bar.
    svg = diagram.svg(lifecycle, row.state) if lifecycle_reader(current_user) else None
    # Who sees the row but may not read it (a colleague's application) gets its heading
    # and progress: neither its details nor its trail.
    readable = can_read(current_user, row)
    extra = _extra(kind, row) if readable else {}
    may = page_actions(kind, row, current_user, extra)
    return render_template(
        "entities/show.html", kind=kind, collection=collection, row=row,
        title=title_of(kind, row), entity_label=ENTITIES[kind].label,
        svg=Markup(svg) if svg else None,  # noqa: S704 (graphviz output from our own DOT)
        lifecycle=lifecycle,
        steps=progress(lifecycle, row.state, [(e.from_state, e.to_state, e.at)
                                              for e in history]),
        may=may, fields=list(dict.fromkeys(f for o in may.buttons
                                           for f in TRIGGER_FIELDS.get((kind, o.trigger), []))),
        history=history if readable else [], readable=readable, extra=extra,
        errors=errors or {}, form=form or {}, errors_for=errors_for,
    ), status


@bp.route("/<collection>/<int:entity_id>")
@login_required
def show(collection: str, entity_id: int) -> tuple[str, int]:
    return render_entity(collection, entity_id)


@bp.route("/<collection>/<int:entity_id>/diagram", endpoint="diagram")
@login_required
def diagram_page(collection: str, entity_id: int) -> str:
    """The lifecycle diagram alone, as tall as the window (bureau staff)."""
    kind, row = _visible(collection, entity_id)
    allow(lifecycle_reader(current_user), "只有局内工作人员可以查看完整流程图")
    lifecycle = ENTITIES[kind].lifecycle
    svg = diagram.svg(lifecycle, row.state)
    if svg is None:
        abort(404)
    return render_template("entities/diagram.html", kind=kind, collection=collection, row=row,
                           title=title_of(kind, row), lifecycle=lifecycle,
                           svg=Markup(svg))  # noqa: S704 (graphviz output from our own DOT)


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
        # Answered and scored on the scoring page, which the details block links.
        if "respond" in may:
            may.handle("accept", "decline")
        if "score" in may:
            may.handle("submit_scores")
    elif kind == "acceptance":
        # The panel, the conclusion: on the acceptance's own forms (details block).
        may.handle("assign_panel", "pass", "conclude", "fail")
    elif kind == "midterm":
        # The report, the panel's scores and the outcome have forms of their own.
        may.handle("submit", "pass", "rectify", "terminate")
    return may


def _application_actions(may: Actions, app: Any, user: Any, extra: dict[str, Any]) -> None:
    from workflow.finance.operations import milestone_actions

    edit = may.option("resubmit") or may.option("submit")
    may.add("edit", edit is not None and edit.permitted,
            "修改并重新提交" if edit is not None and edit.trigger == "resubmit" else "继续填写")
    if "edit" in may:
        may.handle("submit", "resubmit")  # on the edit page, with the form
    may.add("formal_review", may.permitted("pass_formal_review"))
    if "formal_review" in may:
        # The formal review form answers each checklist item with the verdict.
        may.handle("pass_formal_review", "return_for_revision", "reject")
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
    if kind == "tranche":
        return _tranche_extra(row)
    if kind in ("recovery", "sanction_review"):
        return _recovery_extra(kind, row)
    if kind == "change":
        from workflow.changes.views import change_extra

        return change_extra(row, current_user)
    if kind in EXTRAS:
        return EXTRAS[kind](row, current_user)
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
    from workflow.applying.formal_review import checklist_items
    from workflow.decisions.notices import objections_of
    from workflow.documents.operations import documents_of, pending_rounds
    from workflow.finance import operations as finance

    objections = objections_of(row) if decision_reader(current_user) else []
    documents = documents_of(row)
    from workflow.changes.views import project_extra

    above = {k: v for extra in PROJECT_EXTRAS.values()
             for k, v in extra(row, current_user).items()}
    return {**project_extra(row, current_user), **above,
            "rounds": applications.rounds(row), "eligibility": eligibility,
            "documents": documents, "pending_documents": pending_rounds(row, documents),
            "objections": objections, "checklist": checklist_items(row.call),
            "tranches": finance.tranches_of(row), "milestones": finance.milestones_of(row),
            "capital": finance.capital, "conditions": finance.CONDITION_LABELS}


def _recovery_extra(kind: str, row: Any) -> dict[str, Any]:
    """A recovery's instalments and its 追回通知; a review's sanction and held tranches."""
    import sqlalchemy as sa

    from workflow.documents.models import Document
    from workflow.finance import operations as finance
    from workflow.finance.models import Tranche

    if kind == "sanction_review":
        ids = [int(i) for i in row.held_tranche_ids or []]
        return {"held": list(db.session.scalars(sa.select(Tranche).where(
            Tranche.id.in_(ids)).order_by(Tranche.seq))) if ids else [],
            "capital": finance.capital,
            "holding": row.state not in ENTITIES[kind].lifecycle.final}
    notice = db.session.scalar(sa.select(Document).where(
        Document.application_id == row.application_id, Document.kind == "recovery_notice"))
    return {"capital": finance.capital, "instalments": list(row.instalments),
            "notice": notice}


def _tranche_extra(row: Any) -> dict[str, Any]:
    """The tranche's amount, and for those who read accounts whom it is paid to, with
    every recorded change of that account."""
    from workflow.accounts.operations import FIELD_LABELS
    from workflow.finance import operations as finance
    from workflow.finance.sanctions import hold_text

    out: dict[str, Any] = {"capital": finance.capital,
                           "conditions": finance.CONDITION_LABELS,
                           "hold": hold_text(row.application)}
    if bank_account_reader(current_user, row.application.organization):
        change = finance.payee_changes([row]).get(row.id)
        out.update(payee=finance.payee_of(row), payee_heading=finance.payee_heading(row),
                   note=finance.payee_note(row, change),
                   history=finance.payee_history(row), field_labels=FIELD_LABELS)
    return out


@bp.route("/<collection>/<int:entity_id>/fire", methods=["POST"])
@login_required
def fire(collection: str, entity_id: int) -> Response | tuple[str, int]:
    kind, row = _visible(collection, entity_id, lock=True)
    trigger = request.form.get("trigger", "")
    comment = request.form.get("comment", "")[:5000]
    version = request.form.get("version", "")
    typed = {name: request.form[name].strip()[:2000]
             for name, _ in TRIGGER_FIELDS.get((kind, trigger), [])
             if request.form.get(name, "").strip()}
    data = {**TRIGGER_FIXED.get((kind, trigger), {}), **typed}
    target = request.form.get("next", "")
    try:
        with db.session.begin_nested():
            result = engine.fire(row, trigger, current_user, comment=comment, data=data,
                                 expected_version=parse_id(version), ip=request.remote_addr)
    except ServiceError as err:
        # The errors the generic form can show beside its inputs (a trigger a form of the
        # page's own offers, or an input it does not have, is told at the top instead).
        db.session.expire_all()
        kind, row = _visible(collection, entity_id)
        shown = {"comment", *(name for name, _ in TRIGGER_FIELDS.get((kind, trigger), []))}
        offered = any(o.trigger == trigger for o in
                      page_actions(kind, row, current_user, _extra(kind, row)).buttons)
        errors = {k: v for k, v in field_errors(err).items() if k in shown} if offered else {}
        flash_refusal(err, placed=errors)
        if errors and not target:
            # The page again, with what was typed and each error beside its input.
            return render_entity(collection, entity_id, errors, request.form, err.status,
                                 errors_for="fire")
    else:
        entity = ENTITIES[kind]
        flash(f"{entity.lifecycle.state_of(result.final_state).label}："
              f"{entity.describe(result.row)}", "info")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("entities.show", collection=collection, entity_id=entity_id))


@bp.route("/applications/<int:app_id>/formal-review", methods=["POST"])
@login_required
def formal_review(app_id: int) -> Response | tuple[str, int]:
    """The formal review of one application, on its page: the verdict with an explicit
    answer to each checklist item (符合 / 不符合)."""
    from workflow.applying import formal_review as review

    _kind, app = _visible("applications", app_id)
    checks: dict[str, bool] = {}
    for i, item in enumerate(review.checklist_items(app.call)):
        answer = request.form.get(f"check-{i}")
        if answer in ("yes", "no"):
            checks[item.label] = answer == "yes"
    try:
        with db.session.begin_nested():
            review.decide_one(current_user, app, request.form.get("decision", ""),
                              request.form.get("comment", ""), checks, request.remote_addr)
    except ServiceError as err:
        errors = field_errors(err)
        flash_refusal(err, placed=errors)
        db.session.expire_all()
        return render_entity("applications", app_id, errors, request.form, err.status,
                             errors_for="formal_review")
    flash("形式审查意见已保存", "info")
    return redirect(url_for("entities.show", collection="applications", entity_id=app_id))
