"""``/api/v1``: 结题验收. The team opens and fills in the package; the steps of the lifecycle
(submit, endorse, return_for_revision, assign_panel, pass, conclude, fail) are fired as
every lifecycle's are, ``POST /api/v1/acceptances/{id}/transitions``
(``workflow.workbench.api``), with ``GET .../transitions`` and ``GET .../history``; the
panel and the conclusion also have endpoints of their own below. A panel member's
verdict and 财务验收 are records, not state changes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Response, jsonify, request

from forms import format_wan
from states import AcceptanceState, ApplicationState
from workflow.acceptance import operations as acceptances
from workflow.acceptance.lists import ACCEPTANCES
from workflow.acceptance.models import (
    ASSESSMENTS,
    FINANCE_VERDICTS,
    GRADE_TRIGGERS,
    GRADES,
    OUTPUT_KINDS,
    Acceptance,
    AcceptanceMember,
)
from workflow.accounts.tokens import current_api_user, token_required
from workflow.annual.models import SPENDING_CATEGORIES
from workflow.api import api_bp, if_match, multipart_fields, page_schema, typed_body
from workflow.api.openapi import DATE_TIME, XLSX, document, enum, nullable
from workflow.applying.api import ATTACHMENT_SCHEMA, _readable, _visible, attachment_json
from workflow.core import engine
from workflow.core.entities import can_view
from workflow.core.errors import Invalid, NotFound
from workflow.documents.official import project_indicators
from workflow.permissions import expert_name_reader
from workflow.web.listing import api_page, api_params

MONEY_TEXT = {"type": "string", "description": "万元，两位小数"}
GRADE = {"type": "string", "enum": list(GRADES), "description": "、".join(
    f"{k}（{v}）" for k, v in GRADES.items())}
OUTPUT = {"type": "object", "properties": {
    "kind": {"type": "string", "enum": list(OUTPUT_KINDS), "description": "、".join(
        f"{k}（{v}）" for k, v in OUTPUT_KINDS.items())},
    "title": {"type": "string", "maxLength": 300},
    "identifier": {"type": "string", "maxLength": 100,
                   "description": "DOI（论文，10.xxxx/…）、专利号（ZL…或CN…）、标准号"
                                  "（GB/T 9704-2012）、登记号（2021SR0123456）；产品可空"}},
    "required": ["kind", "title", "identifier"]}
ASSESSMENT = {"type": "object", "properties": {
    "status": {"type": "string", "enum": list(ASSESSMENTS)},
    "evidence": {"type": "string", "maxLength": 2000}}, "required": ["status", "evidence"]}
PACKAGE_BODY: dict[str, Any] = {
    "report": {"type": "string", "maxLength": 50000, "description": "结题报告（提交时不少于20字）"},
    "outputs": {"type": "array", "items": OUTPUT, "maxItems": 200,
                "description": "成果和知识产权清单（完整清单，替换原值）"},
    "spending": {"type": "object", "properties": {
        k: {"type": "string", "description": f"{v}（万元）"}
        for k, v in SPENDING_CATEGORIES.items()}, "additionalProperties": False,
        "description": "揭榜挂帅：经费决算表，合计不超过已拨付金额"},
    "negative_list_declared": {"type": "boolean",
                               "description": "包干制：声明经费未用于负面清单所列支出"},
    "spent_wan": {"type": "string", "description": "包干制：已使用经费（万元）"},
    "surplus_wan": {"type": "string", "description": "包干制：结余（万元，留用于科研）"},
    "self_assessment": {"type": "object", "additionalProperties": ASSESSMENT,
                        "description": "考核指标名到自评（met 已完成、partly 部分完成、"
                                       "not_met 未完成）及佐证说明"},
}
MEMBER_SCHEMA = {"type": "object", "properties": {
    "seat": {"type": "integer"}, "alias": {"type": "string", "description": "专家N 或 发榜方"},
    "role": {"type": "string", "enum": ["expert", "demand"]},
    "name": nullable({"type": "string", "description": "仅项目主管、审计人员可见"}),
    "scores": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "grade": nullable(GRADE), "opinion": nullable("string"),
    "diligent": nullable("boolean"), "submitted_at": nullable(DATE_TIME)},
    "required": ["seat", "alias", "role", "name", "scores", "grade", "opinion", "diligent",
                 "submitted_at"]}
INDICATOR = {"type": "object", "properties": {
    "name": {"type": "string"}, "requirement": {"type": "string"},
    "commitment": {"type": "string"}}, "required": ["name", "requirement", "commitment"]}
ACCEPTANCE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "application_id": {"type": "integer"},
    "project_number": nullable("string"), "project": {"type": "string"},
    "scheme": {"type": "string", "enum": ["baogan", "jiebang"]},
    "state": enum(AcceptanceState), "state_label": {"type": "string"},
    "version": {"type": "integer"}, "report": {"type": "string"},
    "tech_report": nullable({"type": "string", "description": "科技报告的 sha256"}),
    "outputs": {"type": "array", "items": OUTPUT},
    "spending": {"type": "object", "additionalProperties": MONEY_TEXT},
    "negative_list_declared": {"type": "boolean"}, "spent_wan": nullable(MONEY_TEXT),
    "surplus_wan": MONEY_TEXT, "disbursed_wan": MONEY_TEXT,
    "indicators": {"type": "array", "items": INDICATOR},
    "self_assessment": {"type": "object", "additionalProperties": ASSESSMENT},
    "missing": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "验收材料尚缺的内容（按字段）"},
    "unit_opinion": nullable("string"), "submitted_at": nullable(DATE_TIME),
    "members": {"type": "array", "items": MEMBER_SCHEMA},
    "proposed": nullable(GRADE),
    "finance": nullable({"type": "object", "properties": {
        "verdict": {"type": "string", "enum": list(FINANCE_VERDICTS)},
        "opinion": {"type": "string"}, "by": {"type": "string"},
        "disbursed_wan": nullable(MONEY_TEXT), "at": nullable(DATE_TIME)},
        "required": ["verdict", "opinion", "by", "disbursed_wan", "at"]}),
    "conclusion": nullable({"type": "object", "properties": {
        "grade": GRADE, "opinion": {"type": "string"}, "by": {"type": "string"},
        "at": DATE_TIME, "diligent": nullable("boolean"),
        "recovery_wan": nullable(MONEY_TEXT),
        "integrity_recorded": {"type": "boolean"}},
        "required": ["grade", "opinion", "by", "at", "diligent", "recovery_wan",
                     "integrity_recorded"]}),
    "created_at": DATE_TIME},
    "required": ["id", "application_id", "project_number", "project", "scheme", "state",
                 "state_label", "version", "report", "tech_report", "outputs", "spending",
                 "negative_list_declared", "spent_wan", "surplus_wan", "disbursed_wan",
                 "indicators", "self_assessment", "missing", "unit_opinion", "submitted_at",
                 "members", "proposed", "finance", "conclusion", "created_at"]}
SCORE_BODY: dict[str, Any] = {
    "scores": {"type": "object", "additionalProperties": {"type": "boolean"},
               "description": "考核指标名到是否完成（逐项必填）"},
    "grade": GRADE, "opinion": {"type": "string", "maxLength": 5000},
    "diligent": {"type": "boolean", "description": "结论为不通过时：团队是否勤勉尽责"
                 "（宽容失败的批次必填）"}}
FINANCE_BODY: dict[str, Any] = {
    "verdict": {"type": "string", "enum": list(FINANCE_VERDICTS)},
    "opinion": {"type": "string", "maxLength": 5000}}
PANEL_BODY: dict[str, Any] = {
    "expert_ids": {"type": "array", "items": {"type": "integer"}, "minItems": 1,
                   "maxItems": 15, "description": "验收专家（用户 id，至少3名，回避检查）"},
    "comment": {"type": "string", "maxLength": 5000}}
CONCLUDE_BODY: dict[str, Any] = {
    "grade": GRADE,
    "comment": {"type": "string", "maxLength": 5000,
                "description": "结论意见（结题、不通过或与专家组多数意见不同时必填）"},
    "diligent": {"type": "string", "enum": ["yes", "no"],
                 "description": "不通过时：是否勤勉尽责（宽容失败的批次必填）"},
    "recovery_wan": {"type": "string", "description": "不通过且须追回时：应追回金额（万元）"}}
FINAL_REPORT_BODY: dict[str, Any] = {
    "report": "string",
    "surplus_wan": {"type": "string", "description": "包干制结余（万元）"},
    "evidence": {"type": "array", "items": {"type": "string"},
                 "description": "本项目已上传附件的 sha256；其中的 PDF 作为科技报告"}}


def _money(value: Any) -> str | None:
    return None if value is None else format_wan(value)


def member_json(m: AcceptanceMember, names: bool, shown: bool) -> dict[str, Any]:
    """A panel member; their verdict only where the reader may see it
    (``acceptances.verdict_shown``: empty until then, whether given or not)."""
    name = None
    if names:
        name = m.signed_by if m.role == "demand" else (m.user.name if m.user else None)
    return {"seat": m.seq, "alias": m.alias, "role": m.role, "name": name,
            "scores": dict(m.scores or {}) if shown else {},
            "grade": m.grade if shown else None, "opinion": m.opinion if shown else None,
            "diligent": m.diligent if shown else None,
            "submitted_at": m.submitted_at.isoformat() if m.submitted_at else None}


def acceptance_json(a: Acceptance) -> dict[str, Any]:
    app = a.application
    user = current_api_user()
    names = expert_name_reader(user)
    shown = {m.id: acceptances.verdict_shown(user, a, m) for m in a.members}
    finance = None
    if a.finance_verdict is not None:
        finance = {"verdict": a.finance_verdict, "opinion": a.finance_opinion or "",
                   "by": a.finance_by or "", "disbursed_wan": _money(a.disbursed_checked),
                   "at": a.finance_at.isoformat() if a.finance_at else None}
    conclusion = None
    if a.concluded_at is not None and a.grade is not None:
        conclusion = {"grade": a.grade, "opinion": a.conclusion or "",
                      "by": a.concluded_by or "", "at": a.concluded_at.isoformat(),
                      "diligent": a.diligent, "recovery_wan": _money(a.recovery_amount),
                      "integrity_recorded": a.sanction_id is not None}
    return {
        "id": a.id, "application_id": app.id, "project_number": app.project_number,
        "project": app.title, "scheme": app.call.scheme.value, "state": a.state.value,
        "state_label": a.state.label, "version": a.version, "report": a.report or "",
        "tech_report": a.tech_report_sha256, "outputs": list(a.outputs or []),
        "spending": {k: format_wan(Decimal(v)) for k, v in (a.spending or {}).items()},
        "negative_list_declared": a.negative_list_declared, "spent_wan": _money(a.spent),
        "surplus_wan": format_wan(a.surplus or 0),
        "disbursed_wan": format_wan(acceptances.disbursed(app)),
        "indicators": [{"name": i.name, "requirement": i.requirement,
                        "commitment": i.commitment} for i in project_indicators(app)],
        "self_assessment": dict(a.self_assessment or {}),
        "missing": acceptances.package_problems(a), "unit_opinion": a.unit_opinion,
        "submitted_at": a.submitted_at.isoformat() if a.submitted_at else None,
        "members": [member_json(m, names, shown[m.id]) for m in a.members],
        "proposed": acceptances.proposed_grade(a) if all(shown.values()) else None,
        "finance": finance,
        "conclusion": conclusion, "created_at": a.created_at.isoformat(),
    }


def _acceptance(acc_id: int, lock: bool = False) -> Acceptance:
    try:
        row: Acceptance = engine.load("acceptance", acc_id, lock=lock)
    except NotFound:
        raise NotFound("结题验收不存在或无权查看") from None
    if not can_view(current_api_user(), row):
        raise NotFound("结题验收不存在或无权查看")
    return row


@api_bp.get("/v1/acceptances")
@document("结题验收列表（局内人员、财务、审计：全部；单位管理员：本单位项目的；发榜方：其榜单项目的；"
          "专家：所在专家组的；项目负责人：本人项目的），"
          "与验收页相同的搜索、筛选、排序和 Excel 导出",
          params=api_params(ACCEPTANCES), media=XLSX, response=page_schema(ACCEPTANCE_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 422: "参数有误"})
@token_required
def list_acceptances() -> Response:
    return api_page(ACCEPTANCES, current_api_user(), _page)


def _page(rows: list[Acceptance]) -> list[dict[str, Any]]:
    from workflow.calls.operations import read_forms

    # The forms the projects' indicators come from, for the page in one statement.
    read_forms((a.application.call_id, a.application.form_version) for a in rows)
    return [acceptance_json(a) for a in rows]


@api_bp.get("/v1/acceptances/<int:acc_id>")
@document("结题验收（专家只以“专家N”出现，项目主管和审计人员另见姓名）",
          response=ACCEPTANCE_SCHEMA, responses={200: "结题验收", 404: "不存在或无权查看"})
@token_required
def get_acceptance(acc_id: int) -> Response:
    return jsonify(acceptance_json(_acceptance(acc_id)))


@api_bp.get("/v1/applications/<int:app_id>/acceptance")
@document("项目的结题验收", response=ACCEPTANCE_SCHEMA,
          responses={200: "结题验收", 403: "看得到项目但无权阅读其内容",
                     404: "不存在、无权查看或尚未申请验收"})
@token_required
def project_acceptance(app_id: int) -> Response:
    app = _readable(app_id)
    acc = acceptances.acceptance_of(app)
    if acc is None:
        raise NotFound("本项目尚未申请结题验收")
    return jsonify(acceptance_json(acc))


@api_bp.post("/v1/applications/<int:app_id>/acceptance")
@document("项目负责人申请结题验收（开启验收材料草稿；已开启的返回原草稿）",
          response=ACCEPTANCE_SCHEMA, body_optional=True,
          responses={201: "已开启", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "项目不在执行中"})
@token_required
def open_acceptance(app_id: int) -> tuple[Response, int]:
    app = _visible(app_id)
    acc = acceptances.open_package(current_api_user(), app, request.remote_addr)
    return jsonify(acceptance_json(acc)), 201


@api_bp.patch("/v1/acceptances/<int:acc_id>")
@document("项目负责人填写验收材料（给出的字段替换原值；草稿或退回修改时）；If-Match 给出版本号时，"
          "版本不符即 409。填完后以 transitions 的 submit 提交",
          body=PACKAGE_BODY, response=ACCEPTANCE_SCHEMA, body_optional=True,
          responses={200: "已保存", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "已提交，或版本不符", 422: "内容有误（逐项说明）"})
@token_required
def update_acceptance(acc_id: int) -> Response:
    acc = _acceptance(acc_id)
    body = typed_body(PACKAGE_BODY)
    acc = acceptances.save_package(current_api_user(), acc, body, if_match(),
                                   request.remote_addr)
    return jsonify(acceptance_json(acc))


@api_bp.post("/v1/acceptances/<int:acc_id>/tech-report")
@document("项目负责人上传科技报告（multipart：file；PDF，按内容核对类型，大小受限）",
          multipart={"file": "binary"}, required=("file",), response=ATTACHMENT_SCHEMA,
          responses={201: "已上传", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "已提交，不能再上传", 413: "文件过大",
                     415: "类型不支持或内容与扩展名不符", 422: "未选择文件、不是 PDF 或文件名有误"})
@token_required
def upload_tech_report(acc_id: int) -> tuple[Response, int]:
    acc = _acceptance(acc_id)
    multipart_fields(("file",))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid("请选择要上传的科技报告（PDF）", details={"file": "必填"})
    attachment = acceptances.attach_tech_report(current_api_user(), acc, upload.filename,
                                                upload.stream, request.remote_addr)
    return jsonify(attachment_json(attachment)), 201


@api_bp.post("/v1/acceptances/<int:acc_id>/panel")
@document("项目主管组织验收专家组（单位审核同意后；至少3名专家，回避检查；揭榜挂帅项目发榜方自动加入）",
          body=PANEL_BODY, required=("expert_ids",), response=ACCEPTANCE_SCHEMA,
          responses={200: "已组成", 403: "不是项目主管", 404: "不存在或无权查看",
                     409: "不在待组织验收状态，或版本不符",
                     422: "人数不足、不是在库专家或须回避（逐人说明）"})
@token_required
def assign_panel(acc_id: int) -> Response:
    acc = _acceptance(acc_id, lock=True)
    body = typed_body(PANEL_BODY)
    engine.fire(acc, "assign_panel", current_api_user(), comment=body.get("comment") or "",
                data={"expert_ids": [str(i) for i in body.get("expert_ids") or []]},
                expected_version=if_match(), ip=request.remote_addr)
    return jsonify(acceptance_json(acc))


@api_bp.post("/v1/acceptances/<int:acc_id>/scores")
@document("验收专家组成员（专家、揭榜挂帅的发榜方）提交验收意见：逐项判断考核指标是否完成，"
          "给出通过、结题或不通过的结论和意见；提交后不能修改",
          body=SCORE_BODY, required=("scores", "grade", "opinion"), response=MEMBER_SCHEMA,
          responses={200: "已提交", 403: "不是本专家组成员", 404: "不存在或无权查看",
                     409: "不在专家组验收阶段，或已提交", 422: "内容有误（逐项说明）"})
@token_required
def score_acceptance(acc_id: int) -> Response:
    acc = _acceptance(acc_id)
    body = typed_body(SCORE_BODY)
    seat = acceptances.score(current_api_user(), acc, body, request.remote_addr)
    return jsonify(member_json(seat, expert_name_reader(current_api_user()), True))


@api_bp.post("/v1/acceptances/<int:acc_id>/finance-check")
@document("财务验收（财务人员或审计人员）：对照拨付台账核对经费决算，录入通过或不通过及意见",
          body=FINANCE_BODY, required=("verdict", "opinion"), response=ACCEPTANCE_SCHEMA,
          responses={200: "已录入", 403: "不是财务或审计人员", 404: "不存在或无权查看",
                     409: "不在验收阶段，或已录入", 422: "内容有误，或决算超过已拨付仍选通过"})
@token_required
def finance_check(acc_id: int) -> Response:
    acc = _acceptance(acc_id)
    body = typed_body(FINANCE_BODY)
    acc = acceptances.check_finance(current_api_user(), acc, body.get("verdict"),
                                    body.get("opinion"), request.remote_addr)
    return jsonify(acceptance_json(acc))


@api_bp.post("/v1/acceptances/<int:acc_id>/conclusion")
@document("项目主管作出验收结论（专家组意见和财务验收齐备后）：pass 通过、concluded 结题、fail "
          "不通过；与专家组多数意见不同须说明理由；不通过时认定是否勤勉尽责（宽容失败）并给出"
          "应追回金额；随后印发验收结论书",
          body=CONCLUDE_BODY, required=("grade",), response=ACCEPTANCE_SCHEMA,
          responses={200: "已作出", 403: "不是项目主管", 404: "不存在或无权查看",
                     409: "不在专家组验收阶段，或版本不符",
                     422: "专家组或财务验收未齐、理由未说明、勤勉尽责未认定或追回金额有误"})
@token_required
def conclude_acceptance(acc_id: int) -> Response:
    acc = _acceptance(acc_id, lock=True)
    body = typed_body(CONCLUDE_BODY)
    grade = body.get("grade")
    if not isinstance(grade, str) or grade not in GRADE_TRIGGERS:
        raise Invalid("请选择验收结论：pass（通过）、concluded（结题）或 fail（不通过）",
                      details={"grade": "必填"})
    data = {k: body[k] for k in ("diligent", "recovery_wan") if body.get(k) not in (None, "")}
    engine.fire(acc, GRADE_TRIGGERS[grade], current_api_user(),
                comment=body.get("comment") or "", data=data, expected_version=if_match(),
                ip=request.remote_addr)
    return jsonify(acceptance_json(acc))


@api_bp.post("/v1/applications/<int:app_id>/final-report")
@document("结题报告（沿用的接口）：写入项目的结题验收材料草稿（报告正文、包干制结余；evidence 中的 "
          "PDF 作为科技报告），不改变项目状态；"
          "其余材料以 PATCH /api/v1/acceptances/{id} 补齐后提交",
          body=FINAL_REPORT_BODY, required=("report",),
          response={"type": "object", "properties": {
              "id": {"type": "integer"}, "state": enum(ApplicationState),
              "acceptance_id": {"type": "integer"}},
              "required": ["id", "state", "acceptance_id"]},
          responses={200: "已保存", 403: "不是项目负责人", 404: "不存在或无权查看",
                     409: "项目不在执行中，或验收材料已提交", 422: "内容有误"})
@token_required
def final_report(app_id: int) -> Response:
    app = _visible(app_id)
    body = typed_body(FINAL_REPORT_BODY)
    acc = acceptances.save_final_report(current_api_user(), app, body, request.remote_addr)
    return jsonify({"id": app.id, "state": app.state.value, "acceptance_id": acc.id})
