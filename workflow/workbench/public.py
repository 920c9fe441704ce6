"""Public pages, no login: projects on notice (公示) with written objections, and the
verification of documents by the code printed on them."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request

from workflow.core import uow
from workflow.core.errors import Invalid, ServiceError, Throttled
from workflow.core.models import db
from workflow.decisions import notices
from workflow.decisions.lists import PUBLIC_NOTICES
from workflow.documents import official, verification
from workflow.web import listing

bp = Blueprint("public", __name__, url_prefix="")


@bp.route("/public/notices")
def notice_list() -> str:
    """A page of the projects on notice (by call, 50 a page), with the total; the page's
    list region alone for htmx's page links."""
    page = listing.run(PUBLIC_NOTICES, None, listing.parse(PUBLIC_NOTICES, None, request.args))
    context = {
        "l": page, "contact": current_app.config["NOTICE_CONTACT"],
        "by_call": [(call, list(apps))
                    for call, apps in groupby(page.rows, key=lambda a: a.call)],
        "numbers": {a.id: page.first + i for i, a in enumerate(page.rows)},
        "objected": {a.id for a in page.rows if notices.under_objection(a)}}
    if listing.wants_region(page.id):
        return listing.render_block("public/notices.html", "list", **context)
    return render_template("public/notices.html", **context)


@bp.route("/public/notices/<int:app_id>/objection", methods=["GET", "POST"])
def objection(app_id: int) -> Any:
    try:
        app = notices.notice_entry(app_id)
    except ServiceError:
        abort(404)
    fields = {k: request.form.get(k, "")[:6000]
              for k in ("name", "contact", "organization", "text")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            with db.session.begin_nested():
                receipt = notices.submit_objection(app.id, fields, request.remote_addr)
            return render_template("public/objection_done.html", app=app, receipt=receipt)
        except Invalid as err:
            errors = dict(err.details or {})
            return render_template("public/objection.html", app=app, fields=fields,
                                   errors=errors, message=err.message), 422
        except ServiceError as err:  # too many from this address: how long to wait
            return render_template("public/objection.html", app=app, fields=fields,
                                   errors={}, message=err.message), err.status, err.headers
    return render_template("public/objection.html", app=app, fields=fields, errors=errors,
                           message=None)


@bp.route("/verify", methods=["GET", "POST"])
@bp.route("/verify/<code>", methods=["GET", "POST"])
@uow.writes  # counts the lookups (official.count_lookup)
def verify(code: str | None = None) -> Any:
    """Is a document genuine? By the code printed on it; then by its SHA-256 or the file
    itself, compared with the stored original; a file's digital signature too."""
    code = (request.values.get("code") or code or "")[:40]

    def page(status: int = 200, **shown: Any) -> Any:
        values: dict[str, Any] = {"code": code, "doc": None, "outcome": None,
                                  "signature": None, "message": None,
                                  "kinds": official.KINDS, **shown}
        return render_template("public/verify.html", **values), status

    if code or request.method == "POST":
        try:
            official.count_lookup(request.remote_addr)
        except Throttled as err:
            return (*page(err.status, message=err.message), err.headers)
    doc = official.by_code(code) if code else None
    upload = request.files.get("file")
    if request.method == "POST" and upload is not None and upload.filename:
        if code and doc is None:
            return page(404, message="未找到该验证码对应的文件")
        try:
            found = verification.verify_file(verification.read_pdf(upload.stream),
                                             code or None)
        except ServiceError as err:
            return page(err.status, doc=doc, message=err.message)
        return page(doc=found.doc, outcome=found.outcome, signature=found.signature,
                    verdict=found.message)
    digest = (request.form.get("sha256") or "").strip().lower()[:64]
    outcome: str | None = None
    if request.method == "POST" and digest:
        if doc is not None:
            outcome = "genuine" if official.matches(doc, digest) else "different"
        else:
            doc = official.by_hash(digest)
            outcome = "genuine" if doc is not None else "unknown"
    if code and doc is None and request.method == "GET":
        return page(404, message="未找到该验证码对应的文件")
    return page(doc=doc, outcome=outcome)
