"""Pages for calls, challenges and applications, up to formal review."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from forms import parse_id
from forms.commitments import (
    COMMITMENT_TEXT,
    COMMITMENT_TITLE,
    NEGATIVE_LIST,
    PLEDGE_TEXT,
    PLEDGE_TITLE,
)
from forms.schema import to_input
from workflow.accounts.lists import SANCTIONS, period_of
from workflow.accounts.models import Organization
from workflow.applying import formal_review
from workflow.applying import operations as svc
from workflow.applying.lists import (
    APPLICATIONS,
    filterable_organizations,
    suggest_organizations,
)
from workflow.applying.models import Application
from workflow.applying.visibility import READ_REFUSED
from workflow.calls import operations as call_svc
from workflow.calls.lists import CALLS
from workflow.calls.models import Call, Scheme
from workflow.calls.operations import form_fields
from workflow.calls.views import managed_call
from workflow.core import engine, files, uow
from workflow.core.entities import can_read, can_view
from workflow.core.errors import Invalid, ServiceError
from workflow.core.models import db, utcnow
from workflow.permissions import allow, applicant, found, integrity_reader, officer
from workflow.timeutil import local_time
from workflow.web import field_errors, flash_refusal
from workflow.web import listing as listing_mod

bp = Blueprint("applying", __name__)
# What the application's form answers of the submission's guards (form_complete, signed):
# a draft waiting only for them is work for its applicant on that page.
EDIT_PAGE_ANSWERS = frozenset({"title_missing", "fields_missing", "field_invalid",
                               "challenge_missing", "commitment_unsigned", "pledge_unsigned"})


# ---- calls ------------------------------------------------------------------------------

@bp.route("/calls")
@login_required
def calls() -> Response | str:
    return listing_mod.respond(CALLS, "calls/list.html", user=current_user, context=lambda page: {
        "open_ids": ({c.id for c in page.rows if call_svc.open_for_applications(c)}
                     if applicant(current_user) else set())})


@bp.route("/calls/<int:call_id>/attachments", methods=["POST"])
@login_required
def upload_guide(call_id: int) -> Response:
    call = managed_call(call_id)
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise Invalid("请选择要上传的文件")
        with db.session.begin_nested():
            call_svc.attach_guide(current_user, call, file.filename, file.stream)
        flash(f"已上传：{file.filename}", "info")
    except ServiceError as err:
        flash(f"上传失败：{err.message}", "error")
    return redirect(url_for("entities.show", collection="calls", entity_id=call_id))


@bp.route("/calls/<int:call_id>/attachments/<int:att_id>")
@login_required
def guide_file(call_id: int, att_id: int) -> Response:
    from workflow.core.models import Attachment

    call = db.session.get(Call, call_id)
    row = db.session.get(Attachment, att_id)
    if call is None or row is None or row.call_id != call.id or not can_view(current_user, call):
        abort(404)
    return files.send_attachment(row)


@bp.route("/calls/<int:call_id>/challenges/new", methods=["GET", "POST"])
@login_required
def new_challenge(call_id: int) -> Response | str | tuple[str, int]:
    call = managed_call(call_id)
    orgs = list(db.session.scalars(sa.select(Organization).order_by(Organization.name)))
    if request.method == "POST":
        data: dict[str, Any] = {k: request.form.get(k, "") for k in (
            "title", "description", "ceiling", "duration_months", "max_teams",
            "demand_org_uscc")}
        try:
            for key in ("indicators", "milestone_template"):
                try:
                    data[key] = json.loads(request.form.get(key) or "[]")
                except (ValueError, RecursionError) as err:
                    raise Invalid("榜单信息有误", details={key: "不是合法的 JSON"}) from err
            with db.session.begin_nested():
                call_svc.add_challenge(current_user, call, data)
            flash("榜单已发布到本批次", "info")
            return redirect(url_for("entities.show", collection="calls", entity_id=call.id))
        except ServiceError as err:
            flash(err.message, "error")
            return render_template("calls/challenge.html", call=call, orgs=orgs,
                                   form=request.form, errors=err.details or {}), err.status
    return render_template("calls/challenge.html", call=call, orgs=orgs, form={}, errors={})


# ---- applications -----------------------------------------------------------------------

@bp.route("/applications")
@login_required
def applications() -> Response | str:
    def selectable(listing: listing_mod.Listing) -> dict[str, Any]:
        # The bulk formal review, for the officer: the rows they may pass, return or
        # reject (by role and state: the eligibility of each is checked when sent), and
        # how many match the search and filters on every page (选择全部符合条件的 N 份).
        if not officer(current_user):
            return {"selectable": None, "matching": None}
        filters = formal_review.list_filters(listing.query_args())
        decidable: int | None = listing.also
        if listing.capped:
            # A search matching more than COUNT_CAP rows is not counted through: with the
            # list filtered to a state awaiting review every row awaits it ("10,000 余份":
            # the job counts what it does); else the page asks for that filter.
            waiting = listing.value("state") in {s.value for s in formal_review.DECIDABLE}
            decidable = listing.total if waiting else None
        return {"selectable": {a.id for a in listing.rows
                               if engine.permitted(a, "pass_formal_review", current_user)},
                "matching": {"count": decidable, "capped": listing.capped,
                             "elsewhere": None if decidable is None or listing.capped
                             else listing.total - decidable,
                             "filters": urlencode(filters)}}

    # The officer's rows awaiting formal review, counted with the list's (the bulk
    # review's "all that match"; ``formal_review.count_decidable`` counts them alike).
    return listing_mod.respond(
        APPLICATIONS, "applications/list.html", user=current_user, context=selectable,
        also=formal_review.awaiting() if officer(current_user) else None)


@bp.route("/applications/organizations")
@login_required
def organization_choices() -> Response:
    """The list's organisation filter as one types: at most ten suggestions (a
    datalist's options), for those who may filter by organisation."""
    allow(filterable_organizations(current_user) is not None, "无权按单位筛选")
    text = request.args.get("organization", "") or request.args.get("q", "")
    return Response(render_template("applications/_organization_choices.html",
                                     choices=suggest_organizations(current_user, text)),
                    mimetype="text/html")


