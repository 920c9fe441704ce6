"""``/api/v1``: tranches, the budget ledger and its reconciliation, milestones, the
final acceptance and the payee's bank account."""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from flask import Response, jsonify, request, url_for

from forms import format_wan, parse_id
from states import MilestoneState, TrancheState
from workflow.accounts.models import Organization
from workflow.accounts.operations import visible_organization
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, json_body, page_schema, typed_body
from workflow.api.openapi import DATE, DATE_TIME, WAN, XLSX, document, enum, items_of, nullable
from workflow.applying.api import _readable
from workflow.applying.models import Application
from workflow.applying.visibility import applications_query, can_read_application
from workflow.calls.models import Call
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, NotFound
from workflow.core.listing import API_MAX_PER_PAGE, API_PER_PAGE
from workflow.core.models import db
from workflow.finance import ledger
from workflow.finance import operations as finance
from workflow.finance.lists import TRANCHES, ledger_of
from workflow.finance.models import LedgerEntry, Milestone, Tranche
from workflow.finance.models.ledger import EntryKind
from workflow.finance.sanctions import hold_texts
from workflow.permissions import allow, found, money_reader, stage_gate_keeper
from workflow.web.listing import api_page, api_params, checked, export


def entry_json(e: LedgerEntry) -> dict[str, Any]:
    return {"seq": e.seq, "at": e.at.isoformat(), "kind": e.kind.value, "kind_label":
            e.kind.label, "amount_wan": format_wan(e.amount),
            "application_id": e.application_id, "tranche_id": e.tranche_id, "ref": e.ref,
            "memo": e.memo, "available_after_wan": format_wan(e.available_after),
            "committed_after_wan": format_wan(e.committed_after),
            "disbursed_after_wan": format_wan(e.disbursed_after)}


def milestone_json(m: Milestone) -> dict[str, Any]:
    return {"id": m.id, "seq": m.seq, "label": m.label, "amount_wan": format_wan(m.amount),
            "due_on": m.due_on.isoformat(), "state": m.state.value,
            "state_label": m.state.label, "report": m.report,
            "evidence": list(m.evidence or []),
            "demand_verdict": m.demand_verdict, "officer_verdict": m.officer_verdict,
            "rejections": m.rejections, "version": m.version}


ENTRY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "seq": {"type": "integer"}, "at": DATE_TIME, "kind": enum(EntryKind, "、".join(
        f"{k.value}（{k.label}）" for k in EntryKind)), "kind_label": {"type": "string"},
    "amount_wan": WAN, "application_id": nullable("integer"),
    "tranche_id": nullable("integer"), "ref": {"type": "string"}, "memo": {"type": "string"},
    "available_after_wan": WAN, "committed_after_wan": WAN, "disbursed_after_wan": WAN},
    "required": ["seq", "at", "kind", "kind_label", "amount_wan", "application_id",
                 "tranche_id", "ref", "memo", "available_after_wan", "committed_after_wan",
                 "disbursed_after_wan"]}
CALL_RECONCILIATION_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "call_id": {"type": "integer"}, "title": {"type": "string"}, "year": {"type": "integer"},
    "budget_wan": WAN, "entries": {"type": "integer", "description": "分录条数"},
    "totals_wan": {"type": "object", "description": "按分录类别的合计（万元）",
                   "properties": {k.value: WAN for k in EntryKind}},
    "available_wan": WAN, "committed_wan": WAN, "disbursed_wan": WAN,
    "ok": {"type": "boolean", "description": "账实相符"},
    "problems": {"type": "array", "items": {"type": "string"}}},
    "required": ["call_id", "title", "year", "budget_wan", "entries", "totals_wan",
                 "available_wan", "committed_wan", "disbursed_wan", "ok", "problems"]}
