"""The call builder (指南编辑): new and edit pages, copy last year's guide, export and import
a call as a JSON file, and the live preview of the applicant's form.

The page edits the call as the API does: the structured settings (the application form,
the rubric, the tranche plan, the checklist) travel as JSON in named inputs, which
``templates/static/js/call-builder.js`` fills from its controls; without JavaScript the
officer may type the JSON. Either way the services check it (``operations.parse_call``),
and every error shows beside its field at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from forms import format_wan, parse_id
from forms.schema import FIELD_ROLES, FIELD_TYPES, OPTION_KEYS, TYPE_NAMES, validate_schema
from states import STEPS, CallState
from workflow.calls import operations as calls
from workflow.calls.models import AggregationRule, Call
from workflow.calls.rules import call_complete
from workflow.calls.visibility import calls_query
from workflow.core.actions import leaves
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, ServiceError
from workflow.core.models import db, utcnow
from workflow.core.rules import GuardContext
from workflow.permissions import allow, call_keeper, found

bp = Blueprint("calls", __name__)

# What the call's edit page answers of its publication's guard (call_complete).
CALL_FORM_ANSWERS = frozenset({"title_missing", "guide_missing", "budget_missing",
                               "opens_missing", "closes_missing", "dates_invalid",
                               "closes_in_past", "form_missing", "rubric_invalid",
                               "no_challenges"})
# Where the edit page takes what each of call_complete's reasons asks for.
PUBLISH_FIELDS = {
    "title_missing": "title", "guide_missing": "guide", "budget_missing": "budget",
    "opens_missing": "opens_at", "closes_missing": "closes_at", "dates_invalid": "closes_at",
    "closes_in_past": "closes_at", "form_missing": "form_schema", "rubric_invalid": "rubric",
}
# Typed on the page as they are; a blank optional setting keeps its value.
PLAIN_FIELDS = ("title", "scheme", "year", "guide", "opens_at", "closes_at", "budget")
OPTIONAL_FIELDS = ("reviewers_per_application", "aggregation", "notice_days",
                   "max_running_projects", "concluded_rule")
# Sent as JSON (what the builder writes, or what the officer typed without JavaScript).
JSON_FIELDS = ("form_schema", "rubric", "tranche_plan", "checklist")
# Settings a person chooses, with what the page calls them.
AGGREGATIONS = {AggregationRule.trimmed.value: "5人及以上去掉最高分和最低分后平均",
                AggregationRule.mean.value: "算术平均", AggregationRule.median.value: "中位数"}
STEP_HELP = {"unit_review": "申报书提交后先由申报单位审核",
             "recommendation": "单位审核后由主管部门推荐",
             "defence": "专家评审后组织答辩", "midterm": "项目执行期间开展中期检查"}
# The largest call file taken for import (a call with a long form is a few dozen KB).
IMPORT_MAX_BYTES = 1024 * 1024
# Calls offered for copying on the new-call page.
COPY_CANDIDATES = 12


@dataclass(frozen=True)
class Missing:
    """One thing a call still needs before it is published, and where it is filled in."""

    field: str
    label: str
    message: str
    href: str


def publish_missing(call: Call, *, on_edit_page: bool = False) -> list[Missing]:
    """Everything ``call_complete`` still asks of a draft, by name, each linking to its
    field on the edit page (or, for a 榜单, to where one is published)."""
    if not leaves(call, "publish"):
        return []
    ctx = GuardContext(row=call, actor=current_user, role="officer", comment="", data={},
                       now=utcnow(), trigger="publish")
    edit = "" if on_edit_page else url_for("calls.edit_call", call_id=call.id)
    out = []
    for reason in call_complete(ctx):
        field = PUBLISH_FIELDS.get(reason.code)
        if field is None:  # no_challenges: on the challenge page
            out.append(Missing("challenges", "榜单", reason.message,
                               url_for("applying.new_challenge", call_id=call.id)))
        else:
            out.append(Missing(field, calls.FIELD_LABELS[field], reason.message,
                               f"{edit}#field-{field}"))
    return out


def managed_call(call_id: int) -> Call:
    """A call, for the officer who manages it (404 unseen, 403 seen but not theirs)."""
    call = found(db.session.get(Call, call_id), current_user, can_view, what="申报指南")
    allow(call_keeper(current_user), "只有项目主管可以管理申报指南")
    return call


# ---- the form ---------------------------------------------------------------------------

def _call_form_data() -> tuple[dict[str, Any], dict[str, str]]:
    """The edit page's inputs as the services take them, and the JSON that did not parse."""
    data: dict[str, Any] = {k: request.form[k] for k in PLAIN_FIELDS if k in request.form}
    for key in OPTIONAL_FIELDS:
        if request.form.get(key, "").strip():
            data[key] = request.form[key]
    if "collective_threshold" in request.form:  # blank: no threshold
        data["collective_threshold"] = request.form["collective_threshold"]
    data["notice_working_days"] = request.form.get("notice_working_days") == "on"
    data["hide_applicant"] = request.form.get("hide_applicant") == "on"
    data["tolerate_failure"] = request.form.get("tolerate_failure") == "on"
    if "steps_shown" in request.form:  # (a locked setting is not on the page)
        data["steps"] = request.form.getlist("steps")
    bad_json: dict[str, str] = {}
    for key in JSON_FIELDS:
        raw = request.form.get(key, "").strip()
        if not raw:
            continue
        try:
            data[key] = json.loads(raw)
        except (ValueError, RecursionError):
            bad_json[key] = "不是合法的 JSON，请检查括号、引号和逗号"
    return data, bad_json


