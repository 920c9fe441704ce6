"""Calls (申报指南 / 榜单批次) and their challenges: create, edit, form versions."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa

from forms import FieldError, check_line, check_uscc, has_line_break, parse_wan
from forms.schema import schema_fingerprint, validate_schema
from states import STEPS, CallState
from workflow.accounts.models import Organization, User
from workflow.calls.models import AggregationRule, Call, CallFormVersion, Challenge, Scheme
from workflow.core import audit
from workflow.core.errors import Conflict, Forbidden, Invalid
from workflow.core.models import Attachment, db, utcnow
from workflow.permissions import call_keeper
from workflow.timeutil import SHANGHAI

# What a call is open to at each stage (one place for the pages and the services).
EDITABLE = (CallState.draft, CallState.published)
DECIDED = (CallState.decided, CallState.archived)


def editable(call: Call) -> bool:
    """The guide, its attachments and challenges may still change (until it closes)."""
    return call.state in EDITABLE


def open_for_applications(call: Call) -> bool:
    return call.state is CallState.published


def past_deadline(call: Call) -> bool:
    """Closed to applications: its review, ranking and defence have begun."""
    return call.state not in EDITABLE


def in_decision(call: Call) -> bool:
    """Under review or decided: the decision page has something to show."""
    return call.state is CallState.reviewing or call.state in DECIDED


def decided(call: Call) -> bool:
    """Decided: the grants are committed in the call's ledger."""
    return call.state in DECIDED


def _officer(actor: User) -> None:
    if not call_keeper(actor):
        raise Forbidden("只有项目主管可以管理申报指南", code="role_not_allowed")


def parse_local_time(value: Any) -> datetime:
    """'2026-12-31T17:00' or '2026-12-31 17:00' (Asia/Shanghai) → aware UTC datetime."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise FieldError("时间格式应为 YYYY-MM-DD HH:MM")
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError as err:
        raise FieldError("时间格式应为 YYYY-MM-DD HH:MM") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SHANGHAI)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as err:
        raise FieldError("时间超出可用范围") from err


def _int(value: Any, lo: int, hi: int, label: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError) as err:
        raise FieldError(f"{label}应为整数") from err
    if not lo <= number <= hi:
        raise FieldError(f"{label}应在{lo}至{hi}之间")
    return number


def _problems(errors: list[str]) -> None:
    """Every problem of a list the officer edits row by row, at once."""
    if errors:
        raise FieldError("；".join(errors))


RUBRIC_LABEL_MAX = 100


def _rubric(value: Any) -> list[dict[str, Any]]:
    """The rubric; none yet is a draft's business (publishing asks for one)."""
    if not isinstance(value, list):
        raise FieldError("评分标准应为评分项列表")
    if not value:
        return []
    out, names, total, errors = [], set(), Decimal(0), []
    for i, crit in enumerate(value, 1):
        if not isinstance(crit, dict):
            errors.append(f"第{i}项评分标准格式有误")
            continue
        name, label = str(crit.get("name", "")).strip(), str(crit.get("label", "")).strip()
        if not name.isidentifier() or name in names:
            errors.append(f"第{i}项评分标准缺少名称或名称重复")
        elif not label:
            errors.append(f"第{i}项评分标准：请填写评分项名称")
        elif len(label) > RUBRIC_LABEL_MAX:
            errors.append(f"第{i}项评分标准：名称不能超过{RUBRIC_LABEL_MAX}字")
        elif has_line_break(label):
            errors.append(f"第{i}项评分标准：名称不能换行，请写在一行内")
        names.add(name)
        raw_weight, raw_top = crit.get("weight"), crit.get("max", 100)
        try:
            if isinstance(raw_weight, bool) or isinstance(raw_top, bool):
                raise ValueError(raw_weight)
            weight, top = Decimal(str(raw_weight).strip()), int(str(raw_top).strip())
        except (ArithmeticError, TypeError, ValueError):
            errors.append(f"第{i}项评分标准的权重或满分有误（权重为数字，满分为整数）")
            continue
        if not weight.is_finite() or weight <= 0 or top <= 0:
            errors.append(f"第{i}项评分标准的权重和满分应大于零")
            continue
        total += weight
        out.append({"name": name, "label": label, "weight": int(weight) if weight ==
                    weight.to_integral() else float(weight), "max": top})
    if not errors and total != 100:
        errors.append(f"各项权重之和应为100（当前为{total.normalize():f}）")
    _problems(errors)
    return out


