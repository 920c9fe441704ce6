"""``/api/v1/organizations``: the organisations (单位), registered and corrected by the
bureau, each with its 统一社会信用代码 checked. Their bank accounts are finance's
(``workflow.finance.api``). Also the tokens (``/api/v1/auth/token``), the caller's
password (``/api/v1/me/password``) and the administrator's actions on people's accounts
(``/api/v1/users``)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from states import ROLES
from workflow.accounts import integrity, passwords, second_factor, sessions
from workflow.accounts import operations as accounts
from workflow.accounts.lists import SANCTIONS, USERS, second_factor_on, second_factors_among
from workflow.accounts.models import Organization, OrgKind, Sanction, User
from workflow.accounts.models.integrity import DEFAULT_MEASURES, MEASURES
from workflow.accounts.tokens import current_api_token, current_api_user, token_required
from workflow.api import (
    PAGING_PARAMS,
    api_bp,
    json_body,
    no_body,
    page_schema,
    paging,
    typed_body,
)
from workflow.api.openapi import XLSX, document, enum, nullable
from workflow.core.errors import Forbidden, Invalid, Unauthenticated
from workflow.core.models import db
from workflow.permissions import account_keeper, allow, found, integrity_keeper, integrity_reader
from workflow.web.listing import api_page, api_params

KINDS = [k.value for k in OrgKind]
ORG_BODY: dict[str, Any] = {
    "name": {"type": "string", "description": "单位名称（不超过200字）"},
    "uscc": {"type": "string", "description": "统一社会信用代码（18位，含校验位）"},
    "kind": {"type": "string", "enum": KINDS,
             "description": "高等院校、企业、科研院所或政府机关；新建时默认 university"},
    "parent_id": {"type": "integer", "nullable": True,
                  "description": "所属主管部门（推荐单位：政府部门类单位）的 id；其推荐人查看和推荐"
                                 "本单位的申报书。修改时给 null 表示不隶属于任何主管部门"},
}
ORG_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "uscc": {"type": "string"},
    "kind": {"type": "string", "enum": KINDS}, "kind_label": {"type": "string"},
    "bank_account_set": {"type": "boolean", "description": "是否已登记收款账户"},
    "parent": {"type": "object", "nullable": True, "description": "所属主管部门",
               "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
               "required": ["id", "name"]}},
    "required": ["id", "name", "uscc", "kind", "kind_label", "bank_account_set", "parent"]}


def organization_json(org: Organization) -> dict[str, Any]:
    parent = org.parent
    return {"id": org.id, "name": org.name, "uscc": org.uscc, "kind": org.kind.value,
            "kind_label": org.kind.label,
            "bank_account_set": bool(org.bank_name and org.bank_account),
            "parent": {"id": parent.id, "name": parent.name} if parent else None}


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
    org = accounts.register_organization(current_api_user(), typed_body(ORG_BODY),
                                         request.remote_addr)
    return jsonify(organization_json(org)), 201


@api_bp.get("/v1/organizations/<int:org_id>")
@document("单位详情", response=ORG_SCHEMA, responses={200: "详情", 404: "不存在或无权查看"})
@token_required
def get_organization(org_id: int) -> Response:
    return jsonify(organization_json(accounts.visible_organization(current_api_user(),
                                                                   org_id)))


@api_bp.patch("/v1/organizations/<int:org_id>")
@document("修改单位名称、统一社会信用代码、类型或所属主管部门（项目主管、系统管理员）；未给出的不变",
          body=ORG_BODY, response=ORG_SCHEMA,
          responses={200: "已修改", 403: "无权修改", 404: "不存在或无权查看",
                     422: "信息有误或与其他单位重复"})
@token_required
def update_organization(org_id: int) -> Response:
    user = current_api_user()
    org = accounts.visible_organization(user, org_id)
    accounts.update_organization(user, org, typed_body(ORG_BODY), request.remote_addr)
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
                "description": "结束日期 YYYY-MM-DD，不早于开始日期；处理措施在此期间有效"},
    "measures": {"type": "array", "items": {"type": "string", "enum": list(MEASURES)},
                 "description": "处理措施（可多选）：" + "、".join(
                     f"{k}（{v}）" for k, v in MEASURES.items())
                 + "；不给出为 no_apply、no_review。"
                 "记入后，涉及的在研项目暂停拨付并交项目主管复核"},
}
SANCTION_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"},
    "subject": {"type": "string", "enum": list(integrity.SUBJECTS)},
    "subject_label": {"type": "string"}, "name": {"type": "string"},
    "identifier": {"type": "string", "description": "身份证号或统一社会信用代码"},
    "reason": {"type": "string"},
    "starts_on": {"type": "string", "format": "date"},
    "ends_on": {"type": "string", "format": "date"},
    "measures": {"type": "array", "items": {"type": "string", "enum": list(MEASURES)}},
    "recorded_at": {"type": "string", "format": "date-time"}},
    "required": ["id", "subject", "subject_label", "name", "identifier", "reason",
                 "starts_on", "ends_on", "measures", "recorded_at"]}


def sanction_json(row: Sanction) -> dict[str, Any]:
    return {"id": row.id, "subject": row.subject,
            "subject_label": integrity.SUBJECTS.get(row.subject, row.subject),
            "name": row.name, "identifier": row.id_number or row.uscc, "reason": row.reason,
            "starts_on": row.starts_on.isoformat(), "ends_on": row.ends_on.isoformat(),
            "measures": list(row.measures or DEFAULT_MEASURES),
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
          required=tuple(k for k in SANCTION_BODY if k != "measures"), response=SANCTION_SCHEMA,
          responses={201: "已记入", 403: "不是项目主管", 422: "字段有误（逐项说明）"})
@token_required
def add_sanction() -> tuple[Response, int]:
    allow(integrity_keeper(current_api_user()), "只有项目主管可以维护科研失信名单")
    row = integrity.add_sanction(current_api_user(), typed_body(SANCTION_BODY))
    return jsonify(sanction_json(row)), 201


TOKEN_BODY: dict[str, Any] = {
    "username": "string", "password": "string",
    "otp": {"type": "string",
            "description": "启用了两步验证的账户必填：验证器应用显示的6位数字，或一个恢复码"},
}
TOKEN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "token": {"type": "string", "description": "Bearer 令牌（只在此时给出，服务器只保存其哈希）"},
    "expires_in": {"type": "integer", "description": "有效秒数"},
    "expires_at": {"type": "string", "format": "date-time"}},
    "required": ["token", "expires_in", "expires_at"]}


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
@document("获取访问令牌；启用了两步验证的账户须同时提供 otp", body=TOKEN_BODY,
          required=("username", "password"), response=TOKEN_SCHEMA,
          responses={200: "令牌",
                     401: "用户名或密码错误；缺少或错误的验证码（otp_required、otp_invalid）",
                     403: "须先在网页上修改临时密码或启用两步验证", 422: "字段有误",
                     429: "登录失败或验证码错误次数过多，需稍候再试（message 说明等待多久，"
                          "Retry-After 给出秒数）"},
          auth=False)
def issue_token() -> Response:
    data = json_body(TOKEN_BODY)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise Invalid("请提供 username 和 password 两个字符串字段",
                      details={k: "必填，字符串" for k in ("username", "password")
                               if not isinstance(data.get(k), str) or not data.get(k)})
    otp = data.get("otp")
    if otp is not None and not isinstance(otp, str):
        raise Invalid("otp 应为字符串", details={"otp": "应为字符串"})
    user = accounts.authenticate(username, password, request.remote_addr, channel="api")
    if second_factor.enabled(user):
        if not otp:
            raise Unauthenticated("该账户已启用两步验证：请在 otp 中提供验证码",
                                  code="otp_required")
        second_factor.verify(user, otp, request.remote_addr)
    elif second_factor.must_enrol(user):
        raise Forbidden("请先登录网页启用两步验证", code="second_factor_required")
    if user.must_change_password:
        raise Forbidden("请先登录网页修改临时密码", code="password_change_required")
    raw, row = sessions.issue_token(user, request.remote_addr)
    return jsonify({"token": raw, "expires_in": current_app.config["API_TOKEN_HOURS"] * 3600,
                    "expires_at": row.expires_at.isoformat()})


@api_bp.delete("/v1/auth/token")
@document("作废当前使用的令牌（退出）", responses={204: "已作废", 401: "令牌缺失或无效"})
@token_required
def delete_token() -> tuple[str, int]:
    no_body()
    sessions.revoke_token(current_api_token())
    return "", 204


TOKEN_ITEM: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"},
    "expires_at": {"type": "string", "format": "date-time"},
    "last_used_at": {"type": "string", "format": "date-time", "nullable": True},
    "ip": {"type": "string", "nullable": True},
    "current": {"type": "boolean", "description": "是否为本次请求所用的令牌"}},
    "required": ["id", "created_at", "expires_at", "last_used_at", "current"]}


@api_bp.get("/v1/auth/tokens")
@document("本人仍有效的令牌（不含令牌本身）",
          response={"type": "object", "properties": {
              "items": {"type": "array", "items": TOKEN_ITEM}}, "required": ["items"]},
          responses={200: "列表", 401: "令牌缺失或无效"})
@token_required
def list_tokens() -> Response:
    here = current_api_token().id
    return jsonify({"items": [{
        "id": t.id, "created_at": t.created_at.isoformat(),
        "expires_at": t.expires_at.isoformat(),
        "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
        "ip": t.ip, "current": t.id == here} for t in sessions.tokens_of(current_api_user())]})


PASSWORD_BODY: dict[str, Any] = {
    "current_password": {"type": "string", "description": "当前密码"},
    "new_password": {"type": "string",
                     "description": "新密码（至少10个字符，不能过于常见，不能含用户名）"},
}
DONE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "message": {"type": "string"}}, "required": ["message"]}


@api_bp.post("/v1/me/password")
@document("修改本人密码：须提供当前密码；本人的网页登录和其他令牌随即失效（本令牌仍有效）",
          body=PASSWORD_BODY, required=tuple(PASSWORD_BODY), response=DONE_SCHEMA,
          responses={200: "已修改", 401: "令牌缺失或无效", 422: "当前密码不正确或新密码不符合要求"})
@token_required
def change_password() -> Response:
    body = typed_body(PASSWORD_BODY)
    missing = {k: "必填，字符串" for k in PASSWORD_BODY if not isinstance(body.get(k), str)
               or not body.get(k)}
    if missing:
        raise Invalid("请提供 current_password 和 new_password", details=missing)
    passwords.change_password(current_api_user(), body["current_password"],
                              body["new_password"], token_id=current_api_token().id,
                              ip=request.remote_addr)
    return jsonify({"message": "密码已修改；其他登录和令牌已失效"})


# ---- people's accounts (系统管理员) ------------------------------------------------------

USER_ADMIN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"}, "username": {"type": "string"}, "name": {"type": "string"},
    "email": {"type": "string", "nullable": True},
    "roles": {"type": "array", "items": {"type": "string", "enum": list(ROLES)}},
    "organization": {"type": "string", "nullable": True},
    "active": {"type": "boolean"}, "second_factor": {"type": "boolean"},
    "must_change_password": {"type": "boolean"},
    "last_login_at": {"type": "string", "format": "date-time", "nullable": True}},
    "required": ["id", "username", "name", "roles", "active", "second_factor",
                 "must_change_password"]}


def user_admin_json(user: User, second_factors: set[int] | None = None) -> dict[str, Any]:
    """The account; ``second_factors``: which of a page's users have a second factor,
    when already read (``second_factors_among``)."""
    on = (user.id in second_factors) if second_factors is not None else second_factor_on(user)
    return {"id": user.id, "username": user.username, "name": user.name, "email": user.email,
            "roles": sorted(user.roles),
            "organization": user.organization.name if user.organization else None,
            "active": user.active, "second_factor": on,
            "must_change_password": user.must_change_password,
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None}


def _person(user_id: int) -> User:
    actor = current_api_user()
    allow(account_keeper(actor), "只有系统管理员可以管理用户账户")
    return found(db.session.get(User, user_id), actor, account_keeper, what="用户")


@api_bp.get("/v1/users")
@document("用户列表（系统管理员）：与用户管理页相同的搜索、角色筛选、排序和 Excel 导出",
          params=api_params(USERS), media=XLSX, response=page_schema(USER_ADMIN_SCHEMA),
          responses={200: "列表；export=xlsx 时为 Excel 文件", 403: "不是系统管理员",
                     422: "参数有误"})
@token_required
def list_users() -> Response:
    user = current_api_user()
    allow(account_keeper(user), "只有系统管理员可以管理用户账户")
    def items(rows: list[User]) -> list[dict[str, Any]]:
        on = second_factors_among(rows)  # the page's users' at once, not per row
        return [user_admin_json(u, on) for u in rows]

    return api_page(USERS, user, items)


@api_bp.post("/v1/users/<int:user_id>/sign-out")
@document("强制下线（系统管理员）：结束该用户全部网页登录，作废全部令牌",
          response={"type": "object", "properties": {
              "sessions_ended": {"type": "integer"}, "tokens_revoked": {"type": "integer"}},
              "required": ["sessions_ended", "tokens_revoked"]},
          responses={200: "已强制下线", 403: "不是系统管理员", 404: "用户不存在"})
@token_required
def sign_out_user(user_id: int) -> Response:
    no_body()
    ended, revoked = passwords.sign_out_everywhere(current_api_user(), _person(user_id),
                                                   request.remote_addr)
    return jsonify({"sessions_ended": ended, "tokens_revoked": revoked})


@api_bp.post("/v1/users/<int:user_id>/password-reset")
@document("重置密码（系统管理员）：给出临时密码（只此一次），该用户下次登录须先修改；"
          "其登录和令牌随即失效",
          response={"type": "object", "properties": {
              "temporary_password": {"type": "string"}}, "required": ["temporary_password"]},
          responses={200: "临时密码", 403: "不是系统管理员", 404: "用户不存在"})
@token_required
def reset_user_password(user_id: int) -> Response:
    no_body()
    word = passwords.reset_password(current_api_user(), _person(user_id), request.remote_addr)
    return jsonify({"temporary_password": word})


@api_bp.post("/v1/users/<int:user_id>/second-factor-reset")
@document("重置两步验证（系统管理员，如用户遗失手机）：删除其验证器和恢复码，结束其登录",
          response=DONE_SCHEMA,
          responses={200: "已重置", 403: "不是系统管理员", 404: "用户不存在",
                     409: "该用户尚未启用两步验证"})
@token_required
def reset_user_second_factor(user_id: int) -> Response:
    no_body()
    second_factor.reset(current_api_user(), _person(user_id), request.remote_addr)
    return jsonify({"message": "已重置两步验证"})


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
