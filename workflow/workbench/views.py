"""Each person's home page: what to do next, per role."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from workflow.workbench import todo

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index() -> str:
    return render_template("home/index.html", sections=todo.sections_for(current_user),
                           scan=todo.SCAN)


@bp.route("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