@bp.route("/applications/new", methods=["GET", "POST"])
@login_required
def new_application() -> Response | str | tuple[str, int]:
    call_id = request.values.get("call", "")
    call = db.session.get(Call, parse_id(call_id)) if parse_id(call_id) else None
    if call is None or not can_view(current_user, call):
        abort(404)
    if request.method == "POST":
        challenge = request.form.get("challenge", "")
        try:
            with db.session.begin_nested():
                app = svc.create_draft(current_user, call.id, request.form.get("title"),
                                       parse_id(challenge) if challenge else None)
            return redirect(url_for("applying.edit_application", app_id=app.id))
        except ServiceError as err:
            flash(err.message, "error")
            return render_template("applications/new.html", call=call, form=request.form,
                                   errors=err.details or {}), err.status
    return render_template("applications/new.html", call=call,
                           form={"challenge": request.args.get("challenge", "")}, errors={})


def _own_app(app_id: int) -> Application:
    """The application whose form and files the page opens: not found for whoever may not
    see it, refused to whoever sees it but may not read it (a colleague)."""
    app = found(db.session.get(Application, app_id), current_user, can_view, what="申报书")
    allow(can_read(current_user, app), READ_REFUSED, code="not_reader")
    return app


def form_to_data(fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The edit page's inputs → the application's data, by the form's field types."""
    data: dict[str, Any] = {}
    for fld in fields:
        name, kind = fld["name"], fld.get("type")
        key = f"f_{name}"
        if kind == "file":
            continue  # uploaded on their own
        if kind == "multichoice":
            data[name] = request.form.getlist(key)
        elif kind == "persons":
            rows = []
            for i in range(int(fld.get("max_rows", 30))):
                row = {c: request.form.get(f"{key}-{i}-{c}", "").strip()
                       for c in ("name", "id_number", "org", "role", "title")}
                if any(row.values()):
                    rows.append(row)
            data[name] = rows
        elif kind == "org":
            data[name] = {"name": request.form.get(f"{key}-name", "").strip(),
                          "uscc": request.form.get(f"{key}-uscc", "").strip()}
        elif key in request.form:
            data[name] = request.form[key]
    return data


def _jiebang_data(app: Application) -> dict[str, Any]:
    if app.challenge is None:
        return {}
    answers = {i["name"]: request.form.get(f"ind-{n}", "")
               for n, i in enumerate(app.challenge.indicators)}
    milestones = []
    for n in range(10):
        label = request.form.get(f"ms-{n}-label", "").strip()
        if label:
            milestones.append({"label": label,
                               "amount_wan": request.form.get(f"ms-{n}-amount", ""),
                               "months": request.form.get(f"ms-{n}-months", "")})
    return {"indicators": answers, "milestones": milestones}


def anchor_of(key: str, fields: list[dict[str, Any]]) -> str | None:
    """The id of the input an error of the application form is about (its link in the
    summary of errors), or None for an error about no input."""
    kinds = {f["name"]: f.get("type") for f in fields}
    cell = re.fullmatch(r"(\w+)\[(\d+)\]\.(\w+)", key)
    if cell:
        return f"f_{cell[1]}-{cell[2]}-{cell[3]}"
    name, _, part = key.partition(".")
    if key in ("title", "commitment", "pledge", "indicators", "milestones"):
        return {"commitment": "sign-button", "pledge": "sign-button", "indicators": "ind-0",
                "milestones": "ms-0-label"}.get(key, key)
    kind = kinds.get(name)
    if kind is None:
        return None
    if part:
        return f"f_{name}-{part}"
    return {"persons": f"f_{name}-0-name", "org": f"f_{name}-name",
            "multichoice": f"f_{name}-0", "file": "att-file"}.get(str(kind), f"f_{name}")


def _render_edit(app: Application, errors: dict[str, str], status: int = 200,
                 values: dict[str, Any] | None = None) -> tuple[str, int]:
    from states import APPLICATION
    from states.progress import progress
    from workflow.core import audit

    fields = form_fields(app.call, app.form_version)
    if values is None:
        values = {**(app.data or {}), **to_input(fields, app.data or {})}
    editable = svc.may_edit(current_user, app)
    # Revising a returned application: the opinion it was returned with, above the form.
    last = svc.rounds(app)[-1:] if editable else []
    opinion = last[0].outcome_comment if last and last[0].outcome == "return" else None
    moves = [(e.from_state, e.to_state, e.at) for e in audit.history("application", app.id)]
    return render_template(
        "applications/edit.html", app=app, fields=fields, values=values,
        editable=editable, return_opinion=opinion, steps=progress(APPLICATION, app.state, moves),
        errors=errors, anchors={k: anchor_of(k, fields) for k in errors},
        attachments=svc.attachments_of(app),
        labels={f["name"]: f["label"] for f in fields},
        commitment=(COMMITMENT_TITLE, COMMITMENT_TEXT, NEGATIVE_LIST),
        pledge=(PLEDGE_TITLE, PLEDGE_TEXT), baogan=app.call.scheme is Scheme.baogan,
        signature=app.signature(app.commitment_document),
        limits=submission_limits(app) if editable else [],
    ), status


# The submission's eligibility guards the applicant sees before submitting (限项, 科研失信,
# an overdue annual report), each with how to clear it.
LIMIT_GUARDS = ("within_limits", "integrity_clear", "no_overdue_annual_report")


def submission_limits(app: Application) -> list[str]:
    from workflow.core.registry import GUARDS
    from workflow.core.rules import GuardContext

    ctx = GuardContext(row=app, actor=current_user, role="applicant", comment="", data={},
                       now=utcnow(), trigger="submit")
    return [r.message for name in LIMIT_GUARDS if name in GUARDS for r in GUARDS[name](ctx)]


@bp.route("/applications/<int:app_id>/edit", methods=["GET", "POST"])
@login_required
def edit_application(app_id: int) -> Response | str | tuple[str, int]:
    app = _own_app(app_id)
    if request.method == "GET":
        return _render_edit(app, {})
    fields = form_fields(app.call, app.form_version)
    data = {**form_to_data(fields), **_jiebang_data(app)}
    action = request.form.get("action", "save")
    version = request.form.get("version", "")
    try:
        with db.session.begin_nested():
            svc.save_draft(current_user, app, request.form.get("title"), data,
                           parse_id(version))
            if action == "sign":
                svc.sign(current_user, app)
        if action == "submit":
            uow.keep()  # what was typed is kept even if the submission is refused
            with db.session.begin_nested():
                svc.submit(current_user, app, ip=request.remote_addr)
    except ServiceError as err:
        errors = field_errors(err)
        flash_refusal(err, placed=errors)
        db.session.expire_all()
        app = _own_app(app_id)
        return _render_edit(app, errors, err.status,
                            values={**(app.data or {}), **data, "title": request.form.get(
                                "title", app.title)})
    if action == "submit":
        flash(f"申报书已提交，受理回执号：{app.receipt_no}", "info")
        return redirect(url_for("entities.show", collection="applications", entity_id=app.id))
    flash("已签署" if action == "sign" else "已保存", "info")
    return redirect(url_for("applying.edit_application", app_id=app.id))


@bp.route("/applications/<int:app_id>/autosave", methods=["POST"])
@login_required
def autosave(app_id: int) -> tuple[Response, int]:
    app = _own_app(app_id)
    fields = form_fields(app.call, app.form_version)
    data = {**form_to_data(fields), **_jiebang_data(app)}
    try:
        svc.save_draft(current_user, app, request.form.get("title"), data,
                       parse_id(request.form.get("version", "")))
    except ServiceError as err:
        return jsonify({"saved": False, "message": err.message,
                        "errors": err.details if isinstance(err.details, dict) else {}}), \
            err.status
    # The time the draft was saved, as the page says it (Beijing time, like every time).
    return jsonify({"saved": True, "version": app.version,
                    "saved_at": local_time(utcnow(), "%H:%M")}), 200


@bp.route("/applications/<int:app_id>/attachments", methods=["POST"])
@login_required
def upload(app_id: int) -> Response:
    app = _own_app(app_id)
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise Invalid("请选择要上传的文件")
        with db.session.begin_nested():
            svc.attach(current_user, app, request.form.get("field", ""), file.filename,
                       file.stream)
        flash(f"已上传：{file.filename}", "info")
    except ServiceError as err:
        flash(f"上传失败：{err.message}", "error")
    return redirect(url_for("applying.edit_application", app_id=app_id))


@bp.route("/applications/<int:app_id>/attachments/<sha256>")
@login_required
def download(app_id: int, sha256: str) -> Response:
    app = _own_app(app_id)
    try:
        row = svc.attachment_for(current_user, app, sha256)
    except ServiceError:
        abort(404)
    return files.send_attachment(row)


@bp.route("/applications/<int:app_id>/withdraw", methods=["POST"])
@login_required
def withdraw(app_id: int) -> Response:
    app = _own_app(app_id)
    try:
        with db.session.begin_nested():
            engine.fire(engine.load("application", app.id, lock=True), "withdraw",
                        current_user, comment=request.form.get("comment", ""),
                        ip=request.remote_addr)
        flash("申报书已撤回", "info")
    except ServiceError as err:
        flash_refusal(err)
    return redirect(url_for("entities.show", collection="applications", entity_id=app_id))


# ---- formal review (one at a time: on the application's page, workbench/entities.py) ---

@bp.route("/applications/bulk", methods=["POST"])
@login_required
def bulk() -> Response:
    ids = [i for i in (parse_id(v) for v in request.form.getlist("ids")) if i is not None]
    allow(officer(current_user), "只有项目主管可以进行形式审查")
    # The list as it was shown (its search and filters): every matching row when chosen,
    # and the page the officer comes back to.
    shown = formal_review.list_filters(dict(parse_qsl(request.form.get("filters", ""))))
    every = request.form.get("scope") == "matching"
    back: dict[str, Any] = dict(shown) if "filters" in request.form else {
        "state": "formal_review"}
    # Checked now, done by the worker: the list comes back with the job's progress.
    try:
        with db.session.begin_nested():
            job = formal_review.start_bulk(current_user, ids, request.form.get("decision", ""),
                                           request.form.get("comment", ""),
                                           request.remote_addr, shown if every else None)
    except ServiceError as err:
        flash_refusal(err)
        return redirect(url_for("applying.applications", **back))
    return redirect(url_for("applying.applications", **back, job=job.id))


@bp.route("/integrity", methods=["GET", "POST"])
@login_required
def integrity_list() -> Response | str | tuple[Response | str, int]:
    from workflow.accounts import integrity

    allow(integrity_reader(current_user), "只有项目主管、领导和审计人员可以查看科研失信名单")
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            with db.session.begin_nested():
                integrity.add_sanction(current_user, {
                    **request.form.to_dict(), "measures": request.form.getlist("measures")})
            flash("已记入科研失信名单", "info")
            return redirect(url_for("applying.integrity_list"))
        except ServiceError as err:
            flash(err.message, "error")
            errors, status = (err.details if isinstance(err.details, dict) else {}), err.status
    page = listing_mod.respond(SANCTIONS, "calls/integrity.html", user=current_user,
                               form=request.form, errors=errors, period_of=period_of,
                               measures=integrity.MEASURES)
    return (page, status) if status != 200 else page
