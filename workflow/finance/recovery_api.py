"""``/api/v1``: recoveries (追回) and their instalments, and the reviews a sanction after
funding opens. Their transitions (notify, write_off; continue, terminate, revoke) are
fired through ``/recoveries/{id}/transitions`` and ``/sanction-reviews/{id}/transitions``
(workflow/workbench/api.py)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, jsonify, request

from forms import format_wan
from states import RecoveryState, SanctionReviewState
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, json_body, page_schema
from workflow.api.openapi import DATE, DATE_TIME, WAN, XLSX, document, enum, nullable
from workflow.core import engine
from workflow.core.errors import Conflict, Invalid, NotFound
from workflow.core.models import db
from workflow.finance import recovery as recoveries
from workflow.finance import sanctions
from workflow.finance.models import Recovery, RecoveryInstalment, SanctionReview
from workflow.finance.operations import capital
from workflow.finance.recovery_lists import RECOVERIES, SANCTION_REVIEWS
from workflow.permissions import allow, money_reader
from workflow.web.listing import api_page, api_params

YUAN: dict[str, Any] = {"type": "string", "pattern": r"^\d+\.\d{2}$",
                        "description": "金额（元），精确到分"}
INSTALMENT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "key": {"type": "string", "description": "到账流水号"},
    "amount_wan": WAN, "amount_yuan": YUAN, "paid_on": DATE, "recorded_at": DATE_TIME,
    "ledger_seq": nullable("integer", description="对应的预算台账分录序号")},
    "required": ["id", "key", "amount_wan", "amount_yuan", "paid_on", "recorded_at",
                 "ledger_seq"]}
RECOVERY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "application_id": {"type": "integer"},
    "project_number": nullable("string"), "project": {"type": "string"},
    "organization": {"type": "string"},
    "reason": {"type": "string", "description": "追回事由（项目终止、验收不通过、撤销立项…）"},
    "amount_wan": WAN, "amount_yuan": YUAN,
    "amount_capital": {"type": "string", "description": "应追回金额大写"},
    "repaid_wan": WAN, "outstanding_wan": WAN, "outstanding_yuan": YUAN,
    "due_on": {**DATE, "description": "还款期限"},
    "overdue": {"type": "boolean", "description": "已逾期督办"},
    "state": enum(RecoveryState), "state_label": {"type": "string"},
    "version": {"type": "integer"},
    "notified_at": nullable(DATE_TIME), "doc_number": nullable(
        "string", description="追回通知的发文字号（尚未印发为 null）")},
    "required": ["id", "application_id", "project_number", "project", "organization",
                 "reason", "amount_wan", "amount_yuan", "amount_capital", "repaid_wan",
                 "outstanding_wan", "outstanding_yuan", "due_on", "overdue", "state",
                 "state_label", "version", "notified_at", "doc_number"]}
RECOVERY_DETAIL_SCHEMA: dict[str, Any] = {
    "type": "object", "properties": {
        **RECOVERY_SCHEMA["properties"],
        "instalments": {"type": "array", "items": INSTALMENT_SCHEMA}},
    "required": [*RECOVERY_SCHEMA["required"], "instalments"]}
INSTALMENT_BODY: dict[str, Any] = {
    "amount_wan": {"type": "string", "description": "本次归还金额（万元，大于零，不超过尚欠金额）"},
    "key": {"type": "string", "maxLength": 100,
            "description": "到账流水号：同一追回的同一流水号只入账一次，重复提交返回已登记的那笔"},
    "paid_on": {**DATE, "description": "到账日期 YYYY-MM-DD，不晚于今天"},
}
INSTALMENT_RESULT: dict[str, Any] = {"type": "object", "properties": {
    "instalment": INSTALMENT_SCHEMA, "recovery": RECOVERY_SCHEMA,
    "replayed": {"type": "boolean",
                 "description": "该流水号此前已登记：未再次入账，返回原记录"}},
    "required": ["instalment", "recovery", "replayed"]}
REVIEW_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "application_id": {"type": "integer"},
    "project_number": nullable("string"), "project": {"type": "string"},
    "project_state": {"type": "string"},
    "subject": {"type": "string",
                "description": "失信对象在本项目中的身份（项目负责人、项目组成员、承担单位）"},
    "sanction": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "reason": {"type": "string"},
        "starts_on": DATE, "ends_on": DATE,
        "measures": {"type": "array", "items": {"type": "string"}}},
        "required": ["id", "name", "reason", "starts_on", "ends_on", "measures"]},
    "held_tranche_ids": {"type": "array", "items": {"type": "integer"},
                         "description": "本复核暂停拨付的拨付批次"},
    "state": enum(SanctionReviewState), "state_label": {"type": "string"},
    "version": {"type": "integer"}},
    "required": ["id", "application_id", "project_number", "project", "project_state",
                 "subject", "sanction", "held_tranche_ids", "state", "state_label",
                 "version"]}


def _yuan(amount: Any) -> str:
    return f"{amount:.2f}"


def instalment_json(i: RecoveryInstalment) -> dict[str, Any]:
    from workflow.finance.models import LedgerEntry

    seq = db.session.scalar(sa.select(LedgerEntry.seq).where(
        LedgerEntry.id == i.ledger_entry_id)) if i.ledger_entry_id else None
    return {"id": i.id, "key": i.key, "amount_wan": format_wan(i.amount),
            "amount_yuan": _yuan(i.amount), "paid_on": i.paid_on.isoformat(),
            "recorded_at": i.recorded_at.isoformat(), "ledger_seq": seq}


_UNREAD: Any = object()


def notice_numbers(rows: list[Recovery]) -> dict[int, str | None]:
    """The 追回通知's number of each recovery (None until issued): one query for a page."""
    from workflow.core.models import IssuedNumber

    out: dict[int, str | None] = {r.id: None for r in rows}
    if out:
        for entity_id, number in db.session.execute(sa.select(
                IssuedNumber.entity_id, IssuedNumber.number).where(
                IssuedNumber.kind == "recovery_notice", IssuedNumber.entity_type == "recovery",
                IssuedNumber.entity_id.in_(list(out)))):
            out[entity_id] = number
    return out