# What a tranche waits for, as the pages name it.
TRANCHE_CONDITIONS = {"contract": "任务书签订后", "milestone": "里程碑验收通过后",
                      "acceptance": "结题验收通过后"}
TRANCHE_LABEL_MAX = 100


def _tranche_plan(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise FieldError("拨付计划格式有误")
    out, total, errors = [], 0, []
    for i, step in enumerate(value, 1):
        if not isinstance(step, dict) or step.get("condition") not in TRANCHE_CONDITIONS:
            errors.append(f"第{i}笔拨付请选择拨付条件：" + "、".join(
                f"{k}（{v}）" for k, v in TRANCHE_CONDITIONS.items()))
            continue
        label = str(step.get("label") or f"第{i}笔").strip() or f"第{i}笔"
        if len(label) > TRANCHE_LABEL_MAX:
            errors.append(f"第{i}笔拨付的名称不能超过{TRANCHE_LABEL_MAX}字")
        elif has_line_break(label):
            errors.append(f"第{i}笔拨付的名称不能换行，请写在一行内")
        entry = {"label": label, "condition": step["condition"]}
        if step["condition"] != "milestone":
            try:
                percent = _int(step.get("percent"), 1, 100, f"第{i}笔拨付比例")
            except FieldError as err:
                errors.append(str(err))
                continue
            entry["percent"] = percent
            total += percent
        out.append(entry)
    if not errors and total not in (0, 100):
        errors.append(f"各笔拨付比例之和应为100%（当前为{total}%）")
    _problems(errors)
    return out


CHECK_ITEM_MAX = 200


def _checklist(value: Any) -> tuple[list[str], list[str]]:
    """The checklist's items, and those that must be ticked. An item is a text, or
    ``{"label": text, "required": true|false}`` (必须勾选)."""
    if not isinstance(value, list):
        raise FieldError("形式审查要点应为文字列表")
    items: list[str] = []
    required: list[str] = []
    errors: list[str] = []
    for i, entry in enumerate(value, 1):
        must = False
        if isinstance(entry, dict):
            unknown = sorted(str(k) for k in entry if k not in ("label", "required"))
            if unknown:
                errors.append(f"第{i}项形式审查要点不支持设置项" + "、".join(
                    f"“{k[:30]}”" for k in unknown))
                continue
            must = entry.get("required", False)
            if not isinstance(must, bool):
                errors.append(f"第{i}项形式审查要点的“必须勾选”应为是或否")
                continue
            entry = entry.get("label")
        if not isinstance(entry, str):
            errors.append(f"第{i}项形式审查要点应为文字")
            continue
        text = entry.strip()
        if not text:
            continue  # a row left blank
        if len(text) > CHECK_ITEM_MAX:
            errors.append(f"第{i}项形式审查要点不能超过{CHECK_ITEM_MAX}字")
        elif text in items:
            errors.append(f"第{i}项形式审查要点“{text}”重复")
        else:
            items.append(text)
            if must:
                required.append(text)
    _problems(errors)
    return items, required


def checklist_input(call: Call) -> list[Any]:
    """The call's checklist as the API and the edit page take it back: a required item as
    ``{"label", "required": true}``, any other as its text."""
    required = set(call.checklist_required or [])
    return [{"label": item, "required": True} if item in required else item
            for item in call.checklist or []]


def _optional_time(value: Any) -> datetime | None:
    """A time left blank is not set yet (a draft may wait for its dates)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_local_time(value)


PARSERS: dict[str, Any] = {
    "title": lambda v: _text(v, 200, "指南名称"),
    "guide": lambda v: str(v or "")[:50000],
    "scheme": lambda v: _choice(v, Scheme, "资助方式应为 baogan（包干制）或 jiebang（揭榜挂帅）"),
    "year": lambda v: _int(v, 2000, 2100, "年度"),
    "opens_at": _optional_time,
    "closes_at": _optional_time,
    "budget": lambda v: _positive_wan(v, "总预算"),
    "reviewers_per_application": lambda v: _int(v, 1, 15, "每项评审专家数"),
    "aggregation": lambda v: _choice(v, AggregationRule, "汇总方式应为 trimmed/mean/median"),
    "steps": lambda v: _steps(v),
    "notice_days": lambda v: _int(v, 1, 30, "公示期天数"),
    "notice_working_days": lambda v: bool(v) and str(v).lower() not in ("0", "false", "no"),
    "collective_threshold": lambda v: None if v in (None, "") else _positive_wan(v, "集体决策标准"),
    "max_running_projects": lambda v: _int(v, 1, 10, "在研项目上限"),
    "rubric": _rubric,
    "tranche_plan": _tranche_plan,
    "checklist": _checklist,
    "hide_applicant": lambda v: v is True or str(v).lower() in ("on", "1", "true", "是"),
    # 结题验收: what a 结题 does to the last tranche, and 宽容失败.
    "concluded_rule": lambda v: _rule(v),
    "tolerate_failure": lambda v: v is True or str(v).lower() in ("on", "1", "true", "是"),
}
CONCLUDED_RULES = {"withhold": "不再拨付尾款", "pay": "照常拨付尾款"}


def _rule(value: Any) -> str:
    if not isinstance(value, str) or value not in CONCLUDED_RULES:
        raise FieldError("结题项目的尾款应为 withhold（不再拨付）或 pay（照常拨付）")
    return str(value)


def _text(value: Any, limit: int, label: str) -> str:
    """A one-line text (a call's or a challenge's title)."""
    text = str(value or "").strip()
    if not text:
        raise FieldError(f"请填写{label}")
    if len(text) > limit:
        raise FieldError(f"{label}不能超过{limit}字")
    return check_line(text, label)


def _choice(value: Any, enum_cls: Any, message: str) -> Any:
    try:
        return enum_cls(value)
    except ValueError as err:
        raise FieldError(message) from err


def _positive_wan(value: Any, label: str) -> Decimal:
    amount = parse_wan(value)
    if amount <= 0:
        raise FieldError(f"{label}应大于零")
    return amount


def _steps(value: Any) -> list[str]:
    if not isinstance(value, list) or any(not isinstance(v, str) or v not in STEPS
                                          for v in value):
        raise FieldError("可选环节应为：" + "、".join(f"{k}（{v}）" for k, v in STEPS.items()))
    return sorted(set(value))


REQUIRED = ("title", "scheme", "year", "opens_at", "closes_at", "budget")
# Every field a call takes (the API refuses any other).
CALL_FIELDS = (*PARSERS, "form_schema")
# Each field as the pages name it.
FIELD_LABELS = {
    "title": "指南名称", "scheme": "资助方式", "year": "年度", "guide": "指南正文",
    "opens_at": "开始时间", "closes_at": "截止时间", "budget": "总预算",
    "reviewers_per_application": "每项评审专家数", "aggregation": "评分汇总方式",
    "steps": "可选环节", "notice_days": "公示期", "notice_working_days": "按工作日计算公示期",
    "collective_threshold": "“三重一大”集体决策标准", "max_running_projects": "在研项目上限",
    "rubric": "评分标准", "tranche_plan": "拨付计划", "checklist": "形式审查要点",
    "checklist_required": "必须勾选的形式审查要点", "hide_applicant": "双盲评审",
    "concluded_rule": "结题项目的尾款", "tolerate_failure": "宽容失败",
    "form_schema": "申报书表单",
}


def parse_call(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    """The call's fields as typed (``partial``: only those sent), or ``Invalid`` naming
    every field that is wrong, all at once."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, parse in PARSERS.items():
        if key not in data:
            if not partial and key in REQUIRED:
                errors[key] = "必填"
            continue
        try:
            values[key] = parse(data[key])
        except FieldError as err:
            errors[key] = str(err)
            continue
        if values[key] is None and not partial and key in REQUIRED:
            errors[key] = f"请填写{FIELD_LABELS[key]}"
    if "checklist" in values:
        values["checklist"], values["checklist_required"] = values["checklist"]
    if "form_schema" in data:
        fields = data["form_schema"]
        problems = validate_schema(fields) if isinstance(fields, list) else ["表单应为字段列表"]
        if problems:
            errors["form_schema"] = "；".join(problems)
        else:
            values["form_schema"] = fields
    opens, closes = values.get("opens_at"), values.get("closes_at")
    if opens is not None and closes is not None and closes <= opens:
        errors.setdefault("closes_at", "截止时间必须晚于开始时间")
    if errors:
        raise Invalid("指南信息有误", details=errors)
    return values


def create_call(actor: User, data: dict[str, Any]) -> Call:
    _officer(actor)
    values = parse_call(data, partial=False)
    return _new_draft(actor, values, "create", {"fields": sorted(values)})


def _new_draft(actor: User, values: dict[str, Any], trigger: str,
               audit_data: dict[str, Any]) -> Call:
    call = Call(created_by_id=actor.id, **{k: v for k, v in values.items()
                                          if k != "form_schema"})
    db.session.add(call)
    db.session.flush()
    set_form(call, values.get("form_schema", []))
    audit.record(call, "call", trigger, actor, "officer", None, call.state.value,
                 data=audit_data)
    return call


# What may still change once a call is published: nothing researchers rely on.
EDITABLE_WHEN_PUBLISHED = {"guide", "closes_at", "form_schema", "checklist",
                           "checklist_required", "hide_applicant",
                           "reviewers_per_application", "notice_days", "notice_working_days",
                           "collective_threshold", "rubric", "concluded_rule",
                           "tolerate_failure"}


def update_call(actor: User, call: Call, data: dict[str, Any],
                expected_version: int | None = None) -> Call:
    _officer(actor)
    if expected_version is not None and call.version != expected_version:
        raise Conflict("指南已被他人修改，请刷新后重试", code="stale_version")
    values = parse_call(data, partial=True)
    if not editable(call):
        raise Conflict(f"指南当前为“{call.state.label}”，不能再修改", code="invalid_state")
    if call.state is CallState.published:
        # The edit page sends every field; only a changed one counts.
        locked = [k for k in values if k not in EDITABLE_WHEN_PUBLISHED
                  and not _same(getattr(call, k), values[k])]
        if locked:
            raise Conflict("已发布的指南不能修改：" + "、".join(FIELD_LABELS[k] for k in locked),
                           code="published")
        if "closes_at" in values and (values["closes_at"] is None or call.closes_at is None
                                      or values["closes_at"] < call.closes_at):
            raise Invalid("指南信息有误", details={"closes_at": "已发布的指南只能延后截止时间"})
        if values.get("rubric") == []:
            raise Invalid("指南信息有误", details={"rubric": "已发布的指南须有评分标准"})
    opens = values.get("opens_at", call.opens_at)
    closes = values.get("closes_at", call.closes_at)
    if opens is not None and closes is not None and closes <= opens:
        raise Invalid("指南信息有误", details={"closes_at": "截止时间必须晚于开始时间"})
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key == "form_schema":
            if set_form(call, value):
                changes[key] = f"v{call.form_version}"
        elif not _same(getattr(call, key), value):
            setattr(call, key, value)
            changes[key] = str(value)
    if changes:
        db.session.flush()
        audit.record(call, "call", "update", actor, "officer", call.state.value,
                     call.state.value, data={"changes": changes})
    return call


def _same(old: Any, new: Any) -> bool:
    """Equal as the edit page shows them (times to the minute)."""
    if isinstance(old, datetime) and isinstance(new, datetime):
        return old.replace(second=0, microsecond=0) == new.replace(second=0, microsecond=0)
    return bool(old == new)


def set_form(call: Call, fields: list[dict[str, Any]]) -> bool:
    """Make ``fields`` the call's current form; a new version only when it changed."""
    current = db.session.scalar(sa.select(CallFormVersion).where(
        CallFormVersion.call_id == call.id, CallFormVersion.version == call.form_version))
    fingerprint = schema_fingerprint(fields)
    if current is not None and current.fingerprint == fingerprint:
        return False
    if current is None and call.form_version == 1 and not db.session.scalar(
            sa.select(CallFormVersion.id).where(CallFormVersion.call_id == call.id)):
        version = 1
    else:
        version = call.form_version + 1
    db.session.add(CallFormVersion(call_id=call.id, version=version, fields=fields,
                                   fingerprint=fingerprint))
    call.form_schema, call.form_version = fields, version
    return True


# ---- copy, export, import ----------------------------------------------------------------

EXPORT_FORMAT = "kjflow-call"
EXPORT_VERSION = 1
# The keys of an exported file besides ``call`` (what it is, and where it came from).
EXPORT_KEYS = frozenset({"format", "version", "exported_at", "exported_from", "call"})
# What a copy of a call may be given besides what it copies.
COPY_FIELDS = ("title", "year", "opens_at", "closes_at")


def exact_wan(yuan: Decimal | None) -> str | None:
    """Yuan → 万元 exactly ('12.3456'), for a file read back by ``parse_wan``."""
    if yuan is None:
        return None
    return format((Decimal(yuan) / 10000).normalize(), "f")


def call_template(call: Call) -> dict[str, Any]:
    """Everything of a call that a new one can start from, as the API takes it: not its
    dates, state or numbers (form versions, the 立项文件文号), nor its 榜单 (a demand
    side's problems of that batch) and attachments."""
    return {
        "title": call.title, "scheme": call.scheme.value, "year": call.year,
        "guide": call.guide, "budget": exact_wan(call.budget),
        "reviewers_per_application": call.reviewers_per_application,
        "aggregation": call.aggregation.value, "steps": list(call.steps or []),
        "notice_days": call.notice_days, "notice_working_days": call.notice_working_days,
        "collective_threshold": exact_wan(call.collective_threshold),
        "max_running_projects": call.max_running_projects,
        "hide_applicant": call.hide_applicant, "concluded_rule": call.concluded_rule,
        "tolerate_failure": call.tolerate_failure,
        # (a call that never had a rubric gives none: the new one is asked for it)
        **({"rubric": list(call.rubric)} if call.rubric else {}),
        "tranche_plan": list(call.tranche_plan or []), "checklist": checklist_input(call),
        "form_schema": list(call.form_schema or []),
    }


def this_year() -> int:
    return utcnow().astimezone(SHANGHAI).year


def _retitled(source: Call, year: int) -> str:
    """Last year's title for this year: '2025年度…' → '2026年度…'; a copy within the same
    year says so."""
    title = source.title
    prefix = f"{source.year}年"
    if year != source.year and title.startswith(prefix):
        return f"{year}年" + title[len(prefix):]
    suffix = "（副本）"
    return title[:200 - len(suffix)] + suffix


def copy_call(actor: User, source: Call, data: dict[str, Any] | None = None) -> Call:
    """A new draft from ``source`` (复制上年指南): everything but its dates, state and
    numbers, for this year unless ``data`` says otherwise (title, year, dates)."""
    _officer(actor)
    data = dict(data or {})
    unknown = sorted(set(data) - set(COPY_FIELDS))
    if unknown:
        raise Invalid("复制指南时只能另行设置：" + "、".join(FIELD_LABELS[k] for k in COPY_FIELDS),
                      details={k: "不接受该字段" for k in unknown}, code="unknown_field")
    template = call_template(source)
    template["year"] = this_year()
    template["title"] = _retitled(source, template["year"])
    values = parse_call({**template, **data}, partial=True)
    return _new_draft(actor, values, "copy", {"from_call": source.id,
                                              "from_title": source.title})


def export_call(call: Call) -> dict[str, Any]:
    """The call as a file another kjflow imports (``import_call``)."""
    return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION,
            "exported_at": utcnow().isoformat(timespec="seconds"),
            "exported_from": {"title": call.title, "year": call.year},
            "call": call_template(call)}


