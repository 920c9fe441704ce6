"""``/api/v1``: the stored PDFs of an application, and any document by its id."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from workflow.accounts.tokens import current_api_user, token_required
from workflow.api import api_bp
from workflow.api.openapi import document
from workflow.applying.models import Application
from workflow.core.entities import can_view
from workflow.core.errors import NotFound
from workflow.core.models import db
from workflow.documents import operations as documents


def document_json(doc: Any) -> dict[str, Any]:
    return {"id": doc.id, "kind": doc.kind, "round": doc.round, "title": doc.title,
            "doc_number": doc.doc_number, "sha256": doc.sha256, "size": doc.size,
            "pages": doc.pages, "created_at": doc.created_at.isoformat(),
            "url": f"/api/v1/documents/{doc.id}"}


@api_bp.get("/v1/applications/<int:app_id>/documents")
@document("申报书的归档文件（PDF）", responses={200: "列表", 404: "不存在或无权查看"})
@token_required
def list_documents(app_id: int) -> Response:
    app = db.session.get(Application, app_id)
    if app is None or not can_view(current_api_user(), app):
        raise NotFound("申报书不存在或无权查看")
    return jsonify({"items": [document_json(d) for d in documents.documents_of(app)]})


@api_bp.get("/v1/documents/<int:doc_id>")
@document("下载文件（PDF）", responses={200: "PDF", 404: "不存在或无权查看"})
@token_required
def get_document(doc_id: int) -> Response:
    return documents.send_document(documents.readable(current_api_user(), doc_id))
