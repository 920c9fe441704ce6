"""Log in and out; the organisations (单位) and the recommending body each is under."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from forms.auth import LoginForm
from workflow.accounts import operations as accounts
from workflow.accounts.lists import ORGANIZATIONS
from workflow.accounts.models import OrgKind, User
from workflow.accounts.visibility import recommending_bodies
from workflow.core.errors import ServiceError
from workflow.core.extensions import db, login_manager
from workflow.permissions import allow, org_keeper
from workflow.web import listing

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        user = db.session.get(User, int(user_id))
    except ValueError:
        return None
    return user if user is not None and user.active else None


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect to another host after login.
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and \
                not target.startswith("//"):
            return target
    return url_for("home.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                form.username.data or "", form.password.data or "", request.remote_addr
            )
        except ServiceError as err:
            form.password.errors = [err.message]
            return render_template("auth/login.html", form=form), err.status, err.headers
        session.clear()
        session.permanent = True
        session["login_at"] = datetime.now(UTC).timestamp()
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    logout_user()
    session.clear()
    flash("已退出登录", "info")
    return redirect(url_for("auth.login"))


# ---- organisations ------------------------------------------------------------------------

@bp.route("/organizations")
@login_required
def organizations() -> Response | str:
    """The organisations one may see, each with its recommending body (主管部门)."""
    return listing.respond(ORGANIZATIONS, "auth/organizations.html", user=current_user)


ORG_FORM = ("name", "uscc", "kind", "parent_id")


@bp.route("/organizations/<int:org_id>/edit", methods=["GET", "POST"])
@login_required
def edit_organization(org_id: int) -> Response | str | tuple[str, int]:
    """The bureau corrects an organisation and places it under a recommending body."""
    org = accounts.visible_organization(current_user, org_id)
    allow(org_keeper(current_user), "只有项目主管或系统管理员可以修改单位")
    errors: dict[str, str] = {}
    form = {"name": org.name, "uscc": org.uscc, "kind": org.kind.value,
            "parent_id": str(org.parent_id or "")}
    status = 200
    if request.method == "POST":
        form = {k: request.form.get(k, "").strip() for k in ORG_FORM}
        try:
            with db.session.begin_nested():
                accounts.update_organization(current_user, org, {
                    **form, "parent_id": form["parent_id"] or None})
            flash(f"已保存：{org.name}", "info")
            return redirect(url_for("auth.organizations"))
        except ServiceError as err:
            flash(err.message, "error")
            errors = err.details if isinstance(err.details, dict) else {}
            status = err.status
            db.session.expire_all()
            org = accounts.visible_organization(current_user, org_id)
    bodies = [(i, name) for i, name in recommending_bodies() if i != str(org.id)]
    return render_template("auth/organization.html", org=org, form=form, errors=errors,
                           kinds=list(OrgKind), bodies=bodies), status