def import_call(actor: User, document: Any) -> Call:
    """A new draft from an exported file, checked as a call typed on the page is."""
    _officer(actor)
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise Invalid("这不是本系统导出的申报指南文件", details={"file": "文件格式不正确"})
    if document.get("version") != EXPORT_VERSION:
        raise Invalid(f"指南文件的格式版本不受支持（应为 {EXPORT_VERSION}）",
                      details={"version": f"应为 {EXPORT_VERSION}"})
    unknown = sorted(str(k)[:40] for k in set(document) - EXPORT_KEYS)
    fields = document.get("call")
    if isinstance(fields, dict):
        unknown += sorted(f"call.{str(k)[:40]}" for k in set(fields) - set(CALL_FIELDS))
    if unknown:
        raise Invalid("指南文件含有无法识别的字段：" + "、".join(unknown),
                      details={k: "不接受该字段" for k in unknown}, code="unknown_field")
    if not isinstance(fields, dict):
        raise Invalid("指南文件中没有指南内容", details={"call": "应为指南的各项设置"})
    values = parse_call(fields, partial=True)
    missing = {k: f"请填写{FIELD_LABELS[k]}" for k in ("title", "scheme", "year", "budget")
               if values.get(k) is None}
    if missing:
        raise Invalid("指南信息有误", details=missing)
    return _new_draft(actor, values, "import", {"fields": sorted(values)})


