"""``/api/v1``: the stored PDFs of an application or of a call, and any document by its
id."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp, multipart_fields
from workflow.api.openapi import DATE_TIME, document, items_of, nullable
from workflow.applying.models import Application
from workflow.applying.visibility import READ_REFUSED
from workflow.calls.models import Call
from workflow.core import uow
from workflow.core.entities import can_read, can_view
from workflow.core.errors import Invalid, NotFound
from workflow.core.models import db
from workflow.documents import official, signing, verification
from workflow.documents import operations as documents
from workflow.documents.official import KINDS
from workflow.permissions import allow, found


def document_json(doc: Any) -> dict[str, Any]:
    return {"id": doc.id, "kind": doc.kind, "round": doc.round, "title": doc.title,
            "doc_number": doc.doc_number, "sha256": doc.sha256, "size": doc.size,
            "pages": doc.pages, "created_at": doc.created_at.isoformat(),
            "url": f"/api/v1/documents/{doc.id}"}


DOCUMENT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "integer"},
    "kind": {"type": "string", "enum": list(KINDS),
             "description": "、".join(f"{k}（{v}）" for k, v in KINDS.items())},
    "round": {"type": "integer", "description": "申报书为提交轮次，拨付通知为拨付批次序号"},
    "title": {"type": "string"}, "doc_number": {"type": "string", "nullable": True},
    "sha256": {"type": "string"}, "size": {"type": "integer"}, "pages": {"type": "integer"},
    "created_at": {"type": "string", "format": "date-time"},
    "url": {"type": "string", "description": "下载地址"}},
    "required": ["id", "kind", "round", "title", "doc_number", "sha256", "size", "pages",
                 "created_at", "url"]}
DOCUMENTS_SCHEMA: dict[str, Any] = items_of(DOCUMENT_SCHEMA)


@api_bp.get("/v1/applications/<int:app_id>/documents")
@document("申报书的归档文件（PDF）", responses={200: "列表", 403: "无权查看其内容",
                                          404: "不存在或无权查看"},
          response=DOCUMENTS_SCHEMA)
@token_required
def list_documents(app_id: int) -> Response:
    user = current_api_user()
    app = found(db.session.get(Application, app_id), user, can_view, what="申报书")
    allow(can_read(user, app), READ_REFUSED, code="not_reader")
    return jsonify({"items": [document_json(d) for d in documents.documents_of(app)]})


@api_bp.get("/v1/calls/<int:call_id>/documents")
@document("指南的归档文件（PDF）：立项文件，在该指南的项目全部结束公示后由系统出具",
          responses={200: "列表（尚未出具时为空）", 404: "不存在或无权查看"},
          response=DOCUMENTS_SCHEMA)
@token_required
def list_call_documents(call_id: int) -> Response:
    # The same documents and the same rule as the call's page: whoever may read the call.
    call = db.session.get(Call, call_id)
    if call is None or not can_view(current_api_user(), call):
        raise NotFound("申报指南不存在")
    return jsonify({"items": [document_json(d) for d in documents.call_documents(call)]})


@api_bp.get("/v1/documents/<int:doc_id>")
@document("下载文件（PDF）", media="application/pdf",
          responses={200: "PDF", 404: "不存在或无权查看"})
@token_required
def get_document(doc_id: int) -> Response:
    return documents.send_document(documents.readable(current_api_user(), doc_id))


# ---- public verification (公文真伪验证) --------------------------------------------------

VERIFIED_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "valid": {"type": "boolean",
              "description": "验证码对应本系统出具的文件；给出 sha256 时还须与存档文件一致"},
    "outcome": {"type": "string", "enum": ["found", "genuine", "different", "unknown"],
                "description": "found：验证码有效（未核对文件）；genuine：与存档文件一致；"
                               "different：与存档文件不一致，可能被改动；unknown：未找到一致的"
                               "存档文件"},
    "code": {"type": "string", "nullable": True, "description": "验证码（XXXX-XXXX-XXXX-XXXX）"},
    "document": {"type": "object", "nullable": True, "properties": {
        "kind": {"type": "string", "enum": list(KINDS)}, "kind_label": {"type": "string"},
        "title": {"type": "string"}, "doc_number": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "pages": {"type": "integer"}, "size": {"type": "integer"},
        "sha256": {"type": "string", "description": "存档文件的 SHA-256"}}}},
    "required": ["valid", "outcome", "code", "document"]}
SHA256_PARAM: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$",
                                "description": "要核对的文件的 SHA-256（64位十六进制）"}


def verified_json(doc: Any, outcome: str) -> dict[str, Any]:
    return {"valid": outcome in ("found", "genuine"), "outcome": outcome,
            "code": official.format_code(doc.code) if doc.code else None,
            "document": {"kind": doc.kind, "kind_label": KINDS.get(doc.kind, doc.kind),
                         "title": doc.title, "doc_number": doc.doc_number,
                         "created_at": doc.created_at.isoformat(), "pages": doc.pages,
                         "size": doc.size, "sha256": doc.sha256}}


def _sha256(required: bool) -> str | None:
    raw = request.args.get("sha256", "").strip().lower()
    if not raw and not required:
        return None
    if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
        raise Invalid("sha256 应为64位十六进制", details={"sha256": "应为64位十六进制的 SHA-256"})
    return raw


VERIFY_LIMIT = "同一地址查询过于频繁（每分钟次数有限，Retry-After 给出需等待的秒数）"


@api_bp.get("/v1/verify/<code>")
@document("公文真伪验证（公开，无需登录，与验证页面相同）：文件上二维码旁的验证码对应的文件"
          "（类型、标题、文号、生成时间）；给出 sha256 时核对文件是否与存档文件一致",
          auth=False, params={"sha256": SHA256_PARAM}, response=VERIFIED_SCHEMA,
          responses={200: "验证码有效（及核对结果）", 404: "未找到该验证码对应的文件",
                     422: "sha256 格式有误", 429: VERIFY_LIMIT})
@uow.writes  # counts the lookup (official.count_lookup)
def verify_code(code: str) -> Response:
    official.count_lookup(request.remote_addr)
    digest = _sha256(required=False)
    doc = official.by_code(code[:40])
    if doc is None:
        raise NotFound("未找到该验证码对应的文件")
    if digest is None:
        return jsonify(verified_json(doc, "found"))
    return jsonify(verified_json(doc, "genuine" if official.matches(doc, digest)
                                 else "different"))


@api_bp.get("/v1/verify")
@document("按文件的 SHA-256 核对是否为本系统出具的文件（公开，无需登录，与验证页面相同）",
          auth=False, params={"sha256": {**SHA256_PARAM, "required": True}},
          response=VERIFIED_SCHEMA,
          responses={200: "核对结果：genuine 及其文件，或 unknown", 422: "缺少 sha256 或格式有误",
                     429: VERIFY_LIMIT})
@uow.writes
def verify_hash() -> Response:
    official.count_lookup(request.remote_addr)
    digest = _sha256(required=True)
    doc = official.by_hash(digest or "")
    if doc is None:
        return jsonify({"valid": False, "outcome": "unknown", "code": None, "document": None})
    return jsonify(verified_json(doc, "genuine"))


SIGNATURE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "status": {"type": "string", "enum": list(signing.STATUSES),
               "description": "valid：本局证书签名、文件完整且签名覆盖整个文件；"
                              "unsigned：没有数字签名；broken：签名后文件被改动（签名无效）；"
                              "modified：签名有效，但签名后文件又被追加修改；foreign：签名完整，"
                              "但不是本局的证书（签名人见 signer）；unreadable：文件损坏，"
                              "无法读取签名"},
    "message": {"type": "string", "description": "对 status 的中文说明"},
    "signer": nullable("string", description="签名证书的名称（CN）"),
    "issuer": nullable("string", description="签名证书颁发者的名称（CN）"),
    "signed_at": nullable(DATE_TIME, description="签名时间（签名人声明的时间，UTC）"),
    "intact": {"type": "boolean", "description": "签名所覆盖的内容未被改动"},
    "trusted": {"type": "boolean", "description": "签名证书属于本局（链到配置的根证书）"},
    "whole_file": {"type": "boolean", "description": "签名覆盖整个文件（签名后没有追加内容）"},
    "reason": nullable("string", description="签名理由"),
    "location": nullable("string", description="签名地点")},
    "required": ["status", "message", "signer", "issuer", "signed_at", "intact", "trusted",
                 "whole_file", "reason", "location"]}
FILE_VERIFIED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **VERIFIED_SCHEMA["properties"],
        "outcome": {"type": "string", "enum": ["genuine", "different", "unknown"],
                    "description": "genuine：与存档文件一致；different：与验证码对应的"
                                   "存档文件不一致；unknown：未找到一致的存档文件"},
        "sha256": {"type": "string", "description": "上传文件的 SHA-256"},
        "message": {"type": "string", "description": "结论（中文）"},
        "signature": SIGNATURE_SCHEMA},
    "required": [*VERIFIED_SCHEMA["required"], "sha256", "message", "signature"]}


def signature_json(sig: signing.SignatureCheck) -> dict[str, Any]:
    return {"status": sig.status, "message": sig.message, "signer": sig.signer,
            "issuer": sig.issuer,
            "signed_at": sig.signed_at.isoformat() if sig.signed_at else None,
            "intact": sig.intact, "trusted": sig.trusted, "whole_file": sig.whole_file,
            "reason": sig.reason, "location": sig.location}


@api_bp.post("/v1/verify")
@document("上传文件核验（公开，无需登录，与验证页面相同；multipart：file，可选 code）："
          "是否与存档文件一致（给出验证码时与其对应的文件比较，否则按 SHA-256 查找），以及数字签名"
          "是否为本局证书所签、签名后是否未被改动",
          auth=False, multipart={"file": "binary", "code": {
              "type": "string", "description": "文件上二维码旁的验证码（可选）"}},
          required=("file",), response=FILE_VERIFIED_SCHEMA,
          responses={200: "核对结果", 404: "未找到该验证码对应的文件", 413: "文件过大",
                     415: "不是 PDF 文件", 422: "未选择文件或文件为空", 429: VERIFY_LIMIT})
@uow.writes
def verify_upload() -> Response:
    official.count_lookup(request.remote_addr)
    multipart_fields(("file", "code"))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid("请选择要核验的文件", details={"file": "必填"})
    data = verification.read_pdf(upload.stream)
    found = verification.verify_file(data, request.form.get("code", "")[:40] or None)
    if found.doc is not None:
        body = verified_json(found.doc, found.outcome)
    else:
        body = {"valid": False, "outcome": found.outcome, "code": None, "document": None}
    body.update(valid=found.valid, sha256=found.sha256, message=found.message,
                signature=signature_json(found.signature))
    return jsonify(body)
