"""Pages of evaluations: the list (绩效评价) and the officer's adjustment of the scores on
the evaluation's page (``/evaluations/<id>``, the entity page, which shows the facts, the
proposed and the standing scores, and the confirmation with its dialog); and what the
templates read of it (``PAGE``: the details block, the 历史绩效 box of an application's
page, the 绩效评价不合格 records on the 科研失信 list page)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from forms import parse_id
from states import EvaluationState
from workflow.core.entities import can_view
from workflow.core.errors import ServiceError
from workflow.core.models import db
from workflow.evaluation import facts as facts_mod
from workflow.evaluation import operations as evaluations
from workflow.evaluation.lists import EVALUATIONS
from workflow.evaluation.models import CLOSURES, DIMENSIONS, Evaluation, Grade
from workflow.evaluation.scoring import BANDS, MAX, propose
from workflow.permissions import allow, bureau_reader, found, has_role, integrity_reader, officer
from workflow.web import field_errors, flash_refusal, listing
from workflow.workbench.entities import render_entity

bp = Blueprint("evaluation", __name__)
list_reader = has_role("officer", "leader", "auditor", "admin", "org_admin", "applicant")


@bp.route("/evaluations")
@login_required
def index() -> Response | str:
    allow(list_reader(current_user), "您无权查看绩效评价")
    return listing.respond(EVALUATIONS, "evaluation/list.html", user=current_user,
                           bureau=bureau_reader(current_user))


def form_scores(form: Any) -> dict[str, Any]:
    body: dict[str, Any] = {dim: form.get(dim, "").strip() for dim in DIMENSIONS}
    body["reason"] = form.get("reason", "")[:3000]
    return body


@bp.route("/evaluations/<int:ev_id>/adjust", methods=["POST"])
@login_required
def adjust(ev_id: int) -> Response | tuple[str, int]:
    """The officer's scores (and reason); a refusal shows the page again with what was
    typed and each problem beside its input."""
    ev = found(db.session.get(Evaluation, ev_id), current_user, can_view, what="绩效评价")
    try:
        with db.session.begin_nested():
            evaluations.adjust(current_user, ev, form_scores(request.form),
                               parse_id(request.form.get("version", "")),
                               request.remote_addr)
    except ServiceError as err:
        errors = field_errors(err)
        flash_refusal(err, placed=errors)
        db.session.expire_all()
        return render_entity("evaluations", ev_id, errors, request.form, err.status,
                             errors_for="evaluation")
    flash("评价得分已保存" if ev.adjusted is not None else "已恢复系统建议的得分", "info")
    return redirect(url_for("entities.show", collection="evaluations", entity_id=ev_id))


# ---- what the templates read -------------------------------------------------------------

def details(ev: Evaluation, user: Any) -> dict[str, Any]:
    facts = ev.facts or {}
    proposal = propose(facts)
    return {"facts": facts, "money": facts_mod.money_text(facts), "notes": proposal.notes,
            "adjustable": officer(user) and ev.state is EvaluationState.draft,
            "leader_note": ev.state is EvaluationState.draft and ev.grade is Grade.unqualified,
            "closure": CLOSURES.get(ev.closure, ev.closure)}


def evaluation_of(app: Any, user: Any) -> Evaluation | None:
    """The project's evaluation, when the person may see it (its page links it)."""
    ev = evaluations.of_application(app.id)
    return ev if ev is not None and can_view(user, ev) else None


PAGE = {"details": details, "history": evaluations.history, "of": evaluation_of,
        "failing": evaluations.failing_records, "DIMENSIONS": DIMENSIONS, "MAX": MAX,
        "BANDS": BANDS, "shows_failing": integrity_reader}