def recovery_json(r: Recovery, number: Any = _UNREAD) -> dict[str, Any]:
    """``number``: the notice's number, when the caller read it (``notice_numbers``)."""
    from workflow.core import numbering

    app = r.application
    if number is _UNREAD:
        issued = numbering.issued("recovery_notice", "recovery", r.id)
        number = issued.number if issued is not None else None
    return {"id": r.id, "application_id": app.id, "project_number": app.project_number,
            "project": app.title, "organization": app.organization.name,
            "reason": r.reason, "amount_wan": format_wan(r.amount),
            "amount_yuan": _yuan(r.amount), "amount_capital": capital(r.amount),
            "repaid_wan": format_wan(r.repaid), "outstanding_wan": format_wan(r.outstanding),
            "outstanding_yuan": _yuan(r.outstanding), "due_on": r.due_on.isoformat(),
            "overdue": r.state is RecoveryState.overdue, "state": r.state.value,
            "state_label": r.state.label, "version": r.version,
            "notified_at": r.notified_at.isoformat() if r.notified_at else None,
            "doc_number": number}


def detail_json(r: Recovery) -> dict[str, Any]:
    return {**recovery_json(r), "instalments": [instalment_json(i) for i in r.instalments]}


def review_json(r: SanctionReview) -> dict[str, Any]:
    app, s = r.application, r.sanction
    return {"id": r.id, "application_id": app.id, "project_number": app.project_number,
            "project": app.title, "project_state": app.state.label, "subject": r.subject,
            "sanction": {"id": s.id, "name": s.name, "reason": s.reason,
                         "starts_on": s.starts_on.isoformat(),
                         "ends_on": s.ends_on.isoformat(), "measures": list(s.measures or [])},
            "held_tranche_ids": [int(i) for i in r.held_tranche_ids or []],
            "state": r.state.value, "state_label": r.state.label, "version": r.version}


