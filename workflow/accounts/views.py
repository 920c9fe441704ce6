"""Log in (password, then the second factor when enrolled) and out; the person's account
security (设置 → 账户安全: password, second factor, sessions, API tokens); 忘记密码; the
administrator's pages on people's accounts (重置密码, 重置两步验证, 强制下线); and the
organisations (单位) with the recommending body each is under."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from forms.auth import (
    CodeForm,
    ConfirmPasswordForm,
    ForgotPasswordForm,
    LoginForm,
    PasswordChangeForm,
    ResetPasswordForm,
)
from workflow.accounts import operations as accounts
from workflow.accounts import passwords, second_factor, sessions, trail
from workflow.accounts.lists import ORGANIZATIONS, USERS, role_names, second_factors_among
from workflow.accounts.models import ApiToken, OrgKind, User
from workflow.accounts.visibility import recommending_bodies
from workflow.core.errors import Invalid, ServiceError
from workflow.core.extensions import db, login_manager
from workflow.core.models import utcnow
from workflow.permissions import account_keeper, allow, found, org_keeper
from workflow.web import listing

bp = Blueprint("auth", __name__)

# What the signed session cookie holds: the server-side session ("<id>.<secret>"), a
# login waiting for its second factor, an authenticator being enrolled.
SESSION_KEY = "kjflow_sid"
PENDING_KEY = "kjflow_pending"
ENROL_KEY = "kjflow_totp_secret"
PENDING_SECONDS = 300  # the code must follow the password within five minutes
Page = Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]


def _writer() -> bool:
    return request.method not in ("GET", "HEAD", "OPTIONS")


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The person of the request's server-side session; None (signed out) when it was
    ended (logout, password change, 强制下线) or ran out, whatever the cookie says."""
    found_ = sessions.session_user(session.get(SESSION_KEY), user_id, writer=_writer())
    if found_ is None:
        session.clear()  # whatever else it held was that session's
        return None
    g.kjflow_session_id = found_[1].id
    return found_[0]


def current_session_id() -> int | None:
    ident: int | None = g.get("kjflow_session_id")
    return ident


def _ip() -> str | None:
    return request.remote_addr


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect to another host after login.
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and \
                not target.startswith("//"):
            return target
    return url_for("home.index")


# Where a person who must first change their password, or enrol a second factor, may go.
_CHANGE_PASSWORD = ("auth.change_password", "auth.logout", "static")
_ENROL = ("auth.second_factor_setup", "auth.logout", "static")


@bp.before_app_request
def account_gate() -> Response | None:
    """A temporary password must be changed, and where a second factor is required it
    must be enrolled, before the person can do anything else."""
    if request.blueprint == "api" or request.endpoint is None or \
            not current_user.is_authenticated:
        return None
    if current_user.must_change_password:
        if request.endpoint not in _CHANGE_PASSWORD:
            return redirect(url_for("auth.change_password"))
    elif request.endpoint not in _ENROL and second_factor.must_enrol(current_user):
        return redirect(url_for("auth.second_factor_setup"))
    return None


def _sign_in(user: User) -> None:
    """A new server-side session (a new cookie: nothing of the one before carries over)."""
    session.clear()
    session.permanent = True
    session["login_at"] = datetime.now(UTC).timestamp()
    session[SESSION_KEY] = sessions.start_session(user, _ip(), request.user_agent.string)
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                form.username.data or "", form.password.data or "", _ip()
            )
        except ServiceError as err:
            form.password.errors = [err.message]
            return render_template("auth/login.html", form=form), err.status, err.headers
        target = _safe_next(request.args.get("next"))
        if second_factor.enabled(user):
            session.clear()
            session[PENDING_KEY] = {"uid": user.id, "at": datetime.now(UTC).timestamp(),
                                    "next": target}
            return redirect(url_for("auth.login_code"))
        _sign_in(user)
        return redirect(target)
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


