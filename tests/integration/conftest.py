"""Integration tier: real PostgreSQL, Redis and a celery worker process.

The services are required, never optional: when PostgreSQL or Redis cannot be reached
every test of this tier fails with a message saying how to start them (``make services``).

Once per session the PostgreSQL schema is dropped and rebuilt by the real Alembic
migrations, the Redis test database is flushed and one ``celery -A worker worker`` process
is started on them. Every table is emptied after each test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import flask_migrate
import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from tests.conftest import build_app, clear_tables
from tests.signing_ca import signing_env
from workflow.core.models import db

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SECRET_KEY = "test-secret-key-not-for-production"  # the same as tests.conftest.build_app
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
HOW_TO_START = "Start the services with `make services` (see .ci/services.sh)."
WORKER_START_SECONDS = 60
QUEUE = "celery"  # Celery's default queue: a Redis list of that name

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1,
             what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def migrate(direction: str = "upgrade", revision: str = "head") -> None:
    """``flask_migrate.upgrade``/``downgrade`` in the current app context."""
    if direction == "upgrade":
        flask_migrate.upgrade(revision=revision)
    else:
        flask_migrate.downgrade(revision=revision)


# ---- services ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_url() -> str:
    return os.environ.get("KJFLOW_TEST_DATABASE_URL", DEFAULT_PG)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("KJFLOW_TEST_REDIS_URL", DEFAULT_REDIS)


@pytest.fixture(scope="session")
def _postgres(pg_url: str) -> str:
    """PostgreSQL reachable, with an empty ``public`` schema."""
    engine = sa.create_engine(pg_url, connect_args={"connect_timeout": 5},
                              poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as err:
        pytest.fail(f"PostgreSQL is not reachable at {pg_url}: {err.orig!r}\n{HOW_TO_START}",
                    pytrace=False)
    finally:
        engine.dispose()
    return pg_url


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """Redis reachable, its test database flushed."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
    try:
        client.ping()
        client.flushdb()
    except redis.exceptions.RedisError as err:
        client.close()
        pytest.fail(f"Redis is not reachable at {redis_url}: {type(err).__name__}: {err}\n"
                    f"{HOW_TO_START}",
                    pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


# ---- the app under test -----------------------------------------------------------------

def make_app(instance: Path, database_url: str, broker_url: str, **extra: Any) -> Flask:
    """``build_app`` with Celery's broker on ``broker_url``.

    ``workflow.config.celery_settings`` reads the broker from the environment when the
    app is created, so the variable is set for that moment only.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CELERY_BROKER_URL", broker_url)
        mp.delenv("REDIS_URL", raising=False)
        app = build_app(instance, database_url, **extra)
    assert app.config["CELERY"]["broker_url"] == broker_url
    return app


def dispose_app(app: Flask) -> None:
    """Close every pooled connection and the Celery producer pool of ``app``."""
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    app.extensions["celery"].close()


@pytest.fixture(scope="session")
def integration_app(_postgres: str, redis_client: redis.Redis, redis_url: str,
                    instance_dir: Path) -> Iterator[Flask]:
    """The app on PostgreSQL, schema built by the real migrations."""
    app = make_app(instance_dir, _postgres, redis_url)
    with app.app_context():
        migrate("upgrade")
        missing = sorted(set(db.metadata.tables) - set(sa.inspect(db.engine).get_table_names()))
    if missing:
        # Every test would fail on these tables; say why once, plainly.
        dispose_app(app)
        pytest.fail(f"the migrations at head do not create tables the models declare: "
                    f"{', '.join(missing)}. Add a migration "
                    f"(`.venv/bin/flask --app workflow db migrate -m ...`) and review it.",
                    pytrace=False)
    yield app
    dispose_app(app)


# ---- the celery worker ------------------------------------------------------------------

class Worker:
    """One ``celery -A worker worker`` process and its log."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path, name: str) -> None:
        self.proc = proc
        self.log_path = log_path
        self.name = name

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker(tmp: Path, pg: str, broker: str, instance: Path, name: str,
                 *extra_args: str) -> Worker:
    log_path = tmp / f"{name.partition('@')[0]}.log"
    env = {
        **os.environ,
        "DATABASE_URL": pg,
        "CELERY_BROKER_URL": broker,
        "KJFLOW_INSTANCE": str(instance),
        "SECRET_KEY": SECRET_KEY,
        # The worker signs with the throwaway CA's certificate the test app trusts.
        **signing_env(),
        "PYTHONUNBUFFERED": "1",
        # This checkout's packages, whatever the venv's editable install points at.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("REDIS_URL", None)
    # Workers of different tests share the database but not always the broker (a test may
    # run a Redis of its own): a worker's own timed sweeps would relay another test's
    # events to the wrong broker. The tests sweep when they mean to, unless one sets this.
    env.setdefault("KJFLOW_OUTBOX_SWEEP_SECONDS", "0")
    cmd = [str(VENV_BIN / "celery"), "-A", "worker", "worker", "--pool=solo",
           "--loglevel=INFO", "--without-mingle", "--without-gossip",
           "--hostname", name, *extra_args]
    with log_path.open("wb") as log:
        # The child keeps its own copy of the descriptor; ours is closed on leaving.
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    worker = Worker(proc, log_path, name)
    deadline = time.monotonic() + WORKER_START_SECONDS
    while True:
        text = worker.log()
        if " ready." in text:
            return worker
        if proc.poll() is not None:
            pytest.fail(f"the celery worker exited with {proc.returncode} before it was ready; "
                        f"its log:\n{text}", pytrace=False)
        if time.monotonic() > deadline:
            stop_worker(worker)
            pytest.fail(f"the celery worker was not ready within {WORKER_START_SECONDS} s; "
                        f"its log:\n{worker.log()}", pytrace=False)
        time.sleep(0.2)


def stop_worker(worker: Worker) -> None:
    proc = worker.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def celery_worker(integration_app: Flask, _postgres: str, redis_url: str, instance_dir: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A real worker process on the test database and the Redis test broker."""
    tmp = tmp_path_factory.mktemp("worker")
    worker = start_worker(tmp, _postgres, redis_url, instance_dir,
                          f"kjflow-it-{os.getpid()}@integration")
    yield worker
    stop_worker(worker)
    # Tasks that failed in the worker would otherwise pass unnoticed.
    log = worker.log()
    assert "Traceback" not in log, f"the celery worker logged an error:\n{log}"


def worker_idle(app: Flask, worker: Worker, redis_client: redis.Redis) -> bool:
    """Nothing waits in the queue and the worker holds no task (running, prefetched, ETA)."""
    if redis_client.llen(QUEUE):
        return False
    inspect = app.extensions["celery"].control.inspect(
        destination=[worker.name], timeout=2.0)
    for reply in (inspect.active(), inspect.reserved(), inspect.scheduled()):
        if not reply:  # no answer: cannot tell
            return False
        if any(tasks for tasks in reply.values()):
            return False
    return not redis_client.llen(QUEUE)


@pytest.fixture
def wait_idle(integration_app: Flask, celery_worker: Worker,
              redis_client: redis.Redis) -> Callable[[], None]:
    def wait() -> None:
        assert celery_worker.proc.poll() is None, f"worker died:\n{celery_worker.log()}"
        wait_for(lambda: worker_idle(integration_app, celery_worker, redis_client),
                 timeout=30, interval=0.2, what="the celery worker to be idle")

    return wait


# ---- per test ---------------------------------------------------------------------------

@pytest.fixture
def app(integration_app: Flask) -> Iterator[Flask]:
    """The integration app in an app context; every table emptied afterwards."""
    integration_app.extensions.pop("kjflow.outbox_sender", None)  # the real Celery sender
    with integration_app.app_context():
        try:
            yield integration_app
        finally:
            integration_app.extensions.pop("kjflow.outbox_sender", None)
            db.session.remove()
            clear_tables()


@pytest.fixture
def worker_app(app: Flask, wait_idle: Callable[[], None]) -> Iterator[Flask]:
    """``app`` with the worker running; the worker is idle before the test and again before
    the tables are emptied, so no task of one test acts on the rows of the next."""
    wait_idle()
    yield app
    wait_idle()
