"""Pages for what was sent: the delivery log and dead letters (officers), the mail folder
of the embedded default, and each person's preferences."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from workflow.core.errors import ServiceError
from workflow.core.models import db
from workflow.notify import inbox, notifications
from workflow.notify.models import Notification
from workflow.permissions import allow, found, message_keeper

bp = Blueprint("messaging", __name__)


def _officer() -> None:
    allow(message_keeper(current_user), "只有项目主管和系统管理员可以查看通知记录")


@bp.route("/notifications")
@login_required
def overview() -> str:
    _officer()
    channel = request.args.get("channel") or None
    if channel not in (None, "email", "sms"):
        channel = None
    return render_template("messaging/overview.html", dead=notifications.failed(),
                           recent=notifications.recent(channel=channel), channel=channel)


@bp.route("/notifications/<int:note_id>")
@login_required
def log(note_id: int) -> str:
    note = found(db.session.get(Notification, note_id), current_user, message_keeper,
                 what="通知")
    return render_template("messaging/log.html", note=note,
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
def inbox_page() -> str:
    return render_template("inbox/list.html", messages=inbox.messages(current_user))


@bp.route("/inbox/read", methods=["POST"])
@login_required
def inbox_read() -> Response:
    raw = request.form.get("id", "")
    if raw and not (raw.isdigit() and len(raw) < 10):
        abort(404)
    try:
        inbox.mark_read(current_user, int(raw) if raw else None)
    except ServiceError:
        abort(404)
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/") and not target.startswith("//")
                    else url_for("messaging.inbox_page"))
