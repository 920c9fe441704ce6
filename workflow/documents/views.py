"""The documents' pages: a stored PDF, for whoever may read it."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
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


@bp.route("/applications/<int:app_id>/documents")
@login_required
def application_documents(app_id: int) -> tuple[str, int]:
    """The application page's archival documents as a fragment, polled by htmx while a
    PDF is being rendered: 286 (htmx: stop polling) once none is awaited."""
    from workflow.applying.models import Application
    from workflow.applying.visibility import READ_REFUSED
    from workflow.core.entities import can_read, can_view
    from workflow.core.models import db
    from workflow.permissions import allow, found

    app = found(db.session.get(Application, app_id), current_user, can_view, what="申报书")
    allow(can_read(current_user, app), READ_REFUSED, code="not_reader")
    docs = documents.documents_of(app)
    pending = documents.pending_rounds(app, docs)
    html = render_template("documents/_application_documents.html", app=app, documents=docs,
                           pending=pending, fragment=True)
    return html, 200 if pending else 286