def form_fields(call: Call, version: int) -> list[dict[str, Any]]:
    """The fields of ``call``'s form at ``version`` (the current form if never versioned)."""
    known = _known_forms()
    if known is not None and (call.id, version) in known:
        row = known[(call.id, version)]
    else:
        row = db.session.scalar(sa.select(CallFormVersion.fields).where(
            CallFormVersion.call_id == call.id, CallFormVersion.version == version))
    return list(row) if row is not None else list(call.form_schema or [])


_FORMS = "kjflow.form_versions"


def _known_forms() -> dict[tuple[int, int], Any] | None:
    """The form versions this request has read for a list's page (a version, once
    written, never changes); None outside a request."""
    from flask import has_request_context, request

    if not has_request_context():
        return None
    known: dict[tuple[int, int], Any] = request.environ.setdefault(_FORMS, {})
    return known


def read_forms(pairs: Iterable[tuple[int, int]]) -> None:
    """Read the forms of a page's ``(call id, version)`` pairs in one statement, for
    ``form_fields`` to answer from during the rest of the request."""
    known = _known_forms()
    wanted = {p for p in pairs if known is not None and p not in known}
    if known is None or not wanted:
        return
    found = {(call_id, version): fields for call_id, version, fields in db.session.execute(
        sa.select(CallFormVersion.call_id, CallFormVersion.version, CallFormVersion.fields)
        .where(CallFormVersion.call_id.in_({c for c, _ in wanted}),
               CallFormVersion.version.in_({v for _, v in wanted})))}
    for pair in wanted:
        known[pair] = found.get(pair)


