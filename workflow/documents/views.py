"""The documents' pages: a stored PDF, for whoever may read it."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.core.errors import ServiceError
from workflow.documents import operations as documents

bp = Blueprint("documents", __name__)


@bp.route("/documents/<int:doc_id>")
@login_required
def document_pdf(doc_id: int) -> Response:
    try:
        doc = documents.readable(current_user, doc_id)
    except ServiceError:
        abort(404)
    return documents.send_document(doc)