RECONCILIATION_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "year": nullable("integer"),
    "ok": {"type": "boolean", "description": "所选年度（或全部年度）的每个指南都账实相符"},
    "calls": {"type": "array", "items": CALL_RECONCILIATION_SCHEMA,
              "description": "本页的指南（按 id 排序）"},
    "total": {"type": "integer", "description": "指南总数"},
    "page": {"type": "integer"}, "per_page": {"type": "integer"},
    "pages": {"type": "integer"},
    "problems": {"type": "integer", "description": "对账不一致的指南数（全部页）"},
    "budget_wan": {**WAN, "description": "全部指南的预算合计"},
    "entries": {"type": "integer", "description": "全部指南的分录条数"},
    "totals_wan": {"type": "object", "description": "全部指南按分录类别的合计（万元）",
                   "properties": {k.value: WAN for k in EntryKind}}},
    "required": ["year", "ok", "calls", "total", "page", "per_page", "pages", "problems",
                 "budget_wan", "entries", "totals_wan"]}
BALANCES_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "available_wan": WAN, "committed_wan": WAN, "disbursed_wan": WAN},
    "required": ["available_wan", "committed_wan", "disbursed_wan"]}
LEDGER_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "call_id": {"type": "integer"}, "budget_wan": WAN,
    "entries": {"type": "array", "items": ENTRY_SCHEMA,
                "description": "本页分录：按序号升序（dir=desc 时降序），每页 per_page 条"},
    "total": {"type": "integer", "description": "台账的分录总数"},
    "per_page": {"type": "integer"},
    "dir": {"type": "string", "enum": ["asc", "desc"]},
    "next": nullable("string", description="下一页的地址（after 或 before 为本页最后一条的序号）；"
                     "已是最后一页为 null"),
    "opening": {**BALANCES_SCHEMA, "description": "本页序号最小的分录之前的余额（期初）"},
    "closing": {**BALANCES_SCHEMA, "description": "本页序号最大的分录之后的余额（期末）"},
    "reconciliation": CALL_RECONCILIATION_SCHEMA},
    "required": ["call_id", "budget_wan", "entries", "total", "per_page", "dir", "next",
                 "opening", "closing", "reconciliation"]}
LEDGER_PER_PAGE = 100
LEDGER_MAX_PER_PAGE = 1000
LEDGER_PARAMS: dict[str, Any] = {
    "after": {"type": "integer", "minimum": 0,
              "description": "从该序号之后读起（升序；上一页 next 中给出）"},
    "before": {"type": "integer", "minimum": 1,
               "description": "从该序号之前读起（降序，最新的在前；dir=desc 的 next 中给出）"},
    "dir": {"type": "string", "enum": ["asc", "desc"],
            "description": "asc：从第一条起（默认）；desc：从最新一条起"},
    "per_page": {"type": "integer", "minimum": 1, "maximum": LEDGER_MAX_PER_PAGE,
                 "description": f"每页条数，默认 {LEDGER_PER_PAGE}，最多 {LEDGER_MAX_PER_PAGE}"}}
VERDICT = {"type": "string", "enum": ["pass", "fail", None], "nullable": True}
MILESTONE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "seq": {"type": "integer"}, "label": {"type": "string"},
    "amount_wan": WAN, "due_on": DATE, "state": enum(MilestoneState),
    "state_label": {"type": "string"}, "report": {"type": "string"},
    "evidence": {"type": "array", "items": {"type": "string"},
                 "description": "佐证材料的 sha256"},
    "demand_verdict": {**VERDICT, "description": "发榜方验收结论"},
    "officer_verdict": {**VERDICT, "description": "项目主管验收结论"},
    "rejections": {"type": "integer", "description": "被退回的次数"},
    "version": {"type": "integer"}},
    "required": ["id", "seq", "label", "amount_wan", "due_on", "state", "state_label",
                 "report", "evidence", "demand_verdict", "officer_verdict", "rejections",
                 "version"]}