def forms_of(pairs: Collection[tuple[Call, int]]) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """``form_fields`` of several (call, version) pairs (a list's rows) by (call id,
    version), read in one statement (``read_forms``)."""
    read_forms((call.id, version) for call, version in pairs)
    return {(call.id, version): form_fields(call, version) for call, version in pairs}


def add_challenge(actor: User, call: Call, data: dict[str, Any]) -> Challenge:
    _officer(actor)
    if call.scheme is not Scheme.jiebang:
        raise Conflict("只有揭榜挂帅批次可以发布榜单", code="not_jiebang")
    if not editable(call):
        raise Conflict(f"指南当前为“{call.state.label}”，不能再增加榜单", code="invalid_state")
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key, parse in CHALLENGE_PARSERS.items():
        if key not in data:
            if key in ("title", "ceiling", "indicators"):
                errors[key] = "必填"
            continue
        try:
            values[key] = parse(data[key])
        except FieldError as err:
            errors[key] = str(err)
    try:
        uscc = check_uscc(str(data.get("demand_org_uscc", "")))
        org = db.session.scalar(sa.select(Organization).where(Organization.uscc == uscc))
        if org is None:
            errors["demand_org_uscc"] = "发榜单位尚未登记，请先登记该单位"
        else:
            values["demand_org_id"] = org.id
    except FieldError as err:
        errors["demand_org_uscc"] = str(err)
    if errors:
        raise Invalid("榜单信息有误", details=errors)
    challenge = Challenge(call_id=call.id, **values)
    db.session.add(challenge)
    db.session.flush()
    audit.record(call, "call", "add_challenge", actor, "officer", call.state.value,
                 call.state.value, data={"challenge_id": challenge.id, "title": challenge.title})
    return challenge


