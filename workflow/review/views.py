"""Pages for experts (queue, scoring) and for officers (assignment)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from forms import parse_id
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.core import engine
from workflow.core.actions import Actions, actions
from workflow.core.entities import can_view
from workflow.core.errors import ServiceError
from workflow.core.models import db
from workflow.permissions import (
    allow,
    bureau_reader,
    decision_reader,
    expert,
    found,
    officer,
    own_review,
    pool_keeper,
    reading_review,
)
from workflow.review import lists as pool_lists
from workflow.review import operations as reviews
from workflow.review.conflicts import LABELS
from workflow.review.lists import OVERVIEW, POOL, QUEUE
from workflow.review.models import ReviewAssignment, ReviewDraw
from workflow.review.visibility import expert_answers, expert_attachment, expert_attachments
from workflow.web import field_errors, flash_refusal, listing

bp = Blueprint("reviewing", __name__)
# What the scoring page's form answers of ``submit_scores``' guard.
SCORE_PAGE_ANSWERS = frozenset({"score_missing", "comment_too_short"})


def review_actions(review: ReviewAssignment, user: Any) -> Actions:
    """What the expert may do with their review now: answer the invitation, score, or
    read what they scored."""
    may = actions(review, user, answered=SCORE_PAGE_ANSWERS)
    may.add("respond", may.permitted("accept") or may.permitted("decline"))
    may.add("score", may.permitted("submit_scores"))
    may.add("view_scores", own_review(user, review) and review.submitted_at is not None)
    return may


@bp.route("/reviews")
@login_required
def queue() -> Response | str:
    allow(expert(current_user), "只有评审专家有评审任务")
    return listing.respond(QUEUE, "reviews/queue.html", user=current_user,
                           counts=reviews.queue_counts(current_user),
                           conflict_kinds=CONFLICT_KINDS,
                           context=lambda page: {"may": {
                               r.id: review_actions(r, current_user) for r in page.rows}})


@bp.route("/reviews/all")
@login_required
def overview() -> Response | str:
    """Every review, for the bureau (who wrote one only for those who may know)."""
    allow(bureau_reader(current_user), "只有市科技局工作人员可以查看全部评审任务")
    return listing.respond(OVERVIEW, "reviews/overview.html", user=current_user)


CONFLICT_KINDS = {k: LABELS[k] for k in (
    "declared", "near_relative", "teacher_student", "joint_work")}


def _mine(review_id: int) -> ReviewAssignment:
    """The expert's own review (the bureau sees it too, but does not act on it here)."""
    review = found(db.session.get(ReviewAssignment, review_id), current_user, can_view,
                   what="评审任务")
    allow(own_review(current_user, review), "只有受邀专家本人可以答复和评分",
          code="not_owner")
    return review


@bp.route("/reviews/<int:review_id>/respond", methods=["POST"])
@login_required
def respond(review_id: int) -> Response:
    review = _mine(review_id)
    declined = False
    try:
        with db.session.begin_nested():
            what = f"“{review.application.title}”"
            if request.form.get("answer") == "accept":
                engine.fire(engine.load("review", review.id, lock=True), "accept",
                            current_user, ip=request.remote_addr)
                done = f"已接受评审邀请：{what}"
            else:
                kind = request.form.get("conflict_kind") or None
                reviews.decline(current_user, engine.load("review", review.id, lock=True),
                                request.form.get("reason", ""), kind, request.remote_addr)
                done = f"已谢绝评审邀请：{what}" + ("，回避关系已记录" if kind else "")
                declined = True
        flash(done, "info")
    except ServiceError as err:
        flash_refusal(err)
    target = request.form.get("next", "")
    if declined and target.startswith(f"/reviews/{review_id}/"):
        # A declined review is no longer the expert's to open: back to the queue.
        target = ""
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("reviewing.queue"))


