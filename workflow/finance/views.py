"""Pages for the money side: the finance queue, the ledger and its reconciliation,
milestones, the final report and the payee's bank account."""

from __future__ import annotations

from typing import IO, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.accounts.models import Organization
from workflow.applying.models import Application
from workflow.applying.visibility import can_view_application
from workflow.calls.models import Call
from workflow.calls.visibility import challenge_visible
from workflow.core.entities import can_view
from workflow.core.listing import filtered
from workflow.core.models import db
from workflow.finance import ledger
from workflow.finance import operations as finance
from workflow.finance.lists import RECONCILE, TRANCHES, ledger_of
from workflow.finance.models import Milestone
from workflow.permissions import allow, found, money_reader, officer
from workflow.web import attempt, listing

bp = Blueprint("finance", __name__)
# What the queue's inputs answer of the triggers' guards (the voucher and, above the
# threshold, the collective decision's reference are typed beside the button).
QUEUE_ANSWERS = frozenset({"payment_ref_missing", "collective_decision_missing"})


def _money_reader() -> None:
    allow(money_reader(current_user), "只有财务和项目主管、领导、审计人员可以查看经费")


@bp.route("/finance")
@login_required
def queue() -> Response | str:
    _money_reader()
    def around(page: listing.Listing) -> dict[str, Any]:
        shown = finance.queue_page(page.rows, current_user, QUEUE_ANSWERS)
        return {"options": shown.options, "changes": shown.changes}

    return listing.respond(TRANCHES, "finance/queue.html", user=current_user, context=around,
                           capital=finance.capital, conditions=finance.CONDITION_LABELS,
                           needs_decision_ref=finance.needs_decision_ref,
                           payee_of=finance.payee_of, payee_note=finance.payee_note)


def _call(call_id: int) -> Call:
    call = found(db.session.get(Call, call_id), current_user, can_view, what="申报指南")
    allow(money_reader(current_user), "只有财务和项目主管、领导、审计人员可以查看预算台账")
    return call


@bp.route("/calls/<int:call_id>/ledger")
@login_required
def call_ledger(call_id: int) -> Response | str:
    call = _call(call_id)
    spec, rows = ledger_of(call)
    return listing.respond(spec, "finance/ledger.html", user=current_user, base=rows,
                           call=call, rec=ledger.reconcile(call_id=call.id).calls[0])


@bp.route("/calls/<int:call_id>/ledger.xlsx")
@login_required
def call_ledger_xlsx(call_id: int) -> Response:
    """The whole ledger (or what the list's parameters select) as Excel."""
    spec, rows = ledger_of(_call(call_id))
    try:
        return listing.export(spec, current_user, listing.parse(spec, current_user,
                                                                request.args), rows)
    except listing.TooMany as err:
        flash(err.message, "error")
        query = request.query_string.decode()
        return redirect(url_for("finance.call_ledger", call_id=call_id) + (
            f"?{query}" if query else ""))


def _year() -> int | None:
    raw = request.args.get("year", "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and 2000 <= int(raw) <= 2100 else None


@bp.route("/finance/reconcile")
@login_required
def reconcile() -> Response | str:
    """A page of calls, each reconciled, and the whole selection's totals and verdict
    (aggregated in the database)."""
    _money_reader()

    def around(page: listing.Listing) -> dict[str, Any]:
        chosen = page.value("year")
        rec = ledger.reconcile(call_ids=[c.id for c in page.rows])
        chosen_calls = filtered(RECONCILE, current_user, page.params).with_only_columns(Call.id) \
            if page.params.filters or page.params.terms else None  # else every call
        whole = ledger.summary_of(rec) if page.total == len(page.rows) else \
            ledger.summary(chosen_calls)
        return {"rec": rec, "summary": whole, "year": int(chosen) if chosen else None}

    return listing.respond(RECONCILE, "finance/reconcile.html", user=current_user,
                           context=around, kinds=list(ledger.EntryKind))


@bp.route("/finance/reconcile.xlsx")
@login_required
def reconcile_xlsx() -> Response:
    _money_reader()
    year = _year()
    out = ledger.reconciliation_xlsx(ledger.reconcile(year=year))
    return send_file(out, as_attachment=True, mimetype=listing.XLSX, max_age=0,
                     download_name=f"预算对账-{year or '全部年度'}.xlsx")


def _own_app(app_id: int) -> Application:
    app = db.session.get(Application, app_id)
    if app is None or not can_view_application(current_user, app):
        abort(404)
    return app


def _milestone_app(milestone_id: int) -> Application:
    m = db.session.get(Milestone, milestone_id)
    if m is None:
        abort(404)
    return _own_app(m.application_id)


def _evidence() -> list[tuple[str, IO[bytes]]]:
    return [(f.filename or "", f.stream) for f in request.files.getlist("evidence")
            if f and f.filename]


@bp.route("/milestones/<int:milestone_id>/report", methods=["POST"])
@login_required
def report_milestone(milestone_id: int) -> Response:
    app = _milestone_app(milestone_id)
    files = _evidence()
    attempt(lambda: finance.report_milestone(current_user, milestone_id, request.form.get(
        "report", ""), files, request.remote_addr), "里程碑完成情况已提交，等待验收")
    return redirect(url_for("entities.show", collection="applications", entity_id=app.id))


@bp.route("/milestones/<int:milestone_id>/verdict", methods=["POST"])
@login_required
def judge_milestone(milestone_id: int) -> Response:
    app = _milestone_app(milestone_id)
    attempt(lambda: finance.judge_milestone(
        current_user, milestone_id, request.form.get("verdict", ""),
        request.form.get("opinion", ""), request.remote_addr),
        lambda m: f"验收意见已记录，里程碑：{m.state.label}")
    return redirect(url_for("entities.show", collection="applications", entity_id=app.id))


@bp.route("/challenges/<int:challenge_id>/stage-gate", methods=["POST"])
@login_required
def stage_gate(challenge_id: int) -> Response:
    from workflow.calls.models import Challenge

    challenge = found(db.session.get(Challenge, challenge_id), current_user, challenge_visible,
                      what="榜单")
    allow(officer(current_user), "只有项目主管可以进行赛马阶段评估")
    keep = [int(v) for v in request.form.getlist("continuing")
            if v.isascii() and v.isdigit() and len(v) < 10]
    attempt(lambda: finance.stage_gate(current_user, challenge.id, keep,
                                       request.form.get("comment", ""), request.remote_addr),
            lambda stopped: f"阶段评估完成：{len(keep)} 个团队继续攻关，{len(stopped)} 个团队终止")
    return redirect(url_for("entities.show", collection="calls", entity_id=challenge.call_id))


@bp.route("/organization/bank", methods=["GET", "POST"])
@login_required
def bank_account() -> str | Response | tuple[str, int]:
    """The organisation's account for grants (收款账户), kept by its administrator."""
    org = finance.own_organization(current_user)
    if request.method == "POST":
        if attempt(lambda: finance.set_bank_account(
                current_user, org, request.form.get("bank_name", ""),
                request.form.get("bank_account", ""), request.remote_addr), "收款账户已保存"):
            return redirect(url_for("finance.bank_account"))
        return render_template("finance/bank.html", org=org, form=request.form,
                               history=_bank_history(org)), 422
    return render_template("finance/bank.html", org=org, form={
        "bank_name": org.bank_name, "bank_account": org.bank_account},
        history=_bank_history(org))


def _bank_history(org: Organization) -> list[Any]:
    from workflow.accounts.operations import organization_history

    return list(reversed(organization_history(org.id, payee_only=True)))
