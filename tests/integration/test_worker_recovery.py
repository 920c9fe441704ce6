"""A worker and the beat SIGKILLed in mid-render, the worker alone started again: every
document appears within two minutes, not after Redis's visibility timeout (an hour).

The test runs a Redis server of its own (as ``test_notify_faults`` does), so that no
other worker of the session takes its tasks, and its workers sweep the outbox on their
own schedule, as in production (``worker/steps.py``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import clear_tables
from tests.factories import CallFactory, OrganizationFactory, UserFactory
from tests.integration.conftest import (
    ROOT,
    SECRET_KEY,
    VENV_BIN,
    Worker,
    dispose_app,
    make_app,
    start_worker,
    stop_worker,
    wait_for,
)
from tests.integration.test_notify_faults import RedisServer
from workflow.applying import operations as applications
from workflow.applying.models import Application
from workflow.core import outbox
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.documents.models import Document

pytestmark = pytest.mark.integration

APPLICATIONS = 6
RECOVERY_SECONDS = 120  # the bound, from the kill to the last document
BEAT_START_SECONDS = 60


class Stack:
    """This test's Redis server, the app on it, and the worker and beat processes."""

    def __init__(self, tmp: Path, pg: str, instance: Path) -> None:
        self.tmp, self.pg, self.instance = tmp, pg, instance
        self.redis = RedisServer(tmp)
        self.redis.start()
        self.app = make_app(instance, pg, self.redis.url)
        self.workers: list[Worker] = []
        self.beat: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": self.pg, "CELERY_BROKER_URL": self.redis.url,
               "KJFLOW_INSTANCE": str(self.instance), "SECRET_KEY": SECRET_KEY,
               "PYTHONUNBUFFERED": "1", "KJFLOW_OUTBOX_SWEEP_SECONDS": "30",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))}
        env.pop("REDIS_URL", None)
        return env

    def start_worker(self) -> Worker:
        name = f"kjflow-recovery-{os.getpid()}-{len(self.workers)}@integration"
        with pytest.MonkeyPatch.context() as mp:  # start_worker passes os.environ on
            mp.setenv("KJFLOW_OUTBOX_SWEEP_SECONDS", "30")  # the production default
            worker = start_worker(self.tmp, self.pg, self.redis.url, self.instance, name)
        self.workers.append(worker)
        return worker

    def start_beat(self) -> subprocess.Popen[bytes]:
        log_path = self.tmp / "beat.log"
        with log_path.open("wb") as log:
            self.beat = subprocess.Popen(
                [str(VENV_BIN / "celery"), "-A", "worker", "beat", "--loglevel=INFO",
                 "--schedule", str(self.tmp / "celerybeat-schedule")],
                cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        wait_for(lambda: b"beat: Starting" in log_path.read_bytes()
                 or self.beat.poll() is not None,  # type: ignore[union-attr]
                 timeout=BEAT_START_SECONDS, interval=0.2, what="the beat to start")
        assert self.beat.poll() is None, log_path.read_text(errors="replace")
        return self.beat

    def close(self) -> None:
        try:
            for worker in self.workers:
                stop_worker(worker)
            if self.beat is not None and self.beat.poll() is None:
                self.beat.kill()
                self.beat.wait(timeout=10)
        finally:
            self.redis.stop()


@pytest.fixture
def stack(integration_app: Flask, _postgres: str, instance_dir: Path,
          tmp_path: Path) -> Iterator[Stack]:
    own = Stack(tmp_path, _postgres, instance_dir)
    try:
        with own.app.app_context():
            try:
                yield own
            finally:
                db.session.remove()
                own.close()
                clear_tables()
    finally:
        dispose_app(own.app)


def kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def documents() -> int:
    db.session.expire_all()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Document))
    db.session.rollback()
    return count or 0


def test_a_worker_and_beat_killed_mid_render_recover_every_document_within_two_minutes(
        stack: Stack) -> None:
    # The premise: what a killed worker held would wait an hour on Redis.
    assert stack.app.config["CELERY"]["broker_transport_options"]["visibility_timeout"] >= 3600
    first = stack.start_worker()
    beat = stack.start_beat()

    org = OrganizationFactory()
    call = CallFactory()
    researchers = [UserFactory(organization=org, roles=("applicant",))
                   for _ in range(APPLICATIONS)]
    db.session.commit()
    for i, researcher in enumerate(researchers):
        row = applications.create_draft(researcher, call.id, f"稀土分离新工艺（第{i + 1}题）",
                                        data={"summary": "新的萃取分离工艺。"})
        applications.sign(researcher, row)
        applications.submit(researcher, row)
    db.session.commit()  # one relay; the renders go to the worker as one task

    wait_for(lambda: documents() >= 1, timeout=90, interval=0.05,
             what="the worker to have rendered a first archival PDF")
    kill(first.proc)
    kill(beat)
    killed_at = time.monotonic()
    at_kill = documents()
    assert at_kill < APPLICATIONS, "the renders all finished before the kill"

    second = stack.start_worker()
    started_in = time.monotonic() - killed_at
    wait_for(lambda: documents() == APPLICATIONS, timeout=RECOVERY_SECONDS - started_in,
             interval=0.2, what="every archival PDF after the worker was started again")
    recovered_in = time.monotonic() - killed_at
    print(f"{at_kill}/{APPLICATIONS} PDFs at the kill; the new worker was ready "
          f"{started_in:.1f} s after it and the last PDF came {recovered_in:.1f} s after it")

    time.sleep(2)  # nothing more arrives: one PDF per application
    per_application = db.session.execute(
        sa.select(Document.application_id, sa.func.count()).group_by(Document.application_id)
    ).all()
    db.session.rollback()
    ids = set(db.session.scalars(sa.select(Application.id)))
    assert dict(per_application) == dict.fromkeys(ids, 1)
    assert second.proc.poll() is None
    assert "Traceback" not in second.log(), second.log()


def test_a_sweep_leaves_what_another_sweep_is_relaying_and_does_not_wait_for_it(
        app: Flask) -> None:
    """Every worker sweeps: while one sweep holds events, a second one at the same moment
    relays the others, neither waiting for the first nor relaying its events again."""
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None  # left to the sweeps
    events = [outbox.emit("test.swept", "application", i) for i in range(3)]
    db.session.commit()
    ids = [e.id for e in events]
    db.session.execute(sa.update(OutboxEvent).where(OutboxEvent.id.in_(ids))
                       .values(created_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()

    first = db.engine.connect()
    held = first.begin()
    first.execute(sa.select(OutboxEvent.id).where(OutboxEvent.id == ids[0]).with_for_update())
    try:
        db.session.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
        outbox.sweep()
    finally:
        held.rollback()
        first.close()
    db.session.rollback()
    done = dict(db.session.execute(sa.select(OutboxEvent.id, OutboxEvent.dispatched_at)
                                   .where(OutboxEvent.id.in_(ids))).all())
    assert done[ids[0]] is None
    assert done[ids[1]] is not None and done[ids[2]] is not None
    # Once the first lets go, the next sweep relays the last one (a journal entry, no task).
    assert outbox.sweep() == 0
    assert all(db.session.scalars(sa.select(OutboxEvent.dispatched_at)
                                  .where(OutboxEvent.id.in_(ids))))
