"""Web pages (zh-CN first)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from flask import (
    Flask,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from forms import format_wan
from forms.schema import PERSON_COLUMNS
from states import ROLES
from workflow import permissions
from workflow.core.errors import GuardFailed, Invalid, ServiceError
from workflow.core.extensions import db, login_manager
from workflow.timeutil import cn_date, local_time
from workflow.web import ui

T = TypeVar("T")


def wan(value: Decimal | int | str | None) -> str:
    """Yuan (a Decimal, or the string kept in JSON) shown in 万元 with two decimals."""
    if value in (None, ""):
        return ""
    return format_wan(Decimal(str(value)))


def filesize(size: int | None) -> str:
    """A file's size as people read it: 字节 under 1 KB, else KB or MB."""
    if size is None:
        return ""
    if size < 1024:
        return f"{size} 字节"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / 1024 / 1024:.1f} MB"


# Scripts, styles, images and fonts from this site only; forms post only to it, and no
# <base> may redirect relative links (an injected one could send a form elsewhere).
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "form-action 'self'; base-uri 'self'; frame-ancestors 'none'; object-src 'none'")

ERROR_TITLES = {
    400: "请求有误", 401: "请先登录", 403: "没有权限", 404: "页面不存在", 405: "不支持的操作",
    409: "状态已变化", 413: "文件过大", 415: "文件类型不支持", 422: "提交的内容有误",
    429: "操作过于频繁", 500: "系统错误",
}


def field_errors(err: ServiceError) -> dict[str, str]:
    """What a form says beside each of its inputs after a refusal: an ``Invalid``'s
    details, or the inputs a refused guard's reasons are about (``Reason.fields``)."""
    if isinstance(err, GuardFailed):
        out: dict[str, str] = {}
        for reason in err.details or ():
            for name, message in (reason.get("fields") or {}).items():
                out.setdefault(name, message)
        return out
    if isinstance(err, Invalid) and isinstance(err.details, dict):
        return {str(k): str(v) for k, v in err.details.items()}
    return {}  # a conflict's details (the version, the state) are no input's


def flash_refusal(err: ServiceError, placed: Collection[str] = ()) -> None:
    """Every reason a refused action was refused, as messages on the next page; those
    about inputs the page shows beside them (``placed``) only there."""
    if not isinstance(err, GuardFailed):
        flash(err.message, "error")
        return
    told = False
    for reason in err.details:
        fields = reason.get("fields") or {}
        if fields and all(name in placed for name in fields):
            continue
        flash(reason["message"], "error")
        told = True
    if not told:
        flash("未能完成，请按提示修改后重试", "error")


def attempt(action: Callable[[], T], done: str | Callable[[T], str]) -> T | None:
    """Run a service action, saying ``done``; a refusal undoes everything the action did
    (its SAVEPOINT) and says why. What the view did before stands; the request commits
    it when it succeeds (workflow/core/uow.py). The action's result, or None when it
    was refused."""
    try:
        with db.session.begin_nested():
            result = action()
    except ServiceError as err:
        flash_refusal(err)
        return None
    flash(done(result) if callable(done) else done, "info")
    return result


def init_app(app: Flask) -> None:
    """What every page shares: filters, login, security headers and error pages."""
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["cn_date"] = cn_date
    app.jinja_env.filters["wan"] = wan
    app.jinja_env.filters["filesize"] = filesize
    app.jinja_env.globals["ROLES"] = ROLES
    app.jinja_env.globals["PERSON_COLUMNS"] = PERSON_COLUMNS
    # Who may do what, the same predicates as the views: perm.money_reader(current_user).
    app.jinja_env.globals["perm"] = permissions.TEMPLATE_GLOBAL
    app.jinja_env.filters["badge"] = ui.badge
    app.jinja_env.filters["tone"] = ui.tone
    app.jinja_env.globals["button_class"] = ui.button_class
    app.jinja_env.globals["confirm_text"] = ui.confirm

    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "warning"
    login_manager.session_protection = app.config["SESSION_PROTECTION"]

    @app.before_request
    def absolute_session_timeout() -> Response | None:
        if request.blueprint == "api" or not current_user.is_authenticated:
            return None
        started = session.get("login_at")
        limit = app.config["SESSION_ABSOLUTE_HOURS"] * 3600
        if started is None or datetime.now(UTC).timestamp() - float(started) > limit:
            logout_user()
            session.clear()
            flash("登录已超时，请重新登录", "warning")
            return redirect(url_for("auth.login", next=request.full_path))
        return None

    @app.after_request
    def security_headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Content-Security-Policy", CSP)
        if app.config["PRODUCTION"]:
            # Browsers come back over HTTPS only, for a year, subdomains included.
            resp.headers.setdefault("Strict-Transport-Security",
                                    "max-age=31536000; includeSubDomains")
        if request.path.startswith("/api/"):
            if not _public_api():
                # Personal data (and tokens): never kept by a browser or a proxy.
                resp.headers["Cache-Control"] = "no-store"
        elif current_user.is_authenticated:
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    def _public_api() -> bool:
        """The API's answers anyone may read: its description and the documents'
        verification (a GET declared without login)."""
        if request.path == "/api/openapi.json":
            return True
        meta = getattr(app.view_functions.get(request.endpoint or ""), "openapi", None)
        return request.method == "GET" and isinstance(meta, dict) and meta.get("auth") is False

    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError) -> tuple[str, int]:
        return render_error(400, "表单已过期或来源不可信，请刷新页面后重试"), 400

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Any:
        if request.blueprint == "api" or request.path.startswith("/api/"):
            from workflow.api.errors import http_exception_json

            return http_exception_json(err)
        code = err.code or 500
        return render_error(code, None), code

    def refuse(status: int, code: str, message: str,
               headers: dict[str, str] | None = None) -> Any:
        """Answer with a page, or the API's error shape under /api/ (the request was
        rolled back before the error handlers ran: workflow/core/uow.py)."""
        if request.path.startswith("/api/"):
            from workflow.api.errors import error_json

            resp, _ = error_json(status, code, message)
            return resp, status, headers or {}
        return render_error(status, message), status, headers or {}

    @app.errorhandler(ServiceError)
    def service_error(err: ServiceError) -> Any:
        # A refusal a page left to the app: the rule of workflow.permissions (404 for what
        # the person may not know exists, 403 for what they see but may not do).
        return refuse(err.status, err.code, err.message, err.headers)

    @app.errorhandler(StaleDataError)
    def stale(err: StaleDataError) -> Any:
        # Someone else saved the same row between our read and our write.
        return refuse(409, "stale_version", "内容已被他人（或另一个窗口）修改，请刷新后重试")

    @app.errorhandler(IntegrityError)
    def integrity_error(err: IntegrityError) -> Any:
        # A constraint the checks could not see coming: most often another request saved
        # the same thing first (the commit runs after the view: workflow/core/uow.py).
        app.logger.warning("integrity error answered 409", exc_info=err)
        return refuse(409, "conflict", "与刚刚保存的内容冲突（可能有人同时提交），请刷新后重试")

    @app.errorhandler(DataError)
    def data_error(err: DataError) -> Any:
        # A value the database cannot store (a NUL character, text past a column's length)
        # that a check let through: refused, nothing kept.
        return refuse(422, "invalid", "提交的内容含有无法保存的字符或超出长度，请检查后重试")

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> Any:
        app.logger.exception("unhandled error")
        return refuse(500, "internal", "系统内部错误，已记录，请稍后再试")


def render_error(code: int, message: str | None) -> str:
    return render_template(
        "errors/error.html", code=code, title=ERROR_TITLES.get(code, "出错了"), message=message
    )
