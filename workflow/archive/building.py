"""Build a project's archive (the zip and its index PDF), start it as a job, find it again.

Who: officers, leaders and auditors export the bureau's copy (完整版); the principal
investigator and the unit's research office the applicant's (申请人版), without the
internal items. Anyone else who sees the project is refused (403); whoever does not,
never learns it exists (404). Only a closed project (结题, 验收不通过, 终止) is archived
(else 409).

The job (``project_archive``) receives the application's id and the copy, builds the
zip in the worker and keeps it in the file store by its SHA-256; its result names it.
The same state gives the same bytes: the entries are written in a fixed order, each dated
at the project's last recorded change (``as_of``), which is also how a page tells whether
an archive is still current.
"""

from __future__ import annotations

import enum
import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import render_template

from forms import format_wan
from states import ApplicationState
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.applying.visibility import can_view_application
from workflow.archive import sections
from workflow.archive.sections import ArchiveItem
from workflow.core import jobs
from workflow.core.errors import Conflict, Forbidden, NotFound
from workflow.core.files import store
from workflow.core.jobs import JobResult, Progress
from workflow.core.models import Job, JobState, db
from workflow.documents.pdf import html_to_pdf
from workflow.permissions import decision_reader, principal_investigator, unit_office
from workflow.timeutil import SHANGHAI, local_time

KIND = "project_archive"
INDEX_NAME = "00-档案目录.pdf"
CLOSED = (ApplicationState.completed, ApplicationState.failed, ApplicationState.terminated)


class Copy(enum.Enum):
    full = "full"            # the bureau's: everything
    applicant = "applicant"  # the team's: without the internal items

    @property
    def label(self) -> str:
        return {"full": "完整版", "applicant": "申请人版"}[self.value]


# ---- who ---------------------------------------------------------------------------------

def copy_for(user: Any, app: Application) -> Copy | None:
    """The copy ``user`` may export of ``app``, or None."""
    if decision_reader(user):  # officer, leader, auditor
        return Copy.full
    if principal_investigator(user, app) or unit_office(user, app):
        return Copy.applicant
    return None


def archivable(user: Any, app_id: int) -> tuple[Application, Copy]:
    """The application and the copy ``user`` exports: 404 when they may not see it, 403
    when they see it but may not export its archive."""
    app = db.session.get(Application, app_id)
    if app is None or not can_view_application(user, app):
        raise NotFound("申报书不存在或无权查看")
    copy = copy_for(user, app)
    if copy is None:
        raise Forbidden("只有项目主管、分管领导、审计人员，以及项目负责人和本单位管理员可以导出"
                        "项目档案", code="not_archive_reader")
    return app, copy


def ensure_closed(app: Application) -> None:
    if app.state not in CLOSED:
        raise Conflict(f"只有已结题、验收不通过或已终止的项目可以导出项目档案（当前状态："
                       f"{app.state.label}）", code="not_closed")


# ---- what is in it -----------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One file of the zip, as the index lists it."""

    path: str
    category: str
    formed_on: str
    pages: int | None
    sha256: str
    data: bytes


def as_of(app: Application) -> datetime:
    """The project's last recorded change, in UTC (to the second): what an archive is
    current to, and the date of its entries."""
    moments = [sections.base_last_change(app)]
    moments += [s.last_change(app) for s in sections.SECTIONS
                if s.last_change is not None and s.last_change is not sections.base_last_change]
    found = [m for m in moments if m is not None]
    return max(found).replace(microsecond=0) if found else app.created_at.replace(microsecond=0)


def pdf_pages(data: bytes) -> int | None:
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            return len(pdf.pages)
    except Exception:  # an upload that is no readable PDF: the index says nothing of pages
        return None


def collect(app: Application, copy: Copy) -> list[tuple[str, ArchiveItem]]:
    """Each item of the copy with its path (``NN-<section>/<name>``), in order; a name
    taken twice in a folder gets the item's number after it."""
    out: list[tuple[str, ArchiveItem]] = []
    for number, section in enumerate(sections.SECTIONS, 1):
        taken: set[str] = set()
        for item in section.items(app):
            if item.internal and copy is not Copy.full:
                continue
            name = item.name
            if name in taken:
                stem, dot, ext = name.rpartition(".")
                name = f"{stem}-{len(taken) + 1}.{ext}" if dot else f"{name}-{len(taken) + 1}"
            taken.add(name)
            out.append((f"{number:02d}-{section.title}/{name}", item))
    return out


def facts(app: Application) -> list[tuple[str, str]]:
    """The project's facts at the head of the index."""
    scheme = app.call.scheme.label + (f"（揭榜：{app.challenge.title}）" if app.challenge else "")
    return [
        ("项目编号", app.project_number or "—"), ("项目名称", app.title),
        ("项目负责人", app.applicant.name), ("承担单位", app.organization.name),
        ("资助方式", scheme), ("申报指南", f"{app.call.title}（{app.call.year}年度）"),
        ("项目状态", app.state.label), ("受理回执号", app.receipt_no or "—"),
        ("立项通知书文号", app.doc_number or "—"),
        ("提交时间", local_time(app.submitted_at) if app.submitted_at else "—"),
        ("立项时间", local_time(app.approved_at) if app.approved_at else "—"),
        ("资助金额", f"{format_wan(app.granted_amount)} 万元" if app.granted_amount else "—"),
        ("已拨付", f"{format_wan(app.disbursed)} 万元"),
    ]


@dataclass(frozen=True)
class Built:
    data: bytes
    entries: list[Entry]
    as_of: datetime
    filename: str


