"""``/api/v1``: the stored PDFs of an application or of a call, and any document by its
id."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp
from workflow.api.openapi import document
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core.entities import can_view
from workflow.core.errors import NotFound
from workflow.core.models import db
from workflow.documents import operations as documents
from workflow.documents.official import KINDS


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
    "url": {"type": "string", "description": "下载地址"}}}
DOCUMENTS_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "items": {"type": "array", "items": DOCUMENT_SCHEMA}}}


@api_bp.get("/v1/applications/<int:app_id>/documents")
@document("申报书的归档文件（PDF）", responses={200: "列表", 404: "不存在或无权查看"},
          response=DOCUMENTS_SCHEMA)
@token_required
def list_documents(app_id: int) -> Response:
    app = db.session.get(Application, app_id)
    if app is None or not can_view(current_api_user(), app):
        raise NotFound("申报书不存在或无权查看")
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
