"""Long work's progress: the fragment a page polls (``GET /jobs/<id>``, htmx) and its API
twin (``GET /api/v1/jobs/{id}``). Only the person who started a job and the bureau's
readers see it; to anyone else it does not exist (404)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from forms import parse_id
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp
from workflow.api.openapi import document
from workflow.core import jobs
from workflow.core.errors import NotFound
from workflow.core.models import Job, JobState, db
from workflow.permissions import bureau_reader

bp = Blueprint("jobs", __name__)

# What each kind is called on the page (the kinds are the features' ``Rules.jobs``).
KIND_LABELS = {"assign_reviewers": "分配评审专家", "import_experts": "导入专家",
               "bulk_formal_review": "批量形式审查", "project_archive": "导出项目档案"}


def visible_job(user: Any, job_id: int) -> Job | None:
    job = db.session.get(Job, job_id)
    return job if job is not None and jobs.visible(user, job, bureau_reader) else None


def result_link(job: Job) -> dict[str, str] | None:
    """The page of what the job made, as ``{url, text}``."""
    link = (job.result or {}).get("link")
    if not isinstance(link, dict):
        return None
    try:
        url = url_for(str(link.get("endpoint")), **dict(link.get("values") or {}))
    except BuildError:
        return None
    return {"url": url, "text": str(link.get("text") or "查看结果")}


def percent(job: Job, done: int, total: int | None) -> int:
    if job.state is JobState.done:
        return 100
    if not total:
        return 0
    return max(0, min(100, round(100 * done / total)))


@bp.route("/jobs/<int:job_id>")
@login_required
def show(job_id: int) -> str:
    job = visible_job(current_user, job_id)
    if job is None:
        abort(404)
    done, total = jobs.figures(job)
    return render_template("jobs/_progress.html", job=job, label=KIND_LABELS.get(
        job.kind, "后台处理"), link=result_link(job), percent=percent(job, done, total),
        done=done, total=total,
        finished=job.state.finished, succeeded=job.state is JobState.done,
        failed=job.state is JobState.failed, tone=TONES[job.state], code=job.state.value)


TONES = {JobState.queued: "secondary", JobState.running: "primary", JobState.done: "success",
         JobState.failed: "danger"}


def polled_job() -> int | None:
    """The job a page was sent back with (``?job=<id>``), for its progress box."""
    return parse_id(request.args.get("job", ""))


def init_app(app: Any) -> None:
    app.jinja_env.globals["polled_job"] = polled_job


# ---- API ----------------------------------------------------------------------------------

JOB_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"},
    # (the features declare the kinds: ``Rules.jobs``)
    "kind": {"type": "string", "description": "、".join(
        f"{k}（{v}）" for k, v in sorted(KIND_LABELS.items()))},
    "kind_label": {"type": "string"},
    "state": {"type": "string", "enum": [s.value for s in JobState]},
    "state_label": {"type": "string"},
    "done": {"type": "integer", "description": "已处理的数量"},
    "total": {"type": "integer", "nullable": True, "description": "总数（尚未知时为 null）"},
    "result": {"type": "object", "nullable": True, "description":
               "完成后的结果：summary（说明）、counts（[名称, 数量]）、link（结果页面）、"
               "errors（每条未处理的原因）"},
    "link": {"type": "string", "nullable": True, "description": "结果页面的地址"},
    "error": {"type": "string", "nullable": True, "description": "失败的原因"},
    "created_at": {"type": "string", "format": "date-time"},
    "started_at": {"type": "string", "format": "date-time", "nullable": True},
    "finished_at": {"type": "string", "format": "date-time", "nullable": True}},
    "required": ["id", "kind", "kind_label", "state", "state_label", "done", "total", "result",
                 "link", "error", "created_at", "started_at", "finished_at"]}


def job_json(job: Job) -> dict[str, Any]:
    link = result_link(job)
    done, total = jobs.figures(job)
    return {
        "id": job.id, "kind": job.kind, "kind_label": KIND_LABELS.get(job.kind, "后台处理"),
        "state": job.state.value, "state_label": job.state.label,
        "done": done, "total": total, "result": job.result,
        "link": link["url"] if link else None, "error": job.error,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


@api_bp.get("/v1/jobs/<int:job_id>")
@document("后台处理的进度与结果（分配评审专家、导入专家、批量形式审查）：仅发起人和局内"
          "人员可见；state 为 done 或 failed 时结束",
          responses={200: "进度", 404: "不存在或无权查看"}, response=JOB_SCHEMA)
@token_required
def job_api(job_id: int) -> Response:
    job = visible_job(current_api_user(), job_id)
    if job is None:
        raise NotFound("任务不存在或无权查看")
    return jsonify(job_json(job))
