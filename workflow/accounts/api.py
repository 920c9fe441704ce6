"""``/api/v1/organizations``: the organisations (单位), registered and corrected by the
bureau, each with its 统一社会信用代码 checked. Their bank accounts are finance's
(``workflow.finance.api``)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from states import ROLES
from workflow.accounts import integrity
from workflow.accounts import operations as accounts
from workflow.accounts.lists import SANCTIONS
from workflow.accounts.models import Organization, OrgKind, Sanction
from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import PAGING_PARAMS, api_bp, json_body, page_schema, paging, typed_body
from workflow.api.openapi import XLSX, document, enum, nullable
from workflow.core.errors import Invalid
from workflow.permissions import allow, integrity_keeper, integrity_reader
from workflow.web.listing import api_page, api_params

KINDS = [k.value for k in OrgKind]
ORG_BODY: dict[str, Any] = {
    "name": {"type": "string", "description": "单位名称（不超过200字）"},
    "uscc": {"type": "string", "description": "统一社会信用代码（18位，含校验位）"},
    "kind": {"type": "string", "enum": KINDS,
             "description": "高等院校、企业、科研院所或政府机关；新建时默认 university"},
}
ORG_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "uscc": {"type": "string"},
    "kind": {"type": "string", "enum": KINDS}, "kind_label": {"type": "string"},
    "bank_account_set": {"type": "boolean", "description": "是否已登记收款账户"}},
    "required": ["id", "name", "uscc", "kind", "kind_label", "bank_account_set"]}


def organization_json(org: Organization) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "uscc": org.uscc, "kind": org.kind.value,
            "kind_label": org.kind.label,
            "bank_account_set": bool(org.bank_name and org.bank_account)}


@api_bp.get("/v1/organizations")
@document("单位列表：局内人员看全部，其他人看本单位；按名称或统一社会信用代码搜索，按类型筛选，分页",
          params={"q": {"type": "string", "description": "名称或统一社会信用代码的一部分"},
                  "kind": {"type": "string", "enum": KINDS, "description": "单位类型"},
                  **PAGING_PARAMS},
          responses={200: "列表", 422: "参数有误"}, response=page_schema(ORG_SCHEMA))
@token_required
def list_organizations() -> Response:
    page, per_page = paging()
    rows, total = accounts.organizations(current_api_user(), request.args.get("q", ""),
                                         request.args.get("kind", ""), page, per_page)
    return jsonify({"items": [organization_json(o) for o in rows], "total": total,
                    "page": page, "per_page": per_page})


@api_bp.post("/v1/organizations")
@document("登记单位（项目主管、系统管理员）", body=ORG_BODY, required=("name", "uscc"),
          responses={201: "已登记", 403: "无权登记单位", 422: "信息有误或单位已存在"},
          response=ORG_SCHEMA)
@token_required
def create_organization() -> tuple[Response, int]:
    org = accounts.register_organization(current_api_user(), typed_body(ORG_BODY))
    return jsonify(organization_json(org)), 201


@api_bp.get("/v1/organizations/<int:org_id>")
@document("单位详情", response=ORG_SCHEMA, responses={200: "详情", 404: "不存在或无权查看"})
@token_required
def get_organization(org_id: int) -> Response:
    return jsonify(organization_json(accounts.visible_organization(current_api_user(),
                                                                   org_id)))


@api_bp.patch("/v1/organizations/<int:org_id>")
@document("修改单位名称、统一社会信用代码或类型（项目主管、系统管理员）；未给出的不变",
          body=ORG_BODY, response=ORG_SCHEMA,
          responses={200: "已修改", 403: "无权修改", 404: "不存在或无权查看",
                     422: "信息有误或与其他单位重复"})
@token_required
def update_organization(org_id: int) -> Response:
    user = current_api_user()
    org = accounts.visible_organization(user, org_id)
    accounts.update_organization(user, org, typed_body(ORG_BODY))
    return jsonify(organization_json(org))


# ---- the integrity list (科研失信名单) ----------------------------------------------------

SANCTION_BODY: dict[str, Any] = {
    "subject": {"type": "string", "enum": list(integrity.SUBJECTS),
                "description": "person（个人，以身份证号识别）或 org"
                               "（单位，以统一社会信用代码识别）"},
    "name": {"type": "string", "description": "姓名或单位名称（不超过200字）"},
    "identifier": {"type": "string",
                   "description": "身份证号（18位，含校验位）或统一社会信用代码（18位，含校验位）"},
    "reason": {"type": "string", "description": "处理事由"},
    "starts_on": {"type": "string", "format": "date", "description": "开始日期 YYYY-MM-DD"},
    "ends_on": {"type": "string", "format": "date",
                "description": "结束日期 YYYY-MM-DD，不早于开始日期；此前不得申报或担任评审专家"},
}
SANCTION_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"},
    "subject": {"type": "string", "enum": list(integrity.SUBJECTS)},
    "subject_label": {"type": "string"}, "name": {"type": "string"},
    "identifier": {"type": "string", "description": "身份证号或统一社会信用代码"},
    "reason": {"type": "string"},
    "starts_on": {"type": "string", "format": "date"},
    "ends_on": {"type": "string", "format": "date"},
    "recorded_at": {"type": "string", "format": "date-time"}},
    "required": ["id", "subject", "subject_label", "name", "identifier", "reason",
                 "starts_on", "ends_on", "recorded_at"]}


def sanction_json(row: Sanction) -> dict[str, Any]:
    return {"id": row.id, "subject": row.subject,
            "subject_label": integrity.SUBJECTS.get(row.subject, row.subject),
            "name": row.name, "identifier": row.id_number or row.uscc, "reason": row.reason,
            "starts_on": row.starts_on.isoformat(), "ends_on": row.ends_on.isoformat(),
            "recorded_at": row.created_at.isoformat()}


@api_bp.get("/v1/integrity")
@document("科研失信名单（项目主管、领导、审计人员）：与名单页相同的搜索（姓名、单位、证件号码或"
          "事由）、筛选、排序和 Excel 导出；默认处理期晚的在前",
          params=api_params(SANCTIONS), media=XLSX,
          responses={200: "列表；export=xlsx 时为 Excel 文件", 403: "无权查看科研失信名单",
                     422: "参数有误"},
          response=page_schema(SANCTION_SCHEMA))
@token_required
def list_sanctions() -> Response:
    user = current_api_user()
    allow(integrity_reader(user), "只有项目主管、领导和审计人员可以查看科研失信名单")
    return api_page(SANCTIONS, user, lambda rows: [sanction_json(r) for r in rows])


@api_bp.post("/v1/integrity")
@document("记入科研失信名单（项目主管）：证件号码按校验位检查", body=SANCTION_BODY,
          required=tuple(SANCTION_BODY), response=SANCTION_SCHEMA,
          responses={201: "已记入", 403: "不是项目主管", 422: "字段有误（逐项说明）"})
@token_required
def add_sanction() -> tuple[Response, int]:
    allow(integrity_keeper(current_api_user()), "只有项目主管可以维护科研失信名单")
    row = integrity.add_sanction(current_api_user(), typed_body(SANCTION_BODY))
    return jsonify(sanction_json(row)), 201


TOKEN_BODY = {"username": "string", "password": "string"}
TOKEN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "token": {"type": "string", "description": "以 Authorization: Bearer 提交"},
    "expires_in": {"type": "integer", "description": "有效期（秒）"}},
    "required": ["token", "expires_in"]}
USER_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "username": {"type": "string"}, "name": {"type": "string"},
    "email": nullable("string"),
    "roles": {"type": "array", "items": enum(ROLES, "、".join(
        f"{k}（{v}）" for k, v in ROLES.items()))},
    "organization": nullable({"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "uscc": {"type": "string"},
        "kind": {"type": "string", "enum": KINDS}},
        "required": ["id", "name", "uscc", "kind"]})},
    "required": ["id", "username", "name", "email", "roles", "organization"]}


@api_bp.post("/v1/auth/token")
@document("获取访问令牌", body=TOKEN_BODY, required=TOKEN_BODY,
          responses={200: "令牌及其有效期", 401: "用户名或密码错误", 422: "字段有误",
                     429: "登录失败次数过多"},
          auth=False, response=TOKEN_SCHEMA)
def issue_token() -> Response:
    data = json_body(TOKEN_BODY)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise Invalid("请提供 username 和 password 两个字符串字段",
                      details={k: "必填，字符串" for k in ("username", "password")
                               if not isinstance(data.get(k), str) or not data.get(k)})
    user = accounts.authenticate(username, password, request.remote_addr, channel="api")
    from flask import current_app

    return jsonify({"token": accounts.issue_token(user),
                    "expires_in": current_app.config["API_TOKEN_HOURS"] * 3600})


def user_json(user: Any) -> dict[str, Any]:
    org = user.organization
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "roles": sorted(user.roles),
        "organization": None if org is None else {
            "id": org.id, "name": org.name, "uscc": org.uscc, "kind": org.kind.value,
        },
    }


@api_bp.get("/v1/me")
@document("当前用户", responses={200: "用户信息"}, response=USER_SCHEMA)
@token_required
def me() -> Response:
    return jsonify(user_json(current_api_user()))