TRANCHE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "application_id": {"type": "integer"},
    "project_number": {"type": "string", "nullable": True}, "project": {"type": "string"},
    "seq": {"type": "integer"}, "label": {"type": "string"}, "condition": {"type": "string"},
    "amount_wan": WAN, "amount_capital": {"type": "string", "description": "大写金额"},
    "state": enum(TrancheState),
    "state_label": {"type": "string"}, "version": {"type": "integer"},
    "payment_ref": {"type": "string", "nullable": True},
    "released_at": {"type": "string", "format": "date-time", "nullable": True},
    "integrity_hold": nullable("string", description="暂停拨付的原因（项目负责人、成员或承担单位"
                               "被列入科研失信名单，待项目主管复核）；未暂停为 null"),
    "payee": {"type": "object", "description": "收款单位及账户：制单起为制单时核对并记入"
              "凭证的账户（已拨付的为实际拨付的账户，此后不再改变），制单前为单位当前登记的账户",
              "properties": {
                  "organization": {"type": "string"},
                  "bank_name": {"type": "string", "nullable": True},
                  "bank_account": {"type": "string", "nullable": True}}},
    "payee_on_voucher": {"type": "boolean", "description": "收款账户是否已记入凭证（制单起）"},
    "payee_changed": {
        "type": "object", "nullable": True,
        "description": "已制单（或已审核）后单位的收款账户发生变更：审核、拨付将被拒绝（409），"
                       "须按变更后的账户重新制单；未变更时为 null",
        "properties": {
            "at": {"type": "string", "format": "date-time", "nullable": True},
            "by": {"type": "string", "nullable": True, "description": "变更人"},
            "current": {"type": "object", "description": "单位当前登记的账户", "properties": {
                "organization": {"type": "string"}, "bank_name": {"type": "string"},
                "bank_account": {"type": "string"}}}}}},
    "required": ["id", "application_id", "project_number", "project", "seq", "label",
                 "condition", "amount_wan", "amount_capital", "state", "state_label",
                 "version", "payment_ref", "released_at", "integrity_hold"]}