def _checked(data: dict[str, Any], bad_json: dict[str, str], partial: bool) -> None:
    """JSON that did not parse is refused with every other error of the form, at once."""
    if not bad_json:
        return
    errors = dict(bad_json)
    try:
        calls.parse_call(data, partial=partial)
    except Invalid as err:
        errors = {**(err.details or {}), **bad_json}
    raise Invalid("指南信息有误", details=errors)


def _posted_form() -> dict[str, Any]:
    """What was typed, to show it again beside the errors."""
    form: dict[str, Any] = {k: v for k, v in request.form.items()}
    if "steps_shown" in request.form:
        form["steps"] = request.form.getlist("steps")
    form["notice_working_days"] = request.form.get("notice_working_days") == "on"
    form["hide_applicant"] = request.form.get("hide_applicant") == "on"
    form["tolerate_failure"] = request.form.get("tolerate_failure") == "on"
    return form


def wan_input(yuan: Decimal | None) -> str:
    """An amount as the officer types it back: 万元 with two decimals, more only where the
    amount has them (saving the page unchanged never rounds it)."""
    if yuan is None:
        return ""
    exact = calls.exact_wan(yuan) or ""
    return exact if len(exact.partition(".")[2]) > 2 else format_wan(yuan)


def call_as_form(call: Call) -> dict[str, Any]:
    from workflow.timeutil import local_time

    return {
        "title": call.title, "scheme": call.scheme.value, "year": call.year,
        "guide": call.guide, "opens_at": local_time(call.opens_at, "%Y-%m-%dT%H:%M"),
        "closes_at": local_time(call.closes_at, "%Y-%m-%dT%H:%M"),
        "budget": wan_input(call.budget), "reviewers_per_application":
        call.reviewers_per_application, "aggregation": call.aggregation.value,
        "notice_days": call.notice_days, "notice_working_days": call.notice_working_days,
        "collective_threshold": wan_input(call.collective_threshold),
        "max_running_projects": call.max_running_projects,
        "hide_applicant": call.hide_applicant, "steps": list(call.steps or []),
        "concluded_rule": call.concluded_rule, "tolerate_failure": call.tolerate_failure,
        "form_schema": _json_text(call.form_schema or []),
        "rubric": _json_text(call.rubric or []),
        "tranche_plan": _json_text(call.tranche_plan or []),
        "checklist": _json_text(calls.checklist_input(call)),
    }


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)


NEW_FORM: dict[str, Any] = {"scheme": "baogan", "notice_working_days": True, "steps": [],
                            "aggregation": AggregationRule.trimmed.value}


def _locked(call: Call | None) -> frozenset[str]:
    """What the page shows but cannot change: once published, what researchers rely on."""
    if call is None or call.state is not CallState.published:
        return frozenset()
    return frozenset(set(calls.FIELD_LABELS) - calls.EDITABLE_WHEN_PUBLISHED)


def _render(call: Call | None, form: dict[str, Any], errors: dict[str, str],
            status: int = 200, import_errors: dict[str, str] | None = None
            ) -> tuple[str, int]:
    return render_template(
        "calls/edit.html", call=call, form=form, errors=errors,
        missing=publish_missing(call, on_edit_page=True) if call else [],
        draft=call is not None and leaves(call, "publish"),
        locked=_locked(call), builder=builder_settings(),
        preview=preview_items(form.get("form_schema") or "[]"),
        sources=[] if call else copy_candidates(), import_errors=import_errors or {},
        steps=STEPS, step_help=STEP_HELP, aggregations=AGGREGATIONS,
        labels=calls.FIELD_LABELS, this_year=calls.this_year(),
    ), status


def builder_settings() -> dict[str, Any]:
    """What the builder offers, from the rules it serves (one place for both)."""
    return {"types": [{"value": t, "label": TYPE_NAMES[t], "keys": sorted(OPTION_KEYS[t])}
                      for t in FIELD_TYPES],
            "conditions": [{"value": k, "label": v}
                           for k, v in calls.TRANCHE_CONDITIONS.items()],
            "roles": [{"value": name, "types": list(types), "label": label, "expected": expected}
                      for name, (types, label, expected) in FIELD_ROLES.items()]}


def copy_candidates() -> list[Call]:
    """The calls a new one may start from: last year's first, then the most recent."""
    last_year = calls.this_year() - 1
    rows = db.session.scalars(
        calls_query(current_user).where(Call.state != CallState.draft)
        .order_by(sa.case((Call.year == last_year, 0), else_=1), Call.year.desc(),
                  Call.id.desc()).limit(COPY_CANDIDATES))
    return list(rows)


