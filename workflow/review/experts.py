"""The expert pool: add, edit, import from Excel with a row-by-row report."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

import sqlalchemy as sa

from forms import FieldError, check_id_number, check_uscc
from workflow.accounts import operations as accounts
from workflow.accounts.models import ExpertProfile, Organization, Sanction, User
from workflow.core.errors import Forbidden, Invalid, NotFound, ServiceError
from workflow.core.jobs import JobResult, Progress
from workflow.core.models import Job, db, utcnow
from workflow.permissions import pool_keeper
from workflow.timeutil import SHANGHAI

COLUMNS = ["用户名", "姓名", "身份证号", "单位统一社会信用代码", "职称", "学科代码", "关键词",
           "最大评审数", "电子邮箱", "手机"]
KEYS = ["username", "name", "id_number", "org_uscc", "title", "disciplines", "keywords",
        "load_cap", "email", "phone"]


def _officer(actor: User) -> None:
    if not pool_keeper(actor):
        raise Forbidden("只有项目主管可以维护专家库", code="role_not_allowed")


def _list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        items = value
    else:
        text = str(value or "")
        for sep in ("，", "、", "；", ";", " "):
            text = text.replace(sep, ",")
        items = text.split(",")
    return [str(i).strip() for i in items if str(i).strip()]


def _profile_values(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if "disciplines" in data:
        codes = [c.upper() for c in _list(data["disciplines"])]
        if not codes or any(not (1 <= len(c) <= 10 and c.isalnum()) for c in codes):
            errors["disciplines"] = "请填写学科代码（如 TF、S1），多个以逗号分隔"
        values["disciplines"] = codes
    if "keywords" in data:
        values["keywords"] = _list(data["keywords"])[:30]
    if "load_cap" in data:
        try:
            cap = int(str(data["load_cap"]).strip() or "30")
            if not 0 <= cap <= 500:
                raise ValueError
            values["load_cap"] = cap
        except ValueError:
            errors["load_cap"] = "最大评审数应为0至500的整数"
    if "title" in data:
        values["title"] = str(data["title"] or "").strip()[:50] or None
    if "available" in data:
        values["available"] = data["available"] in (True, "on", "1", "true", "是")
    return values, errors


def create_expert(actor: User, data: dict[str, Any]) -> ExpertProfile:
    _officer(actor)
    values, errors = _profile_values({"load_cap": "30", **data})
    org = None
    if data.get("org_uscc"):
        try:
            org = db.session.scalar(sa.select(Organization).where(
                Organization.uscc == check_uscc(str(data["org_uscc"]))))
            if org is None:
                errors["org_uscc"] = "该单位尚未登记"
        except FieldError as err:
            errors["org_uscc"] = str(err)
    id_number = None
    if data.get("id_number"):
        try:
            id_number = check_id_number(str(data["id_number"]))
        except FieldError as err:
            errors["id_number"] = str(err)
    if "disciplines" not in data:
        errors["disciplines"] = "请填写学科代码"
    if errors:
        raise Invalid("专家信息有误", details=errors)
    # A random password: the expert sets their own through the password reset.
    user = accounts.create_user(str(data.get("username") or ""), secrets.token_urlsafe(24),
                                ["expert"], name=str(data.get("name") or "").strip() or None,
                                email=str(data.get("email") or "") or None,
                                phone=str(data.get("phone") or "") or None, organization=org)
    user.id_number = id_number
    profile = ExpertProfile(user=user, **values)
    db.session.add(profile)
    db.session.flush()
    return profile


def update_expert(actor: User, profile: ExpertProfile, data: dict[str, Any]) -> ExpertProfile:
    _officer(actor)
    values, errors = _profile_values(data)
    if errors:
        raise Invalid("专家信息有误", details=errors)
    for key, value in values.items():
        setattr(profile, key, value)
    db.session.flush()
    return profile


@dataclass
class RowResult:
    row: int
    ok: bool
    message: str


def import_sheet(actor: User, content: bytes,
                 progress: Progress | None = None) -> list[RowResult]:
    """Each row is added on its own; the report says, row by row, what was refused and why.
    ``progress`` hears how many of the sheet's rows have been handled."""
    from openpyxl import load_workbook

    _officer(actor)
    try:
        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
    except Exception as err:  # openpyxl raises many kinds for a broken file
        raise Invalid("无法读取该 Excel 文件，请使用专家导入模板") from err
    if sheet is None:
        raise Invalid("Excel 文件中没有工作表")
    rows = sheet.iter_rows(values_only=True)
    header = [str(c or "").strip() for c in next(rows, ())]
    missing = [c for c in ("用户名", "姓名", "学科代码") if c not in header]
    if missing:
        raise Invalid("表头缺少：" + "、".join(missing) + "（请使用专家导入模板）")
    index = {KEYS[COLUMNS.index(h)]: i for i, h in enumerate(header) if h in COLUMNS}
    report: list[RowResult] = []
    total = min(max((sheet.max_row or 1) - 1, 0), 5000)
    for number, cells in enumerate(rows, start=2):
        if progress is not None:
            progress(min(number - 2, total), total)
        if number > 5001:
            report.append(RowResult(number, False, "一次最多导入5000行，其余未处理"))
            break
        if not any(c not in (None, "") for c in cells):
            continue
        data = {k: cells[i] for k, i in index.items() if i < len(cells) and cells[i] is not None}
        savepoint = db.session.begin_nested()
        try:
            profile = create_expert(actor, {k: str(v) if k != "load_cap" else v
                                            for k, v in data.items()})
            savepoint.commit()
            report.append(RowResult(number, True, f"已导入：{profile.user.name}"))
        except ServiceError as err:
            savepoint.rollback()
            details = err.details if isinstance(err.details, dict) else {}
            reasons = "；".join(f"{COLUMNS[KEYS.index(k)] if k in KEYS else k}：{v}"
                               for k, v in details.items()) or err.message
            report.append(RowResult(number, False, reasons))
    if progress is not None:
        progress(total, total)
    return report


IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_JOB = "import_experts"


def import_upload(actor: User, filename: str, stream: IO[bytes] | None) -> list[RowResult]:
    """An uploaded import sheet: checked as any upload is (size, type, content), then
    imported row by row."""
    return import_sheet(actor, checked_upload(actor, filename, stream))


def start_import(actor: User, filename: str, stream: IO[bytes] | None) -> Job:
    """Check the upload now, keep it in the file store and leave the rows to the worker."""
    from workflow.core import jobs
    from workflow.core.files import store

    content = checked_upload(actor, filename, stream)
    sha = store().store(content)
    return jobs.start(IMPORT_JOB, actor.id, {"sha256": sha})


def import_job(job: Job, progress: Progress) -> JobResult:
    """The ``import_experts`` job: ``import_sheet`` as its starter; the row-by-row report."""
    from workflow.core.files import store

    actor = db.session.get(User, job.started_by_id or 0)
    if actor is None:
        raise NotFound("发起人已不存在")
    try:
        content = store().path(str(job.params.get("sha256", ""))).read_bytes()
    except (OSError, ValueError) as err:
        raise NotFound("上传的文件已不存在，请重新导入") from err
    report = import_sheet(actor, content, progress)
    done = sum(1 for r in report if r.ok)
    return {
        "summary": f"导入完成：成功 {done} 行，未导入 {len(report) - done} 行",
        "counts": [["成功", done], ["未导入", len(report) - done]],
        "link": {"endpoint": "reviewing.experts", "values": {}, "text": "查看专家库"},
        "errors": [f"第 {r.row} 行：{r.message}" for r in report if not r.ok],
        "rows": [{"row": r.row, "ok": r.ok, "message": r.message} for r in report],
    }


def checked_upload(actor: User, filename: str, stream: IO[bytes] | None) -> bytes:
    """The content of an uploaded import sheet, checked as any upload is (size, type,
    content)."""
    from forms.uploads import UploadRefused, inspect_upload
    from workflow.core.files import UploadError

    _officer(actor)
    if stream is None or not filename:
        raise Invalid("请选择要导入的 Excel 文件", details={"file": "必填"})
    try:
        info = inspect_upload(filename, stream, IMPORT_MAX_BYTES)
        if info.kind != "xlsx":
            raise UploadRefused(415, "type_not_allowed", "请上传 .xlsx 格式的专家导入表")
    except UploadRefused as err:
        raise UploadError(err) from err
    stream.seek(0)
    return stream.read(IMPORT_MAX_BYTES + 1)


def template_xlsx(actor: User) -> bytes:
    from openpyxl import Workbook

    _officer(actor)
    book = Workbook()
    sheet = book.create_sheet("专家", 0)
    book.remove(book.worksheets[1])
    sheet.append(COLUMNS)
    sheet.append(["zhang_s", "张三", "362101198001010019", "", "正高级", "TF,TG", "稀土,萃取",
                  30, "zhang@example.cn", "13812345678"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sanctioned_ids(today: date | None = None) -> set[str]:
    today = today or utcnow().astimezone(SHANGHAI).date()
    # Only a 不得评审 measure bars reviewing.
    return {row.id_number for row in db.session.scalars(sa.select(Sanction).where(
        Sanction.subject == "person", Sanction.starts_on <= today, Sanction.ends_on >= today,
        Sanction.id_number.is_not(None))) if row.in_force(today, "no_review") and row.id_number}


def profile_of(actor: User, user_id: int | None) -> ExpertProfile:
    _officer(actor)
    profile = db.session.get(ExpertProfile, user_id) if user_id else None
    if profile is None:
        raise NotFound("专家不存在")
    return profile