@api_bp.get("/v1/tranches")
@document("拨付批次（财务、主管、领导、审计：全部，与经费拨付页相同的搜索、筛选、排序和导出；"
          "承担单位：本单位项目的）",
          params=api_params(TRANCHES), media=XLSX, response=page_schema(TRANCHE_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"})
@token_required
def list_tranches() -> Response:
    user = current_api_user()
    base = None
    if not money_reader(user):
        visible = applications_query(user).with_only_columns(Application.id)
        base = sa.select(Tranche).where(Tranche.application_id.in_(visible))
    def items(rows: list[Tranche]) -> list[dict[str, Any]]:
        changes = finance.payee_changes(rows)
        done = (TrancheState.released, TrancheState.cancelled)  # no hold shown
        holds = hold_texts(t.application for t in rows if t.state not in done)
        return [finance.tranche_json(t, change=changes.get(t.id),
                                     hold=holds.get(t.application_id))
                for t in rows]

    return api_page(TRANCHES, user, items, base)


def _whole(name: str, raw: str, low: int, high: int) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10 and low <= int(raw) <= high):
        raise Invalid(f"{name} 无效", details={name: f"应为 {low} 至 {high} 的整数"})
    return int(raw)


def balances_json(b: ledger.Balances) -> dict[str, str]:
    return {"available_wan": format_wan(b.available), "committed_wan": format_wan(b.committed),
            "disbursed_wan": format_wan(b.disbursed)}


@api_bp.get("/v1/budgets/<int:call_id>/ledger")
@document("指南预算台账（分录及余额、对账结果）：按序号分页（after/before 为游标，"
          "next 给出下一页），每页给出期初、期末余额", params=LEDGER_PARAMS, response=LEDGER_SCHEMA,
          responses={200: "台账", 403: "不是财务或项目主管、领导、审计人员",
                     404: "不存在或无权查看", 422: "参数有误"})
@token_required
def budget_ledger(call_id: int) -> Response:
    call = found(db.session.get(Call, call_id), current_api_user(), can_view, what="预算")
    allow(money_reader(current_api_user()), "只有财务和项目主管、领导、审计人员可以查看预算台账")
    args = request.args
    unknown = sorted(set(args) - set(LEDGER_PARAMS))
    if unknown:
        raise Invalid("列表参数有误", details={k: "不接受的参数，可用：" + "、".join(LEDGER_PARAMS)
                                          for k in unknown})
    direction = args.get("dir", "")
    if direction not in ("", "asc", "desc"):
        raise Invalid("dir 无效", details={"dir": "asc 或 desc"})
    after = _whole("after", args["after"], 0, 10**9) if "after" in args else None
    before = _whole("before", args["before"], 1, 10**9) if "before" in args else None
    if after is not None and before is not None:
        raise Invalid("after 与 before 只能给出一个", details={"before": "与 after 不能同时给出"})
    if before is not None and direction == "asc":
        raise Invalid("before 用于降序", details={"before": "升序请用 after"})
    desc = before is not None or direction == "desc"
    if after is not None and desc:
        raise Invalid("after 用于升序", details={"after": "降序（dir=desc）请用 before"})
    per_page = _whole("per_page", args["per_page"], 1, LEDGER_MAX_PER_PAGE) \
        if "per_page" in args else LEDGER_PER_PAGE
    page = ledger.page(call.id, per_page, after=after, before=before, desc=desc)
    nxt = None
    if page.more:
        cursor: dict[str, Any] = {"before" if desc else "after": page.entries[-1].seq}
        if "per_page" in args:
            cursor["per_page"] = per_page
        nxt = url_for("api.budget_ledger", call_id=call.id, **cursor)
    rec = ledger.reconcile(call_id=call.id)
    return jsonify({"call_id": call.id, "budget_wan": format_wan(call.budget),
                    "entries": [entry_json(e) for e in page.entries], "total": page.total,
                    "per_page": per_page, "dir": "desc" if desc else "asc", "next": nxt,
                    "opening": balances_json(page.opening),
                    "closing": balances_json(page.closing),
                    "reconciliation": ledger.reconciliation_json(rec)["calls"][0]})


@api_bp.get("/v1/budgets/<int:call_id>/ledger.xlsx")
@document("指南预算台账导出为 Excel（与台账页的导出相同：分录，再加对账工作表；同样的查看权限）",
          media=XLSX, responses={200: "Excel 文件：预算台账、对账两个工作表",
                                 403: "不是财务或项目主管、领导、审计人员",
                                 404: "不存在或无权查看"})
@token_required
def budget_ledger_xlsx(call_id: int) -> Response:
    user = current_api_user()
    call = found(db.session.get(Call, call_id), user, can_view, what="预算")
    allow(money_reader(user), "只有财务和项目主管、领导、审计人员可以查看预算台账")
    spec, rows = ledger_of(call)
    return export(spec, user, checked(spec, user, {}), rows)


@api_bp.get("/v1/finance/reconciliation")
@document("预算对账报告（按年度）：按指南分页，合计与是否全部一致为所选范围的全部指南",
          response=RECONCILIATION_SCHEMA,
          params={"year": {"type": "integer", "minimum": 2000, "maximum": 2100,
                           "description": "年度，如 2026；不给出为全部年度"},
                  "page": {"type": "integer", "minimum": 1, "description": "页码，从1开始"},
                  "per_page": {"type": "integer", "minimum": 1, "maximum": API_MAX_PER_PAGE,
                               "description": f"每页指南数，默认 {API_PER_PAGE}，"
                                              f"最多 {API_MAX_PER_PAGE}"}},
          responses={200: "对账报告", 403: "不是财务或项目主管、领导、审计人员", 422: "参数有误"})
@token_required
def reconciliation() -> Response:
    allow(money_reader(current_api_user()), "只有财务和项目主管、领导、审计人员可以查看预算对账")
    raw = request.args.get("year", "")
    year = int(raw) if raw.isascii() and raw.isdigit() and 2000 <= int(raw) <= 2100 else None
    if raw and year is None:
        raise Invalid("year 无效", details={"year": "应为 2000 至 2100 的年份"})
    page = _whole("page", request.args["page"], 1, 1_000_000) \
        if "page" in request.args else 1
    per_page = _whole("per_page", request.args["per_page"], 1, API_MAX_PER_PAGE) \
        if "per_page" in request.args else API_PER_PAGE
    calls = sa.select(Call.id)
    if year is not None:
        calls = calls.where(Call.year == year)
    ids = list(db.session.scalars(calls.order_by(Call.id).limit(per_page)
                                  .offset((page - 1) * per_page)))
    rec = ledger.reconcile(call_ids=ids)
    # One page holding every call is its own summary; else the database sums them all.
    whole = ledger.summary_of(rec) if page == 1 and len(ids) < per_page else \
        ledger.summary(calls if year is not None else None)
    body = ledger.reconciliation_json(rec)
    body.update({"year": year, "ok": whole.ok, "total": whole.calls, "page": page,
                 "per_page": per_page, "pages": max(1, math.ceil(whole.calls / per_page)),
                 "problems": whole.problems, "budget_wan": format_wan(whole.budget),
                 "entries": whole.entries,
                 "totals_wan": {k.value: format_wan(v) for k, v in whole.totals.items()}})
    return jsonify(body)


@api_bp.get("/v1/applications/<int:app_id>/milestones")
@document("项目的里程碑", responses={200: "列表", 403: "无权查看其内容", 404: "不存在或无权查看"},
          response=items_of(MILESTONE_SCHEMA))
@token_required
def list_milestones(app_id: int) -> Response:
    return jsonify({"items": [milestone_json(m) for m in finance.milestones_of(
        _readable(app_id))]})


def _milestone(milestone_id: int) -> Milestone:
    m = db.session.get(Milestone, milestone_id)
    app = db.session.get(Application, m.application_id) if m else None
    if m is None or app is None or not can_read_application(current_api_user(), app):
        raise NotFound("里程碑不存在")
    return m


EVIDENCE: dict[str, Any] = {
    "type": "array", "items": {"type": "string"},
    "description": "佐证材料：先以 POST /api/v1/applications/{app_id}/attachments 上传（field 为 "
                   "milestone_evidence 或 final_evidence，项目执行期间由项目负责人上传），"
                   "再在此列出其 sha256"}
REPORT_BODY: dict[str, Any] = {"report": "string", "evidence": EVIDENCE}
VERDICT_BODY: dict[str, Any] = {"verdict": {"type": "string", "enum": ["pass", "fail"]},
                                "opinion": "string"}


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise Invalid(f"{key} 应为字符串", details={key: "应为字符串"})
    return value


@api_bp.post("/v1/milestones/<int:milestone_id>/report")
@document("项目团队提交里程碑完成情况", body=REPORT_BODY, required=REPORT_BODY,
          response=MILESTONE_SCHEMA,
          responses={200: "已提交", 403: "不是项目负责人", 409: "状态不符", 422: "内容有误"})
@token_required
def report_milestone(milestone_id: int) -> Response:
    _milestone(milestone_id)
    body = typed_body(REPORT_BODY)
    m = finance.report_milestone(current_api_user(), milestone_id, _text(body, "report"),
                                 ip=request.remote_addr, evidence_refs=body.get("evidence"))
    return jsonify(milestone_json(m))


@api_bp.post("/v1/milestones/<int:milestone_id>/verdict")
@document("发榜方或项目主管验收里程碑", body=VERDICT_BODY, required=("verdict",),
          response=MILESTONE_SCHEMA,
          responses={200: "已记录", 403: "不是验收方", 409: "不在待验收状态", 422: "内容有误"})
@token_required
def judge_milestone(milestone_id: int) -> Response:
    _milestone(milestone_id)
    body = json_body(VERDICT_BODY)
    m = finance.judge_milestone(current_api_user(), milestone_id, _text(body, "verdict"),
                                _text(body, "opinion"), request.remote_addr)
    return jsonify(milestone_json(m))


# ---- 赛马: the stage gate ---------------------------------------------------------------

STAGE_GATE_BODY: dict[str, Any] = {
    "continuing": {"type": "array", "items": {"type": "integer"},
                   "description": "继续攻关的团队（本榜单在研项目的申报书 id，至少一个）；"
                                  "未列出的在研团队项目终止，其后续拨付取消"},
    "comment": {"type": "string", "description": "阶段评估结论（至少2字）"},
}
STAGE_GATE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "challenge_id": {"type": "integer"},
    "continuing": {"type": "array", "items": {"type": "integer"},
                   "description": "继续攻关的团队"},
    "stopped": {"type": "array", "items": {"type": "integer"},
                "description": "终止的团队"}},
    "required": ["challenge_id", "continuing", "stopped"]}


