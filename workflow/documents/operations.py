"""Documents rendered by the worker with WeasyPrint, stored by SHA-256, rendered once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import render_template

from forms import schema
from forms.commitments import COMMITMENT_TEXT, COMMITMENT_TITLE, PLEDGE_TEXT, PLEDGE_TITLE
from workflow.accounts.models import User
from workflow.applying.models import Application, ApplicationRound
from workflow.applying.operations import attachments_of
from workflow.calls.models import Call
from workflow.calls.operations import form_fields
from workflow.core.entities import can_read, can_view
from workflow.core.errors import NotFound
from workflow.core.files import store
from workflow.core.models import db, utcnow
from workflow.documents.models import Document
from workflow.documents.pdf import html_to_pdf
from workflow.timeutil import local_time

log = logging.getLogger(__name__)

ROUND_SUBMITTED = "application.round_submitted"


def render_application(app_id: int, round_no: int) -> Document | None:
    """The archival PDF of what was submitted in ``round_no``; None if there is none."""
    existing = db.session.scalar(sa.select(Document).where(
        Document.application_id == app_id, Document.kind == "application",
        Document.round == round_no))
    if existing is not None:
        return existing
    app = db.session.get(Application, app_id)
    sent = db.session.scalar(sa.select(ApplicationRound).where(
        ApplicationRound.application_id == app_id, ApplicationRound.round == round_no))
    if app is None or sent is None:
        return None
    fields = form_fields(app.call, app.form_version)
    baogan = app.challenge_id is None
    html = render_template(
        "documents/application.html", app=app, round=sent, fields=fields,
        shown=schema.shown_values(fields, sent.data), submitted_at=local_time(sent.submitted_at),
        attachments=attachments_of(app),
        signature=sent.data.get("commitment" if baogan else "pledge"),
        signature_title=COMMITMENT_TITLE if baogan else PLEDGE_TITLE,
        signature_text=COMMITMENT_TEXT if baogan else PLEDGE_TEXT,
    )
    rendered = html_to_pdf(html)
    sha = store().store(rendered.data)
    doc = Document(application_id=app_id, kind="application", round=round_no, sha256=sha,
                   size=len(rendered.data), pages=rendered.pages)
    db.session.add(doc)
    db.session.flush()
    return doc


def documents_of(app: Application) -> list[Document]:
    return list(db.session.scalars(sa.select(Document).where(
        Document.application_id == app.id).order_by(Document.id)))


# How long after a submission its archival PDF is awaited on the page (the worker renders
# it within seconds; after this the page stops saying it is being made).
PENDING_FOR = timedelta(minutes=5)


def pending_rounds(app: Application, documents: list[Document] | None = None,
                   now: datetime | None = None) -> list[int]:
    """The rounds submitted in the last few minutes whose archival PDF the worker has not
    rendered yet."""
    since = (now or utcnow()) - PENDING_FOR
    rendered = {d.round for d in (documents_of(app) if documents is None else documents)
                if d.kind == "application"}
    return list(db.session.scalars(sa.select(ApplicationRound.round).where(
        ApplicationRound.application_id == app.id, ApplicationRound.submitted_at >= since,
        ApplicationRound.round.not_in(rendered) if rendered else sa.true(),
    ).order_by(ApplicationRound.round)))


def call_documents(call: Call) -> list[Document]:
    return list(db.session.scalars(sa.select(Document).where(
        Document.call_id == call.id).order_by(Document.id)))


def can_view_document(user: User, doc: Document) -> bool:
    """An issued 立项文件 is read by whoever may read its call; an application's documents
    by whoever may read what is in the application (not a colleague who only sees it,
    never its experts)."""
    if doc.call_id is not None:
        call = db.session.get(Call, doc.call_id)
        return call is not None and can_view(user, call)
    app = db.session.get(Application, doc.application_id)
    return app is not None and can_read(user, app)


def readable(user: User, doc_id: int) -> Document:
    """The document, if ``user`` may read it (else not found)."""
    doc = db.session.get(Document, doc_id)
    if doc is None or not can_view(user, doc):
        raise NotFound("文件不存在")
    return doc


def download_name(doc: Document) -> str:
    from workflow.documents.official import KINDS

    label = KINDS.get(doc.kind, doc.kind)
    if doc.kind == "application":
        return f"{label}-{doc.application_id}-第{doc.round}次.pdf"
    return f"{label}-{doc.doc_number or doc.id}.pdf"


def send_document(doc: Document) -> Any:
    from flask import send_file

    return send_file(store().path(doc.sha256), mimetype="application/pdf",
                     as_attachment=True, download_name=download_name(doc))
