"""``/api/v1``: a closed project's archive (项目档案): start its export, follow it, download
the zip. The progress of the job is also ``GET /api/v1/jobs/{id}``."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, no_body
from workflow.api.openapi import DATE_TIME, document, enum, nullable
from workflow.archive import building
from workflow.archive.building import Copy
from workflow.core.models import Job
from workflow.workbench.jobs import JOB_SCHEMA, job_json

ARCHIVE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "application_id": {"type": "integer"},
    "copy": enum(Copy, "full（完整版：项目主管、分管领导、审计人员）、"
                       "applicant（申请人版：项目负责人、本单位管理员；不含内部材料）"),
    "copy_label": {"type": "string"},
    "job": nullable(JOB_SCHEMA,
                    description="最近一次导出任务（调用者可跟踪的）；从未导出时为 null"),
    "ready": {"type": "boolean", "description": "已有可下载的档案"},
    "current": {"type": "boolean", "description": "可下载的档案是否反映项目的最新状态"},
    "download": nullable("string", description="下载地址（GET，application/zip）"),
    "filename": nullable("string"),
    "size": nullable("integer", description="字节数"),
    "sha256": nullable("string", description="压缩包的 SHA-256"),
    "files": nullable("integer", description="压缩包中的文件数（含档案目录）"),
    "as_of": nullable(DATE_TIME, description="档案截至的时间（项目最后一次有记录的变化）"),
    "generated_at": nullable(DATE_TIME)},
    "required": ["application_id", "copy", "copy_label", "job", "ready", "current", "download",
                 "filename", "size", "sha256", "files", "as_of", "generated_at"]}


def archive_json(app_id: int, job: Job | None) -> dict[str, Any]:
    user = current_api_user()
    app, copy = building.archivable(user, app_id)
    done = building.latest_done(app, copy)
    result = (done.result or {}) if done is not None else {}
    followed = job or building.latest_job(app, copy, user)
    return {
        "application_id": app.id, "copy": copy.value, "copy_label": copy.label,
        "job": job_json(followed) if followed is not None else None,
        "ready": done is not None,
        "current": done is not None and building.is_current(app, done),
        "download": url_for("api.download_archive", app_id=app.id, job_id=done.id)
        if done is not None else None,
        "filename": result.get("filename"), "size": result.get("size"),
        "sha256": result.get("sha256"), "files": result.get("files"),
        "as_of": result.get("as_of"),
        "generated_at": done.finished_at.isoformat() if done and done.finished_at else None,
    }


@api_bp.post("/v1/applications/<int:app_id>/archive")
@document("导出项目档案（已结题、验收不通过或终止的项目）：项目主管、分管领导、审计人员导出完整版，"
          "项目负责人和本单位管理员导出申请人版；后台生成，进度见 job；已有进行中或已是最新的档案"
          "时不再重复生成，答复该档案",
          response=ARCHIVE_SCHEMA,
          responses={202: "已开始生成（或已有进行中、已是最新的档案）",
                     403: "看得到项目但无权导出其档案", 409: "项目尚未结束，不能导出档案"})
@token_required
def start_archive(app_id: int) -> tuple[Response, int]:
    no_body()
    job, _started = building.start(current_api_user(), app_id)
    return jsonify(archive_json(app_id, job)), 202


@api_bp.get("/v1/applications/<int:app_id>/archive")
@document("项目档案的状态：最近一次导出的进度，可下载的档案及其下载地址", response=ARCHIVE_SCHEMA,
          responses={200: "状态", 403: "看得到项目但无权导出其档案"})
@token_required
def archive_status(app_id: int) -> Response:
    return jsonify(archive_json(app_id, None))


@api_bp.get("/v1/applications/<int:app_id>/archive/<int:job_id>/download")
@document("下载项目档案（zip：00-档案目录.pdf 及各部分文件）", media="application/zip",
          responses={200: "项目档案", 403: "看得到项目但无权导出其档案",
                     409: "档案尚未生成完毕，或文件已不存在"})
@token_required
def download_archive(app_id: int, job_id: int) -> Any:
    job, result = building.downloadable(current_api_user(), app_id, job_id)
    return building.send(job, result)