CHALLENGE_PARSERS: dict[str, Any] = {
    "title": lambda v: _text(v, 200, "榜单名称"),
    "description": lambda v: str(v or "")[:20000],
    "ceiling": lambda v: _positive_wan(v, "榜额"),
    "duration_months": lambda v: _int(v, 1, 120, "实施周期（月）"),
    "max_teams": lambda v: _int(v, 1, 10, "赛马团队数"),
    "indicators": lambda v: _indicators(v),
    "milestone_template": lambda v: _milestones(v),
}
# Every field a challenge takes (the API refuses any other).
CHALLENGE_FIELDS = (*CHALLENGE_PARSERS, "demand_org_uscc")


def _indicators(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise FieldError("至少需要一项攻关指标")
    out = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict) or not str(item.get("name", "")).strip() or \
                not str(item.get("target", "")).strip():
            raise FieldError(f"第{i}项攻关指标需要名称和目标值")
        out.append({"name": check_line(str(item["name"]).strip(), f"第{i}项攻关指标的名称"),
                    "target": str(item["target"]).strip()})
    return out


def _milestones(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise FieldError("至少需要一个里程碑")
    out, total = [], 0
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict) or not str(item.get("label", "")).strip():
            raise FieldError(f"第{i}个里程碑需要名称")
        percent = _int(item.get("percent"), 1, 100, f"第{i}个里程碑的拨付比例")
        total += percent
        out.append({"label": check_line(str(item["label"]).strip(), f"第{i}个里程碑的名称"),
                    "percent": percent})
    if total != 100:
        raise FieldError(f"里程碑拨付比例之和应为100%（当前为{total}%）")
    return out