@api_bp.post("/v1/challenges/<int:challenge_id>/stage-gate")
@document("赛马阶段评估（项目主管）：选定继续攻关的团队，其余在研团队项目终止、后续拨付取消",
          body=STAGE_GATE_BODY, required=("continuing", "comment"),
          response=STAGE_GATE_SCHEMA,
          responses={200: "评估结果", 403: "不是项目主管", 404: "榜单不存在或无权查看",
                     409: "团队状态已变化", 422: "结论或团队有误（逐项说明）"})
@token_required
def stage_gate(challenge_id: int) -> Response:
    from workflow.calls.models import Challenge
    from workflow.calls.visibility import challenge_visible

    user = current_api_user()
    challenge = found(db.session.get(Challenge, challenge_id), user, challenge_visible,
                      what="榜单")
    allow(stage_gate_keeper(user), "只有项目主管可以进行赛马阶段评估")
    body = typed_body(STAGE_GATE_BODY)
    ids = [parse_id(v) if isinstance(v, int) else None for v in body.get("continuing") or []]
    keep = [i for i in ids if i is not None]
    if len(keep) < len(ids):
        raise Invalid("continuing 应为申报书 id（正整数）的数组",
                      details={"continuing": "应为正整数的数组"})
    stopped = finance.stage_gate(user, challenge.id, keep, body.get("comment") or "",
                                 request.remote_addr)
    return jsonify({"challenge_id": challenge.id, "continuing": list(dict.fromkeys(keep)),
                    "stopped": stopped})


