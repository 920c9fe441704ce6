"""The archive on the closed project's page: 导出项目档案 (start the job, come back to
its progress box), and the download of a finished archive."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.applying.models import Application
from workflow.archive import building
from workflow.core.errors import Conflict
from workflow.core.models import db

bp = Blueprint("archive", __name__)


def _back(app_id: int, **args: Any) -> Response:
    return redirect(url_for("entities.show", collection="applications", entity_id=app_id,
                            **args) + "#project-archive")


@bp.route("/applications/<int:app_id>/archive", methods=["POST"])
@login_required
def start(app_id: int) -> Response:
    try:
        with db.session.begin_nested():
            job, started = building.start(current_user, app_id)
    except Conflict as err:
        flash(err.message, "error")
        return _back(app_id)
    if not started and job.state.finished:
        flash("项目档案已是最新，可直接下载", "success")
        return _back(app_id)
    return _back(app_id, job=job.id)


@bp.route("/applications/<int:app_id>/archive/<int:job_id>.zip")
@login_required
def download(app_id: int, job_id: int) -> Any:
    job, result = building.downloadable(current_user, app_id, job_id)
    return building.send(job, result)


def panel(app: Application, user: Any) -> dict[str, Any] | None:
    """What the project's page shows of its archive to ``user``: None when nothing (not
    closed, or not theirs to export)."""
    copy = building.copy_for(user, app)
    if copy is None or app.state not in building.CLOSED:
        return None
    done = building.latest_done(app, copy)
    running = building.latest_job(app, copy, user)
    return {
        "edition": copy, "done": done, "result": (done.result or {}) if done else {},
        "current": done is not None and building.is_current(app, done),
        "running": running if running is not None and not running.state.finished else None,
    }


PAGE = {"panel": panel}