@bp.route("/calls/new", methods=["GET", "POST"])
@login_required
def new_call() -> Response | tuple[str, int]:
    allow(call_keeper(current_user), "只有项目主管可以新建申报指南")
    if request.method == "POST":
        try:
            data, bad_json = _call_form_data()
            _checked(data, bad_json, partial=False)
            with db.session.begin_nested():
                call = calls.create_call(current_user, data)
            flash("指南已保存为草稿", "info")
            return redirect(url_for("entities.show", collection="calls", entity_id=call.id))
        except ServiceError as err:
            flash(err.message, "error")
            errors = err.details if isinstance(err.details, dict) else {}
            return _render(None, _posted_form(), errors, err.status)
    return _render(None, dict(NEW_FORM), {})


@bp.route("/calls/<int:call_id>/edit", methods=["GET", "POST"])
@login_required
def edit_call(call_id: int) -> Response | tuple[str, int]:
    call = managed_call(call_id)
    if request.method == "POST":
        try:
            data, bad_json = _call_form_data()
            _checked(data, bad_json, partial=True)
            with db.session.begin_nested():
                calls.update_call(current_user, call, data,
                                  parse_id(request.form.get("version", "")))
            flash("指南已更新", "info")
            return redirect(url_for("entities.show", collection="calls", entity_id=call.id))
        except ServiceError as err:
            flash(err.message, "error")
            errors = err.details if isinstance(err.details, dict) else {}
            db.session.expire_all()
            call = managed_call(call_id)
            # What was typed, over what the page could not send (its locked settings).
            return _render(call, {**call_as_form(call), **_posted_form()}, errors, err.status)
    return _render(call, call_as_form(call), {})


# ---- copy, export, import ----------------------------------------------------------------

@bp.route("/calls/<int:call_id>/copy", methods=["POST"])
@login_required
def copy_call(call_id: int) -> Response:
    source = managed_call(call_id)
    try:
        with db.session.begin_nested():
            call = calls.copy_call(current_user, source)
    except ServiceError as err:
        flash(f"未能复制：{err.message}", "error")
        return redirect(url_for("entities.show", collection="calls", entity_id=call_id))
    flash(f"已将“{source.title}”复制为新草稿，请核对后填写申报时间", "info")
    return redirect(url_for("calls.edit_call", call_id=call.id))


@bp.route("/calls/<int:call_id>/export")
@login_required
def export_call(call_id: int) -> Response:
    import io

    call = managed_call(call_id)
    body = json.dumps(calls.export_call(call), ensure_ascii=False, indent=2)
    return send_file(io.BytesIO(body.encode("utf-8")), mimetype="application/json",
                     as_attachment=True, download_name=f"申报指南-{call.year}-{call.id}.json")


@bp.route("/calls/import", methods=["POST"])
@login_required
def import_call() -> Response | tuple[str, int]:
    allow(call_keeper(current_user), "只有项目主管可以新建申报指南")
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise Invalid("请选择要导入的指南文件（.json）", details={"file": "请选择文件"})
        raw = upload.stream.read(IMPORT_MAX_BYTES + 1)
        if len(raw) > IMPORT_MAX_BYTES:
            raise Invalid("指南文件过大（不超过1MB）", details={"file": "文件过大"})
        try:
            document = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError) as err:
            raise Invalid("指南文件不是合法的 JSON（请上传本系统导出的文件）",
                          details={"file": "不是合法的 JSON"}) from err
        with db.session.begin_nested():
            call = calls.import_call(current_user, document)
    except ServiceError as err:
        flash(f"未能导入：{err.message}", "error")
        details = err.details if isinstance(err.details, dict) else {}
        return _render(None, dict(NEW_FORM), {}, err.status,
                       import_errors={k: str(v) for k, v in details.items()}
                       or {"file": err.message})
    flash(f"已导入为新草稿：{call.title}，请核对后填写申报时间", "info")
    return redirect(url_for("calls.edit_call", call_id=call.id))


# ---- the live preview ----------------------------------------------------------------------

def preview_items(raw: Any) -> dict[str, Any]:
    """The form as the applicant will see it: each field rendered by the application
    page's own macro; a field not yet complete is named with what it still lacks."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            return {"items": [], "problem": "表单定义不是合法的 JSON"}
    if not isinstance(raw, list):
        return {"items": [], "problem": "表单定义应为字段列表"}
    items = []
    for index, fld in enumerate(raw, 1):
        problems = [p.split("：", 1)[-1] for p in validate_schema([fld])]
        label = fld.get("label") if isinstance(fld, dict) else None
        items.append({"index": index, "field": None if problems else fld,
                      "label": label if isinstance(label, str) and label.strip() else "",
                      "problems": problems})
    return {"items": items, "problem": None}


@bp.route("/calls/form-preview", methods=["POST"])
@login_required
def form_preview() -> str:
    allow(call_keeper(current_user), "只有项目主管可以管理申报指南")
    return render_template("calls/_form_preview.html",
                           preview=preview_items(request.form.get("form_schema", "[]")))