# ---- the payee's bank account (收款账户) --------------------------------------------------

BANK_BODY: dict[str, Any] = {
    "bank_name": {"type": "string", "description": "开户银行（2至100字）"},
    "bank_account": {"type": "string", "description": "银行账号（8至32位数字，可含空格）"},
}
BANK_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "organization_id": {"type": "integer"},
    "bank_name": nullable("string", description="开户银行（未登记为 null 或空字符串）"),
    "bank_account": nullable("string", description="银行账号（未登记为 null 或空字符串）")},
    "required": ["organization_id", "bank_name", "bank_account"]}


def bank_json(org: Organization) -> dict[str, Any]:
    return {"organization_id": org.id, "bank_name": org.bank_name,
            "bank_account": org.bank_account}


@api_bp.get("/v1/organizations/<int:org_id>/bank-account")
@document("单位的收款账户（本单位管理员，及财务、项目主管、领导、审计人员）",
          response=BANK_SCHEMA,
          responses={200: "收款账户（未登记时为空字符串）", 403: "无权查看收款账户",
                     404: "不存在或无权查看"})
@token_required
def get_bank_account(org_id: int) -> Response:
    user = current_api_user()
    org = visible_organization(user, org_id)
    return jsonify(bank_json(finance.read_bank_account(user, org)))


@api_bp.put("/v1/organizations/<int:org_id>/bank-account")
@document("登记或修改收款账户（本单位管理员）", body=BANK_BODY,
          required=("bank_name", "bank_account"), response=BANK_SCHEMA,
          responses={200: "已保存", 403: "不是本单位管理员", 404: "不存在或无权查看",
                     422: "开户银行或账号有误"})
@token_required
def put_bank_account(org_id: int) -> Response:
    user = current_api_user()
    org = visible_organization(user, org_id)
    body = typed_body(BANK_BODY)
    finance.set_bank_account(user, org, body.get("bank_name") or "",
                             body.get("bank_account") or "", request.remote_addr)
    return jsonify(bank_json(org))