@api_bp.get("/v1/recoveries")
@document("经费追回（财务、项目主管、领导、审计：全部；承担单位的申报人和单位管理员：本单位项目的），"
          "与追回台账页相同的搜索、筛选、排序和导出",
          params=api_params(RECOVERIES), media=XLSX, response=page_schema(RECOVERY_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"})
@token_required
def list_recoveries() -> Response:
    user = current_api_user()
    def items(rows: list[Recovery]) -> list[dict[str, Any]]:
        numbers = notice_numbers(rows)
        return [recovery_json(r, numbers[r.id]) for r in rows]

    return api_page(RECOVERIES, user, items)


@api_bp.get("/v1/recoveries/<int:recovery_id>")
@document("一项经费追回及其每笔归还款（可执行的操作见 /transitions）",
          response=RECOVERY_DETAIL_SCHEMA,
          responses={200: "追回及归还记录", 404: "不存在或无权查看"})
@token_required
def get_recovery(recovery_id: int) -> Response:
    return jsonify(detail_json(recoveries.load_visible(current_api_user(), recovery_id)))


@api_bp.post("/v1/recoveries/<int:recovery_id>/instalments")
@document("财务登记一笔归还款：记入预算台账（追回分录，关联本追回）；超过尚欠金额的拒绝；"
          "同一流水号只入账一次（重复提交返回 200 和原记录，replayed 为 true）；还清即结案",
          body=INSTALMENT_BODY, required=tuple(INSTALMENT_BODY), response=INSTALMENT_RESULT,
          responses={200: "该流水号已登记过（未重复入账）", 201: "已登记",
                     403: "不是财务人员", 404: "不存在或无权查看",
                     409: "状态不符（未发追回通知、已结案）或版本不符",
                     422: "金额、流水号或日期有误，或超过尚欠金额（逐项说明）"})
@token_required
def add_instalment(recovery_id: int) -> tuple[Response, int]:
    user = current_api_user()
    recoveries.load_visible(user, recovery_id)
    body = json_body(INSTALMENT_BODY)
    bad = {k: "应为字符串" for k in INSTALMENT_BODY if not isinstance(body.get(k, ""), str)}
    if bad:
        raise Invalid("请求字段有误", details=bad)
    row: Recovery = engine.load("recovery", recovery_id, lock=True)
    key = str(body.get("key") or "").strip()
    found = recoveries.instalment_by_key(row.id, key) if key else None
    if found is not None:
        allow(user.has_role("finance"), "只有财务人员可以登记归还款")
        if found.amount != recoveries.parse_instalment(body)[0]:
            raise Conflict(f"流水号 {key} 已登记为 {format_wan(found.amount)} 万元，金额不符",
                           code="instalment_key_reused")
        return jsonify({"instalment": instalment_json(found), "recovery": recovery_json(row),
                        "replayed": True}), 200
    engine.fire(row, "receive", user, ip=request.remote_addr,
                data={k: body[k] for k in INSTALMENT_BODY if body.get(k) is not None})
    made = recoveries.instalment_by_key(row.id, key)
    if made is None:  # (the guard checked it; the effect made it)
        raise NotFound("归还款未登记")
    return jsonify({"instalment": instalment_json(made), "recovery": recovery_json(row),
                    "replayed": False}), 201


def _review(review_id: int) -> SanctionReview:
    row = db.session.get(SanctionReview, review_id)
    if row is None or not sanctions.can_view_review(current_api_user(), row):
        raise NotFound("失信复核不存在或无权查看")
    return row


@api_bp.get("/v1/sanction-reviews")
@document("失信复核（财务、项目主管、领导、审计）：科研失信名单涉及在研项目时暂停拨付并待复核；"
          "与失信复核页相同的搜索、筛选、排序和导出，分页给出",
          params=api_params(SANCTION_REVIEWS), media=XLSX, response=page_schema(REVIEW_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 403: "无权查看", 422: "参数有误"})
@token_required
def list_reviews() -> Response:
    user = current_api_user()
    allow(money_reader(user), "只有财务和项目主管、领导、审计人员可以查看失信复核")
    return api_page(SANCTION_REVIEWS, user, lambda rows: [review_json(r) for r in rows])


@api_bp.get("/v1/sanction-reviews/<int:review_id>")
@document("一项失信复核（继续执行 continue、终止 terminate、撤销立项 revoke：POST "
          "/api/v1/sanction-reviews/{id}/transitions）",
          response=REVIEW_SCHEMA, responses={200: "失信复核", 404: "不存在或无权查看"})
@token_required
def get_review(review_id: int) -> Response:
    return jsonify(review_json(_review(review_id)))