def filename_of(app: Application, copy: Copy) -> str:
    tag = app.project_number or f"申报书{app.id}"
    return f"项目档案-{tag}" + ("-申请人版" if copy is Copy.applicant else "") + ".zip"


def build(app: Application, copy: Copy, progress: Progress | None = None) -> Built:
    """The archive of ``app`` as ``copy``: the same bytes for the same state."""
    moment = as_of(app)
    items = collect(app, copy)
    total = len(items) + 1
    entries: list[Entry] = []
    for done, (path, item) in enumerate(items, 1):
        data = item.content()
        pages = item.pages if item.pages is not None else (
            pdf_pages(data) if path.lower().endswith(".pdf") else None)
        entries.append(Entry(path, item.category,
                             item.formed_on.isoformat() if item.formed_on else "—", pages,
                             hashlib.sha256(data).hexdigest(), data))
        if progress is not None:
            progress(done, total)
    index = render_index(app, copy, moment, entries)
    stamp = moment.astimezone(SHANGHAI)
    date_time = max((stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute,
                     stamp.second), (1980, 1, 1, 0, 0, 0))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in [(INDEX_NAME, index), *((e.path, e.data) for e in entries)]:
            info = zipfile.ZipInfo(path, date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, data)
    if progress is not None:
        progress(total, total)
    return Built(out.getvalue(), entries, moment, filename_of(app, copy))


def render_index(app: Application, copy: Copy, moment: datetime, entries: list[Entry]) -> bytes:
    html = render_template("archive/index.html", app=app, copy=copy, facts=facts(app),
                           as_of=local_time(moment, "%Y-%m-%d %H:%M:%S"), entries=entries)
    return html_to_pdf(html).data


# ---- the job -----------------------------------------------------------------------------

def start(actor: User, app_id: int) -> tuple[Job, bool]:
    """The archive job for ``actor``'s copy of the project: one already queued, running or
    done and current is given back (False); else a new one starts (True), sent to the
    worker once the request commits."""
    app, copy = archivable(actor, app_id)
    ensure_closed(app)
    job = latest_job(app, copy, actor)
    if job is not None and (not job.state.finished or is_current(app, job)):
        return job, False
    return jobs.start(KIND, actor.id, {"application_id": app.id, "copy": copy.value}), True


def archive_job(job: Job, progress: Progress) -> JobResult:
    """The ``project_archive`` job: build the copy, keep it in the file store."""
    params = job.params or {}
    app = db.session.get(Application, int(params.get("application_id") or 0))
    if app is None:
        raise NotFound("项目已不存在")
    ensure_closed(app)
    copy = Copy(str(params.get("copy", Copy.applicant.value)))
    built = build(app, copy, progress)
    sha = store().store(built.data)
    size = len(built.data)
    return {
        "summary": f"项目档案（{copy.label}）已生成：{len(built.entries) + 1} 个文件，"
                   f"{size / 1024 / 1024:.2f} MB",
        "counts": [["文件", len(built.entries) + 1]],
        "link": {"endpoint": "archive.download",
                 "values": {"app_id": app.id, "job_id": job.id}, "text": "下载项目档案"},
        "sha256": sha, "size": size, "filename": built.filename, "copy": copy.value,
        "files": len(built.entries) + 1, "as_of": built.as_of.isoformat(),
    }


def latest_job(app: Application, copy: Copy, user: Any = None) -> Job | None:
    """The newest archive job of ``app``'s ``copy`` (with ``user``: one they may follow —
    their own, or any for the bureau's readers)."""
    query = sa.select(Job).where(
        Job.kind == KIND, Job.params["application_id"].as_integer() == app.id,
        Job.params["copy"].as_string() == copy.value)
    if user is not None and copy is Copy.applicant:
        query = query.where(Job.started_by_id == user.id)
    return db.session.scalar(query.order_by(Job.id.desc()).limit(1))


def latest_done(app: Application, copy: Copy) -> Job | None:
    return db.session.scalar(sa.select(Job).where(
        Job.kind == KIND, Job.state == JobState.done,
        Job.params["application_id"].as_integer() == app.id,
        Job.params["copy"].as_string() == copy.value).order_by(Job.id.desc()).limit(1))


def is_current(app: Application, job: Job) -> bool:
    """Whether ``job`` made an archive of the project as it stands (and it is still kept)."""
    result = job.result or {}
    if job.state is not JobState.done or not result.get("sha256"):
        return False
    try:
        kept = store().exists(str(result["sha256"]))
    except ValueError:
        return False
    return kept and result.get("as_of") == as_of(app).isoformat()


def downloadable(user: Any, app_id: int, job_id: int) -> tuple[Job, dict[str, Any]]:
    """The finished archive job ``job_id`` of the project, if ``user`` may have its copy."""
    app, copy = archivable(user, app_id)
    job = db.session.get(Job, job_id)
    params = (job.params or {}) if job is not None else {}
    if (job is None or job.kind != KIND or params.get("application_id") != app.id
            or params.get("copy") != copy.value):
        raise NotFound("项目档案不存在或无权查看")
    result = job.result or {}
    if job.state is not JobState.done or not result.get("sha256"):
        raise Conflict("项目档案尚未生成完毕，请稍后再试", code="not_ready")
    if not store().exists(str(result["sha256"])):
        raise Conflict("项目档案文件已不存在，请重新导出", code="archive_gone")
    return job, result


def send(job: Job, result: dict[str, Any]) -> Any:
    from flask import send_file

    return send_file(store().path(str(result["sha256"])), mimetype="application/zip",
                     as_attachment=True, download_name=str(result.get("filename") or
                                                            f"项目档案-{job.id}.zip"))
