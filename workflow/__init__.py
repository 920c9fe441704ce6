"""kjflow: the Flask application."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from celery import Celery, Task
from flask import Flask
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from workflow import config as config_module
from workflow.core import files
from workflow.core.extensions import babel, csrf, db, login_manager, migrate
from workflow.core.models.base import SQLITE_BUSY_MS, SQLITE_WRITER
from workflow.core.uow import UnitOfWorkFlask

ROOT = Path(__file__).resolve().parent.parent


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_loads(value: str | bytes) -> Any:
    """JSON columns read by orjson: the officer's 工作台 reads 9,000 applications' answers
    and review scores, and ``json`` took 0.45 s of its 1.5 s. What orjson refuses and
    ``json`` reads (``NaN``) is read by ``json``. (orjson reads an integer beyond 64 bits
    as a float; the forms keep integers within ``forms.schema.INTEGER_LIMIT``.)"""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    # Every request is one unit of work: committed once when it succeeds, rolled back
    # when it fails (workflow/core/uow.py).
    app = UnitOfWorkFlask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "templates" / "static"),
        instance_path=str(
            (test_config or {}).get("INSTANCE_PATH")
            or os.environ.get("KJFLOW_INSTANCE")
            or ROOT / "instance"
        ),
    )
    app.config.from_mapping(config_module.load(Path(app.instance_path)))
    if test_config:
        app.config.update(test_config)
    # JSON columns keep Chinese as it is (SQLite stores them as text, which a list's
    # keyword search reads; PostgreSQL's JSONB keeps its own form either way).
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "json_serializer": _json_dumps, "json_deserializer": _json_loads,
        **(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})}
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops:
        # The client's address (what the throttles count by) and scheme as the configured
        # number of reverse proxies report them; with none, X-Forwarded-* are ignored, so
        # that a client cannot pick the address it is counted under.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops)

    app.url_map.converters["int"] = BoundedInt
    app.request_class = files.UploadRequest
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    login_manager.init_app(app)
    with app.app_context():
        _tune_sqlite(db.engine)
    celery_init_app(app)

    # First of the request's hooks: a hook that reads (the signed-in person, the account
    # gate) would otherwise open a POST's transaction as a reader, which SQLite then
    # refuses to upgrade once another process has written.
    @app.before_request
    def _mark_writer() -> None:
        from flask import g, request

        from workflow.core import uow

        if request.method not in ("GET", "HEAD", "OPTIONS") or uow.writes_on(
                app.view_functions.get(request.endpoint or "")):
            g.sqlite_writer = SQLITE_WRITER.set(True)

    _install_features(app)

    @app.teardown_request
    def _unmark_writer(_exc: BaseException | None) -> None:
        from flask import g

        token = g.pop("sqlite_writer", None)
        if token is not None:
            SQLITE_WRITER.reset(token)

    from workflow import cli, web
    from workflow.core import outbox

    web.init_app(app)
    cli.init_app(app)
    outbox.init_app(app)
    return app


# Every feature's tables, in the order they depend on each other.
MODELS = ("workflow.core.models", "workflow.accounts.models", "workflow.calls.models",
          "workflow.applying.models", "workflow.review.models", "workflow.decisions.models",
          "workflow.finance.models", "workflow.notify.models", "workflow.documents.models",
          "workflow.holidays.models", "workflow.annual.models", "workflow.changes.models",
          "workflow.evaluation.models", "workflow.acceptance.models",
          "workflow.midterm.models")


def load_models() -> None:
    """Import every feature's models, so that the mappers and the metadata are whole
    (the factory does it; so may a script that uses the models without an app)."""
    for name in MODELS:
        importlib.import_module(name)


def _install_features(app: Flask) -> None:
    """The features, listed: their tables, pages and API routes, and the rules that
    ``states/`` names. Nothing is registered by being imported elsewhere."""
    load_models()
    from workflow.acceptance import api as acceptance_api
    from workflow.acceptance import rules as acceptance_rules
    from workflow.acceptance import todo as acceptance_todo
    from workflow.acceptance import views as acceptance_views
    from workflow.accounts import api as accounts_api
    from workflow.accounts import views as accounts_views
    from workflow.annual import api as annual_api
    from workflow.annual import operations as annual_operations
    from workflow.annual import rules as annual_rules
    from workflow.annual import views as annual_views
    from workflow.api import api_bp, openapi
    from workflow.applying import api as applying_api
    from workflow.applying import rules as applying_rules
    from workflow.applying import views as applying_views
    from workflow.archive import api as archive_api
    from workflow.archive import rules as archive_rules
    from workflow.archive import views as archive_views
    from workflow.calls import api as calls_api
    from workflow.calls import rules as calls_rules
    from workflow.calls import views as calls_views
    from workflow.changes import api as changes_api
    from workflow.changes import rules as changes_rules
    from workflow.changes import views as changes_views
    from workflow.core import registry
    from workflow.decisions import api as decisions_api
    from workflow.decisions import rules as decisions_rules
    from workflow.decisions import views as decisions_views
    from workflow.documents import api as documents_api
    from workflow.documents import numbering_api, numbering_views, official
    from workflow.documents import rules as documents_rules
    from workflow.documents import views as documents_views
    from workflow.evaluation import api as evaluation_api
    from workflow.evaluation import rules as evaluation_rules
    from workflow.evaluation import views as evaluation_views
    from workflow.finance import api as finance_api
    from workflow.finance import recovery_api, recovery_rules, recovery_views
    from workflow.finance import rules as finance_rules
    from workflow.finance import views as finance_views
    from workflow.holidays import api as holidays_api
    from workflow.holidays import views as holidays_views
    from workflow.midterm import api as midterm_api
    from workflow.midterm import rules as midterm_rules
    from workflow.midterm import todo as midterm_todo
    from workflow.midterm import views as midterm_views
    from workflow.notify import api as notify_api
    from workflow.notify import inbox
    from workflow.notify import rules as notify_rules
    from workflow.notify import views as notify_views
    from workflow.review import api as review_api
    from workflow.review import defence_api, experts_api
    from workflow.review import rules as review_rules
    from workflow.review import views as review_views
    from workflow.workbench import api as workbench_api
    from workflow.workbench import entities, jobs, public, todo
    from workflow.workbench import views as workbench_views

    registry.install([calls_rules.RULES, applying_rules.RULES, review_rules.RULES,
                      decisions_rules.RULES, finance_rules.RULES, notify_rules.RULES,
                      documents_rules.RULES, recovery_rules.RULES, annual_rules.RULES,
                      changes_rules.RULES, archive_rules.RULES, evaluation_rules.RULES,
                      acceptance_rules.RULES, midterm_rules.RULES])
    # The API routes are declared on ``api_bp`` by these modules.
    del openapi, workbench_api, applying_api, calls_api, decisions_api, finance_api, review_api
    del accounts_api, defence_api, experts_api, documents_api, notify_api, holidays_api
    del numbering_api, recovery_api, annual_api, changes_api, archive_api, evaluation_api
    del acceptance_api, midterm_api
    for blueprint in (accounts_views.bp, workbench_views.bp, calls_views.bp, applying_views.bp,
                      review_views.bp, decisions_views.bp, finance_views.bp, notify_views.bp,
                      documents_views.bp, holidays_views.bp, numbering_views.bp, public.bp,
                      entities.bp, jobs.bp, recovery_views.bp, annual_views.bp,
                      changes_views.bp, archive_views.bp, evaluation_views.bp,
                      acceptance_views.bp, midterm_views.bp, api_bp):
        app.register_blueprint(blueprint)
    jobs.init_app(app)
    entities.EXTRAS["acceptance"] = acceptance_views.acceptance_extra
    entities.PROJECT_EXTRAS["acceptance"] = acceptance_views.project_extra
    todo.EXTRA_TODOS["acceptance"] = acceptance_todo.acceptance_todos
    todo.EXTRA_TODOS["midterm"] = midterm_todo.expert_seats
    app.jinja_env.globals["DOC_KINDS"] = official.KINDS
    app.jinja_env.globals["ANNUAL"] = annual_operations.PAGE
    app.jinja_env.globals["ARCHIVE"] = archive_views.PAGE
    app.jinja_env.globals["EVALUATION"] = evaluation_views.PAGE
    app.jinja_env.globals["MIDTERM"] = midterm_views.PAGE
    app.context_processor(inbox.unread_context)


class BoundedInt(IntegerConverter):
    """``<int:id>``: ASCII digits only; an id no column can hold becomes 0, which no row
    has, so the view answers its usual 404 (raising here would make werkzeug answer 405
    for the other methods of the same path)."""

    regex = r"[0-9]{1,10}"

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= 2**31 - 1 else 0


def _select_locale() -> str:
    from flask import request

    chosen = request.args.get("lang") or request.cookies.get("lang")
    return chosen if chosen in ("zh_CN", "en") else "zh_CN"


def _tune_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout and ``BEGIN IMMEDIATE`` for writers let the web process and the
    worker share one SQLite file: a writing transaction takes the write lock when it
    starts, so it waits for another writer instead of failing with "database is locked"
    half-way through; reading requests keep WAL's snapshot reads and block nobody."""
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if SQLITE_WRITER.get() else "BEGIN")

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is switched off; the "begin" event above
        # opens each transaction instead.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


def celery_init_app(app: Flask) -> Celery:
    """The Celery app built from the Flask app: every task runs in an app context."""

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            token = SQLITE_WRITER.set(True)
            try:
                with app.app_context():
                    return self.run(*args, **kwargs)
            finally:
                SQLITE_WRITER.reset(token)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
