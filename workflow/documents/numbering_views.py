"""The office's 发文字号 pages (系统设置 › 发文字号): each kind's numbering, the register
with the documents waiting for a number, and the form that enters one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.core import numbering
from workflow.core.errors import ServiceError
from workflow.core.models import db
from workflow.documents import issuing
from workflow.documents.lists import REGISTER, state_of
from workflow.permissions import allow, number_keeper
from workflow.web import flash_refusal, listing

bp = Blueprint("numbering", __name__, url_prefix="/admin/numbering")
REFUSED = "只有项目主管可以管理发文字号"


def _keeper() -> None:
    allow(number_keeper(current_user), REFUSED)


def _errors(err: ServiceError) -> dict[str, str]:
    return {str(k): str(v) for k, v in (err.details or {}).items()} \
        if isinstance(err.details, dict) else {}


@bp.route("")
@login_required
def index() -> str:
    _keeper()
    return render_template("numbering/index.html", kinds=issuing.overview(current_user),
                           modes=list(numbering.NumberingMode), errors={}, given={})


@bp.route("/<kind>", methods=["POST"])
@login_required
def configure(kind: str) -> Response | tuple[str, int]:
    _keeper()
    numbering.setting(kind)  # an unknown kind: 404
    given = {k: request.form.get(k, "")[:100] for k in ("mode", "prefix", "next_number")}
    try:
        with db.session.begin_nested():
            done = issuing.configure(current_user, kind, given["mode"], given["prefix"],
                                     given["next_number"], request.remote_addr)
    except ServiceError as err:
        flash_refusal(err)
        return render_template("numbering/index.html",
                               kinds=issuing.overview(current_user),
                               modes=list(numbering.NumberingMode),
                               errors={kind: _errors(err)}, given={kind: given}), err.status
    how = "按流水号自动编号，下一个号为" + done.next_example \
        if done.mode is numbering.NumberingMode.sequence else "办公室逐件录入文号"
    flash(f"已保存{done.label}的编号方式：{how}", "info")
    return redirect(url_for("numbering.index"))


@bp.route("/documents")
@login_required
def register() -> Any:
    _keeper()
    return listing.respond(REGISTER, "numbering/register.html", user=current_user,
                           kinds=numbering.KINDS, state_of=state_of)


@bp.route("/documents/<int:row_id>", methods=["GET", "POST"])
@login_required
def enter(row_id: int) -> Response | str | tuple[str, int]:
    _keeper()
    row = issuing.register_row(current_user, row_id)
    value = ""
    if request.method == "POST":
        value = request.form.get("number", "")[:200]
        try:
            with db.session.begin_nested():
                issuing.enter_number(current_user, row.id, value, request.remote_addr)
        except ServiceError as err:
            flash_refusal(err)
            return render_template("numbering/enter.html", row=row, value=value,
                                   kinds=numbering.KINDS, errors=_errors(err)), err.status
        flash(f"已编号：{row.number}。文件将在几秒内生成。", "info")
        return redirect(url_for("numbering.register"))
    return render_template("numbering/enter.html", row=row, value=value,
                           kinds=numbering.KINDS, errors={})