def _pending_user() -> tuple[User, str] | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    at = pending.get("at")
    if not isinstance(at, (int, float)) or datetime.now(UTC).timestamp() - at > PENDING_SECONDS:
        return None
    user = db.session.get(User, pending.get("uid"))
    if user is None or not user.active:
        return None
    return user, _safe_next(pending.get("next"))


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> Page:
    """The login's second step: the 6-digit code of the authenticator, or a recovery
    code."""
    pending = _pending_user()
    if pending is None:
        session.pop(PENDING_KEY, None)
        flash("请重新输入用户名和密码", "warning")
        return redirect(url_for("auth.login"))
    user, target = pending
    form = CodeForm()
    if form.validate_on_submit():
        try:
            used = second_factor.verify(user, form.code.data or "", _ip())
        except ServiceError as err:
            form.code.errors = [err.message]
            return render_template("auth/login_code.html", form=form), err.status
        _sign_in(user)
        if used == "recovery":
            left = second_factor.remaining_codes(user)
            flash(f"已使用一个恢复码登录，还剩 {left} 个；" + (
                "请在“账户安全”中重新生成恢复码" if left <= 3 else "每个恢复码只能使用一次"),
                "warning")
        return redirect(target)
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login_code.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    sessions.end_session(current_session_id(), "logout")
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


# ---- 忘记密码 --------------------------------------------------------------------------

@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password() -> Page:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        passwords.request_reset(form.identifier.data or "", _ip())
        # The same answer whether or not the account exists.
        return render_template("auth/forgot_sent.html")
    status = 422 if request.method == "POST" else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Page:
    token = token[:100]
    try:
        user = passwords.reset_link_user(token)
    except ServiceError as err:
        return render_template("auth/reset_invalid.html", message=err.message), err.status
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            passwords.reset_with_link(token, form.new_password.data or "",
                                      form.confirm_password.data or "", _ip())
        except Invalid as err:
            _place(form, err)
            return render_template("auth/reset.html", form=form, user=user), err.status
        if current_user.is_authenticated:
            logout_user()
        session.clear()
        flash("密码已重置，请用新密码登录", "info")
        return redirect(url_for("auth.login"))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/reset.html", form=form, user=user), status


def _place(form: Any, err: ServiceError) -> None:
    """An ``Invalid``'s messages beside the form's fields (the rest at the top)."""
    details = err.details if isinstance(err.details, dict) else {}
    placed = False
    for name, message in details.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message]
            placed = True
    if not placed:
        flash(err.message, "error")


# ---- 设置 → 账户安全 --------------------------------------------------------------------

def _session_rows() -> list[dict[str, Any]]:
    here = current_session_id()
    return [{"row": s, "current": s.id == here} for s in sessions.sessions_of(current_user)]


def _account_page(**extra: Any) -> str:
    user = current_user
    return render_template(
        "auth/account.html", enabled=second_factor.enabled(user),
        factor=second_factor.factor_of(user), required=second_factor.required(user),
        remaining=second_factor.remaining_codes(user), sessions=_session_rows(),
        tokens=sessions.tokens_of(user), events=trail.events(user, 10),
        event_names=trail.EVENTS, confirm=ConfirmPasswordForm(), **extra)


@bp.route("/account")
@login_required
def account() -> str:
    return _account_page()


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Page:
    form = PasswordChangeForm()
    forced = current_user.must_change_password
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():
                passwords.change_password(
                    current_user, form.current_password.data or "",
                    form.new_password.data or "", form.confirm_password.data or "",
                    session_id=current_session_id(), ip=_ip())
        except Invalid as err:
            _place(form, err)
            return render_template("auth/password.html", form=form, forced=forced), err.status
        flash("密码已修改；您在其他设备上的登录和全部 API 令牌已失效", "info")
        return redirect(url_for("home.index") if forced else url_for("auth.account"))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form, forced=forced), status


@bp.route("/account/second-factor", methods=["GET", "POST"])
@login_required
def second_factor_setup() -> Page:
    """Enrol an authenticator: its QR code (and the secret as text), then a code it
    shows; the ten recovery codes once."""
    if second_factor.enabled(current_user):
        return redirect(url_for("auth.account"))
    kept = session.get(ENROL_KEY)
    secret = kept if isinstance(kept, str) and second_factor.valid_secret(kept) else None
    if secret is None:
        secret = session[ENROL_KEY] = second_factor.new_secret()
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():
                codes = second_factor.enable(current_user, secret, form.code.data or "",
                                             session_id=current_session_id(), ip=_ip())
        except ServiceError as err:
            form.code.errors = [err.message]
            status = err.status
        else:
            session.pop(ENROL_KEY, None)
            return render_template("auth/recovery_codes.html", codes=codes, first=True)
    elif request.method == "POST":
        status = 422
    uri = second_factor.provisioning_uri(current_user, secret)
    page = render_template("auth/second_factor_setup.html", form=form,
                           qr=second_factor.qr_data_uri(uri),
                           secret=second_factor.spaced(secret),
                           required=second_factor.must_enrol(current_user))
    return (page, status) if status != 200 else page


