"""``/api/v1/calendar``: the holiday calendar (节假日安排) and how periods are counted; read
by anyone signed in, kept by the system administrator."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, typed_body
from workflow.api.openapi import document
from workflow.holidays import operations as holidays
from workflow.holidays.models import SOURCES

DAY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "date": {"type": "string", "format": "date"},
    "is_working_day": {"type": "boolean",
                       "description": "true：调休上班（周末上班）；false：放假"},
    "name": {"type": "string", "description": "所属节日，如 国庆节（不超过20字）"}},
    "required": ["date", "is_working_day", "name"]}
YEAR_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "year": {"type": "integer"},
    "known": {"type": "boolean",
              "description": "是否已有该年的放假和调休安排；未知年份不计算工作日"},
    "source": {"type": "string", "nullable": True,
               "description": "来源：" + "；".join(f"{k}（{v}）" for k, v in SOURCES.items())},
    "note": {"type": "string", "nullable": True, "description": "依据（如国务院办公厅通知文号）"},
    "entered_at": {"type": "string", "format": "date-time", "nullable": True},
    "holidays": {"type": "integer", "description": "放假天数（含节日中的周末）"},
    "workdays": {"type": "integer", "description": "调休上班天数"}},
    "required": ["year", "known", "source", "note", "entered_at", "holidays", "workdays"]}
YEAR_DAYS_SCHEMA: dict[str, Any] = {**YEAR_SCHEMA, "properties": {
    **YEAR_SCHEMA["properties"], "days": {"type": "array", "items": DAY_SCHEMA}}}
CALENDAR_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "opening_day_counts": {"type": "boolean",
                           "description": "期限（如公示期）是否自发布当日起算：false 为自次日起算"},
    "years": {"type": "array", "items": YEAR_SCHEMA}},
    "required": ["opening_day_counts", "years"]}
YEAR_BODY: dict[str, Any] = {
    "days": {"type": "array", "items": DAY_SCHEMA,
             "description": "该年的全部放假日期（含节日中的周末）和调休上班日；"
                            "替换该年原有的安排。未列出的日期按周一至周五上班、周末休息计算"},
    "note": {"type": "string",
             "description": "依据，如国务院办公厅关于该年部分节假日安排的通知文号"},
}
SETTINGS_BODY: dict[str, Any] = {
    "opening_day_counts": {"type": "boolean",
                           "description": "true：发布当日计入期限；false：自次日起算（默认）"}}


def _year_json(year: int, row: Any, holidays_n: int, workdays_n: int) -> dict[str, Any]:
    return {"year": year, "known": row is not None,
            "source": row.source if row is not None else None,
            "note": row.note if row is not None else None,
            "entered_at": row.entered_at.isoformat() if row is not None else None,
            "holidays": holidays_n, "workdays": workdays_n}


def _calendar_json() -> dict[str, Any]:
    return {"opening_day_counts": holidays.settings().opening_day_counts,
            "years": [_year_json(s.year, s.row, s.holidays, s.workdays)
                      for s in holidays.overview()]}


def _schedule_json(year: int) -> dict[str, Any]:
    found = holidays.schedule(year)
    return {**_year_json(year, found.row, len(found.holidays), len(found.workdays)),
            "days": [d.as_json() for d in found.days]}


@api_bp.get("/v1/calendar")
@document("节假日安排：计算期限的规则，及已录入的年份（另含今年和明年，未录入的标明 known=false）",
          response=CALENDAR_SCHEMA, responses={200: "节假日安排"})
@token_required
def calendar() -> Response:
    return jsonify(_calendar_json())


@api_bp.patch("/v1/calendar")
@document("设置期限的计算规则（系统管理员）：发布当日是否计入；只影响此后开始的期限",
          body=SETTINGS_BODY, required=("opening_day_counts",), response=CALENDAR_SCHEMA,
          responses={200: "已保存", 403: "不是系统管理员", 422: "字段有误"})
@token_required
def set_calendar() -> Response:
    body = typed_body(SETTINGS_BODY)
    holidays.set_counting(current_api_user(), body.get("opening_day_counts"),
                          request.remote_addr)
    return jsonify(_calendar_json())


@api_bp.get("/v1/calendar/<int:year>")
@document("某一年的放假和调休安排（未录入的年份 known=false、days 为空）",
          response=YEAR_DAYS_SCHEMA, responses={200: "该年安排", 422: "年份应在2000至2100之间"})
@token_required
def calendar_year(year: int) -> Response:
    return jsonify(_schedule_json(holidays.check_year(year)))


@api_bp.put("/v1/calendar/<int:year>")
@document("录入或更正某一年的放假和调休安排（系统管理员）：以国务院办公厅公布的安排为准，"
          "替换该年原有的安排；留有审计记录",
          body=YEAR_BODY, required=("days",), response=YEAR_DAYS_SCHEMA,
          responses={200: "已保存", 403: "不是系统管理员", 422: "日期有误（逐项说明）"})
@token_required
def put_calendar_year(year: int) -> Response:
    body = typed_body(YEAR_BODY)
    days = holidays.parse_days(body.get("days"))
    holidays.enter_year(current_api_user(), holidays.check_year(year), days,
                        str(body.get("note") or ""), request.remote_addr)
    return jsonify(_schedule_json(year))
