"""The administrator's settings: the holiday calendar (节假日安排), a year at a time, and the
counting convention of periods."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.accounts.models import User
from workflow.core.errors import ServiceError
from workflow.core.models import db
from workflow.holidays import operations as holidays
from workflow.permissions import allow, calendar_keeper
from workflow.web import attempt, flash_refusal

bp = Blueprint("holidays", __name__, url_prefix="/admin/calendar")
MAX_LINES = 30
SPARE_LINES = 2  # blank lines under the year's festivals, for one more


def _admin() -> None:
    allow(calendar_keeper(current_user), "只有系统管理员可以维护节假日安排")


def _names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {uid: name for uid, name in db.session.execute(
        sa.select(User.id, User.name).where(User.id.in_(wanted)))}


@bp.route("")
@login_required
def index() -> str:
    _admin()
    years = holidays.overview()
    return render_template(
        "holidays/index.html", years=years, settings=holidays.settings(),
        convention=holidays.convention_text, today=holidays.today(),
        names=_names({s.row.entered_by_id for s in years if s.row is not None}))


@bp.route("/counting", methods=["POST"])
@login_required
def counting() -> Response:
    _admin()
    counts = request.form.get("opening_day_counts") == "yes"
    attempt(lambda: holidays.set_counting(current_user, counts, request.remote_addr),
            f"已保存：{holidays.convention_text(counts)}")
    return redirect(url_for("holidays.index"))


@bp.route("/<int:year>", methods=["GET", "POST"])
@login_required
def year(year: int) -> str | Response | tuple[str, int]:
    """One year's schedule as the State Council's notice gives it: a line per festival
    (its days off, and its working weekends)."""
    _admin()
    found = holidays.schedule(holidays.check_year(year))
    names = _names({found.row.entered_by_id} if found.row is not None else set())
    if request.method == "POST":
        try:
            count = min(max(int(request.form.get("lines", "0") or 0), 0), MAX_LINES)
        except ValueError:
            count = 0
        lines = holidays.festivals_from_form(request.form, count)
        note = request.form.get("note", "")[:holidays.MAX_NOTE + 50]
        try:
            with db.session.begin_nested():
                holidays.enter_year(current_user, year, holidays.festivals_to_days(lines),
                                    note, request.remote_addr)
        except ServiceError as err:
            flash_refusal(err)
            errors = {str(k): str(v) for k, v in (err.details or {}).items()} \
                if isinstance(err.details, dict) else {}
            return render_template("holidays/year.html", found=found, lines=lines, note=note,
                                   errors=errors, names=names), err.status
        flash(f"已保存{year}年的节假日安排", "info")
        return redirect(url_for("holidays.index"))
    lines = holidays.festivals_of(found.days) if found.known else holidays.blank_festivals()
    lines += [holidays.Festival() for _ in range(SPARE_LINES)]
    return render_template("holidays/year.html", found=found, lines=lines,
                           note=found.row.note if found.row is not None else "", errors={},
                           names=names)