@bp.route("/account/second-factor/disable", methods=["POST"])
@login_required
def second_factor_disable() -> Page:
    form = ConfirmPasswordForm()
    ok = form.validate_on_submit() and passwords.password_matches(
        current_user, form.password.data or "")
    try:
        with db.session.begin_nested():
            second_factor.disable(current_user, ok, _ip())
    except ServiceError as err:
        flash(err.message, "error")
        return _account_page(), err.status
    flash("已关闭两步验证", "info")
    return redirect(url_for("auth.account"))


@bp.route("/account/second-factor/codes", methods=["POST"])
@login_required
def recovery_codes() -> Page:
    form = ConfirmPasswordForm()
    ok = form.validate_on_submit() and passwords.password_matches(
        current_user, form.password.data or "")
    try:
        with db.session.begin_nested():
            codes = second_factor.renew_codes(current_user, ok, _ip())
    except ServiceError as err:
        flash(err.message, "error")
        return _account_page(), err.status
    return render_template("auth/recovery_codes.html", codes=codes, first=False)


@bp.route("/account/sessions/others", methods=["POST"])
@login_required
def sign_out_others() -> Response:
    ended = sessions.revoke_sessions(current_user.id, "others", keep=current_session_id())
    flash(f"已退出其他 {ended} 处登录" if ended else "没有其他登录", "info")
    return redirect(url_for("auth.account"))


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int) -> Response:
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != current_user.id:
        flash("令牌不存在", "error")
    else:
        sessions.revoke_token(row)
        flash("令牌已作废", "info")
    return redirect(url_for("auth.account"))


# ---- 用户管理 (系统管理员) ----------------------------------------------------------------

def _keeper() -> None:
    allow(account_keeper(current_user), "只有系统管理员可以管理用户账户")


@bp.route("/users")
@login_required
def users() -> Response | str:
    _keeper()
    def page_factors(page: listing.Listing) -> dict[str, Any]:
        on = second_factors_among(page.rows)  # the page's users' at once, not per row
        return {"second_factor_on": lambda u: u.id in on}

    return listing.respond(USERS, "auth/users.html", user=current_user,
                           roles_of=role_names, context=page_factors)


def _person(user_id: int) -> User:
    _keeper()
    return found(db.session.get(User, user_id), current_user, account_keeper, what="用户")


def _user_page(person: User, **extra: Any) -> str:
    return render_template(
        "auth/user.html", person=person, roles=role_names(person),
        enabled=second_factor.enabled(person), required=second_factor.required(person),
        sessions=sessions.sessions_of(person), tokens=sessions.tokens_of(person),
        events=trail.events(person, 20), event_names=trail.EVENTS, now=utcnow(), **extra)


@bp.route("/users/<int:user_id>")
@login_required
def user(user_id: int) -> str:
    return _user_page(_person(user_id))


@bp.route("/users/<int:user_id>/sign-out", methods=["POST"])
@login_required
def user_sign_out(user_id: int) -> Response:
    person = _person(user_id)
    ended, tokens = passwords.sign_out_everywhere(current_user, person, _ip())
    flash(f"已强制 {person.name} 下线：结束 {ended} 处登录，作废 {tokens} 个 API 令牌", "info")
    return redirect(url_for("auth.user", user_id=user_id))


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@login_required
def user_reset_password(user_id: int) -> str:
    """The temporary password is shown in this answer only (never in a cookie's
    flash message, nor stored)."""
    person = _person(user_id)
    word = passwords.reset_password(current_user, person, _ip())
    return _user_page(person, temporary=word)


@bp.route("/users/<int:user_id>/reset-second-factor", methods=["POST"])
@login_required
def user_reset_second_factor(user_id: int) -> Page:
    person = _person(user_id)
    try:
        with db.session.begin_nested():
            second_factor.reset(current_user, person, _ip())
    except ServiceError as err:
        flash(err.message, "error")
        return _user_page(person), err.status
    flash(f"已重置 {person.name} 的两步验证" + (
        "；其下次登录时须重新启用" if second_factor.required(person) else ""), "info")
    return redirect(url_for("auth.user", user_id=user_id))
