"""Pages for what was sent: the delivery log and dead letters (officers), the mail folder
of the embedded default, and each person's preferences."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.core.errors import ServiceError
from workflow.core.models import db
from workflow.notify import inbox, notifications
from workflow.notify.lists import INBOX, LOG
from workflow.notify.models import Notification
from workflow.permissions import allow, found, message_keeper
from workflow.web import listing

bp = Blueprint("messaging", __name__)


def _officer() -> None:
    allow(message_keeper(current_user), "只有项目主管和系统管理员可以查看通知记录")


@bp.route("/notifications")
@login_required
def overview() -> Response | str:
    _officer()
    return listing.respond(LOG, "messaging/overview.html", user=current_user,
                           dead=notifications.dead_count(),
                           resendable=notifications.resendable)


@bp.route("/notifications/<int:note_id>")
@login_required
def log(note_id: int) -> str:
    note = found(db.session.get(Notification, note_id), current_user, message_keeper,
                 what="通知")
    return render_template("messaging/log.html", note=note, body=notifications.shown_body(note),
                           may_resend=notifications.resendable(note),
                           message_id=notifications.message_id(note.key))


@bp.route("/notifications/<int:note_id>/resend", methods=["POST"])
@login_required
def resend(note_id: int) -> Response:
    found(db.session.get(Notification, note_id), current_user, message_keeper, what="通知")
    try:
        with db.session.begin_nested():
            notifications.resend(current_user, note_id)
        flash("已重新发送", "info")
    except ServiceError as err:
        flash(err.message, "error")
    return redirect(url_for("messaging.log", note_id=note_id))


@bp.route("/mail")
@login_required
def mail_folder() -> str:
    """The embedded default keeps e-mail in a folder; the officer reads what was sent."""
    _officer()
    from flask import current_app

    return render_template("messaging/mail.html", messages=notifications.mail_folder(),
                           smtp=current_app.config.get("MAIL_SERVER"))


@bp.route("/preferences", methods=["GET", "POST"])
@login_required
def preferences() -> str | Response:
    if request.method == "POST":
        notifications.set_preferences(
            current_user, email_reminders=request.form.get("email_reminders") == "on")
        flash("通知设置已保存", "info")
        return redirect(url_for("messaging.preferences"))
    return render_template("messaging/preferences.html")


@bp.route("/inbox")
@login_required
def inbox_page() -> Response | str:
    return listing.respond(INBOX, "inbox/list.html", user=current_user)


@bp.route("/inbox/read", methods=["POST"])
@login_required
def inbox_read() -> Response:
    raw = request.form.get("id", "")
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        abort(404)
    try:
        inbox.mark_read(current_user, int(raw) if raw else None)
    except ServiceError:
        abort(404)
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/") and not target.startswith("//")
                    else url_for("messaging.inbox_page"))