def _score_page(review: ReviewAssignment, values: dict[str, Any],
                errors: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    from states import REVIEW
    from states.progress import progress
    from workflow.core import audit

    moves = [(e.from_state, e.to_state, e.at) for e in audit.history("review", review.id)]
    return render_template("reviews/score.html", review=review, errors=errors or {},
                           values=values, may=review_actions(review, current_user),
                           steps=progress(REVIEW, review.state, moves),
                           full=reading_review(current_user, review),
                           answers=expert_answers(current_user, review),
                           files=expert_attachments(current_user, review),
                           conflict_kinds=CONFLICT_KINDS), status


@bp.route("/reviews/<int:review_id>/score", methods=["GET", "POST"])
@login_required
def score(review_id: int) -> Response | str | tuple[str, int]:
    review = _mine(review_id)
    if request.method == "POST":
        rubric = review.application.call.rubric or []
        scores = {c["name"]: request.form.get(f"s_{c['name']}", "") for c in rubric}
        submit = request.form.get("action") == "submit"
        try:
            with db.session.begin_nested():
                reviews.save_scores(current_user, review, scores,
                                    request.form.get("comment", ""), submit=submit,
                                    ip=request.remote_addr)
            flash("评分已提交，不能再修改" if submit else "评分草稿已保存", "info")
            return redirect(url_for("reviewing.score", review_id=review_id))
        except ServiceError as err:
            # Every error at once, each beside its criterion (or the comment).
            errors = field_errors(err)
            flash_refusal(err, placed=errors)
            db.session.expire_all()
            return _score_page(_mine(review_id), dict(request.form), errors, err.status)
    values = {f"s_{k}": v for k, v in (review.scores or {}).items()}
    values["comment"] = review.comment
    return _score_page(review, values)


@bp.route("/calls/<int:call_id>/assign", methods=["GET", "POST"])
@login_required
def assign(call_id: int) -> Response | str:
    call = found(db.session.get(Call, call_id), current_user, can_view, what="申报指南")
    allow(officer(current_user), "只有项目主管可以分配评审专家")
    if request.method == "POST":
        def number(name: str) -> int | str | None:
            # Digits become a number; anything else typed goes on to be refused clearly.
            raw = request.form.get(name, "").strip()
            number = parse_id(raw)
            return number if number is not None else (raw or None)

        # Checked now, done by the worker: the page comes back with the job's progress.
        try:
            with db.session.begin_nested():
                job = reviews.start_assign(current_user, call, request.form.get("mode"),
                                           number("per_application"), number("seed"))
        except ServiceError as err:
            flash_refusal(err)
            for message in err.details.values() if isinstance(err.details, dict) else ():
                flash(message, "error")
            return redirect(url_for("reviewing.assign", call_id=call_id))
        return redirect(url_for("reviewing.assign", call_id=call_id, job=job.id))
    apps = list(db.session.scalars(sa.select(Application).where(
        Application.call_id == call.id).order_by(Application.id)))
    rows: dict[int, list[ReviewAssignment]] = {a.id: [] for a in apps}
    for r in db.session.scalars(sa.select(ReviewAssignment).join(Application).where(
            Application.call_id == call.id).order_by(ReviewAssignment.id)):
        rows.setdefault(r.application_id, []).append(r)
    draws = list(db.session.scalars(sa.select(ReviewDraw).where(
        ReviewDraw.call_id == call.id).order_by(ReviewDraw.id.desc())))
    experts = [u for u, _p in reviews.expert_pool()]
    return render_template("reviews/assign.html", call=call, apps=apps, rows=rows,
                           draws=draws, experts=experts,
                           open_to_reviewers={a.id for a in apps if reviews.takes_reviewers(a)})


@bp.route("/applications/<int:app_id>/reviewers", methods=["POST"])
@login_required
def add_reviewer(app_id: int) -> Response:
    app = found(db.session.get(Application, app_id), current_user, can_view, what="申报书")
    allow(officer(current_user), "只有项目主管可以增加评审专家")
    expert_id = request.form.get("expert_id", "")
    try:
        with db.session.begin_nested():
            reviews.add_reviewer(current_user, app, parse_id(expert_id))
        flash("已增加评审专家", "info")
    except ServiceError as err:
        flash_refusal(err)
    return redirect(url_for("reviewing.assign", call_id=app.call_id))




def _ranking_call(call_id: int) -> Call:
    call = found(db.session.get(Call, call_id), current_user, can_view, what="申报指南")
    allow(decision_reader(current_user), "只有项目主管、领导和审计人员可以查看评审排名")
    return call


@bp.route("/calls/<int:call_id>/ranking")
@login_required
def ranking(call_id: int) -> str | tuple[str, int]:
    from forms import FieldError, parse_wan
    from workflow.review import results

    call = _ranking_call(call_id)
    raw = request.args.get("budget", "").strip()
    budget, error = None, None
    if raw:
        try:
            budget = parse_wan(raw)
        except FieldError as err:
            error = str(err)
    res = results.call_results(call, budget, request.args.get("skip") == "on")
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 1
    rows, pages = results.page_of(res.rows, page)
    results.with_totals(res, rows)
    page = min(max(page, 1), pages)
    return render_template("reviews/ranking.html", call=call, res=res, budget=raw,
                           error=error, rows=rows, page=page, pages=pages,
                           per_page=results.PER_PAGE), 422 if error else 200


@bp.route("/calls/<int:call_id>/ranking.xlsx")
@login_required
def ranking_xlsx(call_id: int) -> Response:
    import io

    from flask import send_file

    from workflow.review import results

    call = _ranking_call(call_id)
    data = results.score_sheet(results.call_results(call, criteria=True))
    return send_file(io.BytesIO(data), as_attachment=True,
                     download_name=f"评审结果-{call.id}.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# ---- the expert pool --------------------------------------------------------------------

def _pool_officer() -> None:
    allow(pool_keeper(current_user), "只有项目主管可以维护专家库")


def _pool_page(form: Any, errors: dict[str, str]) -> Response | str:
    return listing.respond(POOL, "reviews/experts.html", user=current_user,
                           sanctioned=pool_lists.sanctioned(), form=form, errors=errors,
                           context=lambda page: {"loads": pool_lists.loads_of(page.rows)})


@bp.route("/experts", methods=["GET", "POST"])
@login_required
def experts() -> Response | str | tuple[Response | str, int]:
    from workflow.review import experts as pool_svc

    _pool_officer()
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            with db.session.begin_nested():
                profile = pool_svc.create_expert(current_user, dict(request.form))
            flash(f"已加入专家库：{profile.user.name}", "info")
            return redirect(url_for("reviewing.experts"))
        except ServiceError as err:
            flash(err.message, "error")
            errors = err.details if isinstance(err.details, dict) else {}
            return _pool_page(request.form, errors), err.status
    return _pool_page({}, errors)


def _back_to_pool() -> str:
    """The pool as the officer left it (its search, filters and page)."""
    target = request.values.get("next", "")
    return target if target.startswith("/experts") and not target.startswith("//") \
        else url_for("reviewing.experts")


@bp.route("/experts/<int:user_id>/edit", methods=["GET", "POST"])
@login_required
def edit_expert(user_id: int) -> Response | str | tuple[str, int]:
    from workflow.review import experts as pool_svc

    _pool_officer()
    try:
        profile = pool_svc.profile_of(current_user, user_id)
    except ServiceError:
        abort(404)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = dict(request.form)
        form.setdefault("available", "")
        try:
            with db.session.begin_nested():
                pool_svc.update_expert(current_user, profile, form)
            flash(f"已更新：{profile.user.name}", "info")
            return redirect(_back_to_pool())
        except ServiceError as err:
            flash(err.message, "error")
            errors = err.details if isinstance(err.details, dict) else {}
            db.session.expire_all()
            profile = pool_svc.profile_of(current_user, user_id)
            return render_template("reviews/expert_edit.html", profile=profile, form=form,
                                   errors=errors, back=_back_to_pool(),
                                   load=pool_lists.loads().get(profile.user_id, 0)), err.status
    form = {"title": profile.title or "", "disciplines": ",".join(profile.disciplines or ()),
            "keywords": ",".join(profile.keywords or ()), "load_cap": str(profile.load_cap),
            "available": "on" if profile.available else ""}
    return render_template("reviews/expert_edit.html", profile=profile, form=form, errors={},
                           back=_back_to_pool(),
                           load=pool_lists.loads().get(profile.user_id, 0))


@bp.route("/experts/import", methods=["POST"])
@login_required
def import_experts() -> Response | str:
    from workflow.review import experts as pool_svc

    _pool_officer()
    file = request.files.get("file")
    # The upload is checked now; its rows are imported by the worker, whose row-by-row
    # report is the job's result, shown in the progress box of the page it comes back to.
    try:
        with db.session.begin_nested():
            job = pool_svc.start_import(current_user, (file.filename or "") if file else "",
                                        file.stream if file else None)
    except ServiceError as err:
        flash(err.message, "error")
        return redirect(url_for("reviewing.experts"))
    return redirect(url_for("reviewing.experts", job=job.id))


@bp.route("/experts/template.xlsx")
@login_required
def experts_template() -> Response:
    import io

    from flask import send_file

    from workflow.review import experts as pool_svc

    _pool_officer()
    return send_file(io.BytesIO(pool_svc.template_xlsx(current_user)), as_attachment=True,
                     download_name="专家导入模板.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# ---- defence (答辩) ---------------------------------------------------------------------

@bp.route("/calls/<int:call_id>/defence", methods=["GET", "POST"])
@login_required
def defence(call_id: int) -> Response | str | tuple[str, int]:
    from workflow.review import defence as svc

    call = found(db.session.get(Call, call_id), current_user, can_view, what="申报指南")
    sessions = svc.sessions_for(current_user, call)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            form: dict[str, Any] = {**request.form, "panel": request.form.getlist("panel")}
            with db.session.begin_nested():
                svc.schedule(current_user, call, form)
            flash("答辩已安排", "info")
            return redirect(url_for("reviewing.defence", call_id=call_id))
        except ServiceError as err:
            flash(err.message, "error")
            errors, status = (err.details if isinstance(err.details, dict) else {}), err.status
    return render_template(
        "reviews/defence.html", call=call, sessions=sessions, teams=svc.teams,
        role_of=lambda s: svc.panel_role(current_user, s), scores=svc.scores_of(sessions),
        experts=[u for u, _p in reviews.expert_pool()], form=request.form,
        errors=errors), status


@bp.route("/defence/<int:session_id>/<int:app_id>", methods=["POST"])
@login_required
def defence_action(session_id: int, app_id: int) -> Response:
    from workflow.review import defence as svc

    session = svc.visible_session(current_user, session_id)
    app = svc.team_of(session, app_id)
    try:
        with db.session.begin_nested():
            if request.form.get("action") == "finish":
                svc.finish(current_user, session, app, request.remote_addr)
                done = f"答辩完成：{app.title}"
            else:
                svc.record_score(current_user, session, app, request.form.get("score", ""),
                                 request.form.get("comment", ""))
                done = "答辩评分已保存"
        flash(done, "info")
    except ServiceError as err:
        flash_refusal(err)
        for message in (err.details or {}).values() if isinstance(err.details, dict) else ():
            flash(message, "error")
    return redirect(url_for("reviewing.defence", call_id=session.call_id))


@bp.route("/challenges/<int:challenge_id>/select", methods=["POST"])
@login_required
def select_teams(challenge_id: int) -> Response:
    from workflow.calls.models import Challenge
    from workflow.calls.visibility import challenge_visible
    from workflow.review import defence as svc

    challenge = found(db.session.get(Challenge, challenge_id), current_user,
                      challenge_visible, what="榜单")
    k = request.form.get("k", "")
    try:
        with db.session.begin_nested():
            result = svc.select_teams(current_user, challenge, parse_id(k),
                                      request.remote_addr)
        flash("入选团队：" + "、".join(a.title for a in result.chosen), "info")
    except ServiceError as err:
        flash_refusal(err)
    return redirect(url_for("reviewing.defence", call_id=challenge.call_id))


@bp.route("/reviews/<int:review_id>/attachments/<sha256>")
@login_required
def review_attachment(review_id: int, sha256: str) -> Response:
    """The application's attachments, for the expert who accepted to review it."""
    from workflow.core import files

    review = _mine(review_id)
    row = expert_attachment(current_user, review, sha256)
    if row is None:  # no such file, or an invitation not accepted (the summary only)
        abort(404)
    return files.send_attachment(row)