def open_calls(now: datetime | None = None) -> list[Call]:
    now = now or utcnow()
    return list(db.session.scalars(sa.select(Call).where(
        Call.state == CallState.published, Call.opens_at <= now, Call.closes_at > now
    ).order_by(Call.closes_at)))


def attach_guide(actor: User, call: Call, filename: str, stream: IO[bytes]) -> Attachment:
    """A guide document (指南附件) of the call, checked like any upload."""
    from workflow.core.files import save_upload

    _officer(actor)
    if not editable(call):
        raise Conflict(f"指南当前为“{call.state.label}”，不能再上传附件", code="invalid_state")
    row = save_upload(actor, filename, stream, "guide", call_id=call.id)
    audit.record(call, "call", "attach_guide", actor, "officer", call.state.value,
                 call.state.value, data={"file": row.filename, "sha256": row.sha256})
    return row


def guide_attachments(call: Call) -> list[Attachment]:
    return guide_attachments_of([call.id]).get(call.id, [])


def guide_attachments_of(call_ids: list[int]) -> dict[int, list[Attachment]]:
    """The guide documents of several calls at once (a list of calls), by call id."""
    out: dict[int, list[Attachment]] = {}
    if not call_ids:
        return out
    for row in db.session.scalars(sa.select(Attachment).where(
            Attachment.call_id.in_(call_ids), Attachment.field == "guide")
            .order_by(Attachment.id)):
        out.setdefault(row.call_id or 0, []).append(row)
    return out


def guide_attachment(call: Call, attachment_id: int) -> Attachment | None:
    """One guide document of ``call`` (None when it is not one of its own)."""
    row = db.session.get(Attachment, attachment_id)
    return row if row is not None and row.call_id == call.id else None
