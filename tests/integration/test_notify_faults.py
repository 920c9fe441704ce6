"""E-mail notifications under faults, on the real stack: PostgreSQL, a Redis server and a
celery worker process of each test's own, and a real SMTP server (aiosmtpd).

Every test starts its own ``redis-server`` on a free port and its own worker on it, so it
may stop Redis or kill the worker without touching the session's broker and worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import psycopg
import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from states import ApplicationState
from tests.conftest import clear_tables
from tests.factories import ApplicationFactory, CallFactory, OrganizationFactory, UserFactory
from tests.integration.conftest import (
    Worker,
    dispose_app,
    make_app,
    start_worker,
    stop_worker,
    wait_for,
    worker_idle,
)
from tests.smtp import SmtpServer, free_port
from workflow.accounts.models import User
from workflow.applying import operations as applications
from workflow.applying.models import Application
from workflow.core import engine, outbox
from workflow.core.models import OutboxEvent, db
from workflow.documents.models import Document
from workflow.notify.models import DeliveryAttempt, DeliveryState, Notification
from workflow.notify.notifications import (
    _LOCKS,
    DeliveryFailed,
    close_smtp,
    deliver_many,
    message_id,
)

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 30  # how long Redis stays down (the figure)
REDIS_START_SECONDS = 10


# ---- a Redis server and a worker of the test's own ---------------------------------------

class RedisServer:
    """One ``redis-server`` process on a free port; stopped and started again on that
    same port, empty each time (no persistence), as a restarted broker may well be."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (see .ci/services.sh)", pytrace=False)
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = tmp / f"redis-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--daemonize", "no"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + REDIS_START_SECONDS
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not start on port {self.port}:\n"
                            f"{self.log_path.read_text(errors='replace')}", pytrace=False)
            time.sleep(0.05)

    def ping(self) -> bool:
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=3, socket_timeout=5)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def pool_children(worker: Worker) -> list[int]:
    """The pool processes of a prefork worker."""
    pid = worker.proc.pid
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class Stack:
    """The app under test and the workers, both on this test's own Redis server."""

    def __init__(self, tmp: Path, pg: str, instance: Path) -> None:
        self.tmp, self.pg, self.instance = tmp, pg, instance
        self.redis = RedisServer(tmp)
        self.redis.start()
        self.app = make_app(instance, pg, self.redis.url)
        self.workers: list[Worker] = []
        self.orphans: list[int] = []  # pool processes of workers killed on purpose

    def start_worker(self, smtp_port: int, *extra_args: str) -> Worker:
        name = f"kjflow-notify-{os.getpid()}-{len(self.workers)}@integration"
        with pytest.MonkeyPatch.context() as mp:  # start_worker passes os.environ on
            mp.setenv("MAIL_SERVER", "127.0.0.1")
            mp.setenv("MAIL_PORT", str(smtp_port))
            worker = start_worker(self.tmp, self.pg, self.redis.url, self.instance, name,
                                  *extra_args)
        self.workers.append(worker)
        return worker

    def kill(self, worker: Worker) -> int:
        """SIGKILL a worker's pool processes and then the worker itself; how many."""
        children = pool_children(worker)
        self.orphans.extend(children)
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(timeout=10)
        return len(children) + 1

    def idle(self, client: redis.Redis) -> bool:
        live = [w for w in self.workers if w.proc.poll() is None]
        return all(worker_idle(self.app, w, client) for w in live)

    def close(self) -> None:
        try:
            for worker in self.workers:
                stop_worker(worker)
            for pid in self.orphans:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            self.redis.stop()


@pytest.fixture
def stack(integration_app: Flask, _postgres: str, instance_dir: Path,
          tmp_path: Path) -> Iterator[Stack]:
    """A Redis server of the test's own, the app under test on it (in an app context);
    afterwards every worker and the Redis server stopped and every table emptied."""
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
        own.redis.stop()
        dispose_app(own.app)


# ---- data and what arrived ---------------------------------------------------------------

def formal_review(n: int) -> list[Application]:
    """``n`` applications in formal review, each by its own applicant (own e-mail)."""
    call = CallFactory()
    rows = [cast(Application, ApplicationFactory(call=call,
                                                 state=ApplicationState.formal_review))
            for _ in range(n)]
    db.session.commit()
    return rows


def an_officer() -> User:
    officer = cast(User, UserFactory(roles=("officer",)))
    db.session.commit()
    return officer


def return_for_revision(row: Application, officer: User) -> None:
    engine.fire(row, "return_for_revision", officer, comment="请补充近三年财务审计报告")


def submit_new(call_id: int) -> None:
    """A researcher submits a new application: the round's e-mail (and its PDF)."""
    researcher = cast(User, UserFactory(organization=OrganizationFactory(),
                                        roles=("applicant",)))
    db.session.flush()
    row = applications.create_draft(researcher, call_id, "离子型稀土绿色提取",
                                    data={"summary": "低氨氮浸出工艺。"})
    applications.sign(researcher, row)
    applications.submit(researcher, row)


def emails() -> list[Notification]:
    db.session.rollback()  # a fresh transaction: what the worker committed
    return list(db.session.scalars(sa.select(Notification).where(
        Notification.channel == "email").order_by(Notification.id)))


def all_sent(expected: int) -> bool:
    rows = emails()
    return len(rows) == expected and all(n.state is DeliveryState.sent for n in rows)


def attempts_by_notification() -> dict[int, list[bool]]:
    db.session.rollback()
    log: dict[int, list[bool]] = {}
    for nid, ok in db.session.execute(sa.select(
            DeliveryAttempt.notification_id, DeliveryAttempt.ok).order_by(DeliveryAttempt.id)):
        log.setdefault(nid, []).append(ok)
    return log


def undispatched() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent).where(
        OutboxEvent.dispatched_at.is_(None))) or 0


def arrived(smtp: SmtpServer) -> list[tuple[str, str]]:
    """(Message-ID, To) of every message the SMTP server accepted, repeats included."""
    with smtp.sink.lock:
        return [(str(m["Message-ID"]), str(m["To"])) for m in smtp.sink.messages]


def assert_exactly_once(smtp: SmtpServer, rows: list[Notification]) -> None:
    got = arrived(smtp)
    expected = {message_id(n.key): str(n.address) for n in rows}
    by_id = Counter(mid for mid, _ in got)
    by_to = Counter(to for _, to in got)
    assert set(by_id) == set(expected), "lost or unknown messages"
    assert [mid for mid, k in by_id.items() if k > 1] == [], "a message arrived twice"
    assert sorted(by_to) == sorted(expected.values())
    assert set(by_to.values()) == {1}, "someone got two e-mails"
    assert all(n.state is DeliveryState.sent for n in rows)


def connections(worker: Worker, port: int) -> int:
    """How often the worker has connected to the broker on ``port`` (the URL it logs
    masks the password: ``redis://:**@127.0.0.1:<port>/0``)."""
    return sum(1 for line in worker.log().splitlines()
               if "Connected to redis://" in line and f"127.0.0.1:{port}/" in line)


def wait_idle(stack: Stack, client: redis.Redis) -> None:
    wait_for(lambda: stack.idle(client), timeout=60, interval=0.3,
             what="the workers to be idle")


# ---- the tests ---------------------------------------------------------------------------

def test_a_redis_outage_loses_no_email_and_sends_none_twice(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """Redis is down for 30 s while officers return applications and researchers submit:
    every change commits, the relays fail quietly; Redis comes back empty, the worker
    reconnects and relays what was left, and everyone gets one e-mail."""
    returned, submitted = 16, 4
    with SmtpServer() as smtp:
        worker = stack.start_worker(smtp.port)
        officer = an_officer()
        rows = formal_review(returned)
        call_id = rows[0].call_id

        stack.redis.stop()
        down_at = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="workflow.core.outbox"):
            # Spread over the first part of the outage, one commit each, as people work.
            for i, row in enumerate(rows):
                return_for_revision(row, officer)
                db.session.commit()
                if i < submitted:
                    submit_new(call_id)
                    db.session.commit()
                time.sleep(0.5)
        lost_sends = caplog.text.count("the sweep will retry")
        assert lost_sends == returned + submitted, "every relay should have failed"
        db.session.rollback()
        made = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEvent)) or 0
        assert made >= returned + submitted and undispatched() == made
        assert emails() == []
        assert time.monotonic() - down_at < OUTAGE_SECONDS, "making the events took too long"
        time.sleep(OUTAGE_SECONDS - (time.monotonic() - down_at))

        stack.redis.start()  # the same port, an empty broker
        client = stack.redis.client()
        try:
            # The same worker process connects again (it retries with growing pauses).
            wait_for(lambda: connections(worker, stack.redis.port) >= 2,
                     timeout=60, interval=0.3, what="the worker to reconnect to Redis")
            assert worker.proc.poll() is None
            # No sweep from here: the worker, connected again, has the outbox relayed again
            # itself (worker/steps.py), the beat or not.

            expected = returned + submitted
            wait_for(lambda: all_sent(expected) and len(arrived(smtp)) >= expected,
                     timeout=90, interval=0.3, what="every e-mail to be sent")
            wait_idle(stack, client)
            assert outbox.sweep(older_than_seconds=0) == 0  # the outbox is drained
            assert undispatched() == 0
            time.sleep(1)  # nothing more arrives
            wait_idle(stack, client)
        finally:
            client.close()
        rows_now = emails()
        assert len(rows_now) == expected
        assert_exactly_once(smtp, rows_now)
        assert all(log == [True] for log in attempts_by_notification().values())
        # The submissions' archival PDFs too, one each.
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == submitted


def test_a_worker_killed_while_sending_sends_every_email_and_repeats_only_unrecorded_ones(
        stack: Stack) -> None:
    """SIGKILL the pool processes and the main process of a prefork worker halfway
    through 40 e-mails to a slow SMTP server. A new worker, which relays the outbox again
    as it starts (the designed recovery for tasks the dead main process held), sends the
    rest. A message the server
    took but whose sending was never recorded may come again, with the same
    Message-ID; one recorded as sent never does."""
    n = 40
    with SmtpServer(delay=0.3) as smtp:
        first = stack.start_worker(smtp.port, "--pool=prefork", "--concurrency=2")
        officer = an_officer()
        rows = formal_review(n)
        for row in rows:
            return_for_revision(row, officer)
        db.session.commit()  # one relay for the 40 events

        wait_for(lambda: len(arrived(smtp)) >= 10, timeout=60, interval=0.02,
                 what="the worker to be sending")
        killed = stack.kill(first)
        at_kill = len(arrived(smtp))
        time.sleep(0.5)  # a COMMIT sent just before the kill finishes or rolls back
        sent_at_kill = {m.id for m in emails() if m.state is DeliveryState.sent}
        assert len(sent_at_kill) < n and at_kill < n, "the kill came too late to matter"
        assert all(log.count(True) == 1 for log in attempts_by_notification().values())

        second = stack.start_worker(smtp.port, "--pool=prefork", "--concurrency=2")
        # What the dead main process held stays invisible on Redis for the visibility
        # timeout (an hour); the new worker has those events relayed again as it starts
        # (worker/steps.py).
        client = stack.redis.client()
        try:
            wait_for(lambda: all_sent(n) and len({m for m, _ in arrived(smtp)}) == n,
                     timeout=120, interval=0.3, what="every e-mail to be sent")
            wait_idle(stack, client)
            time.sleep(1)
            wait_idle(stack, client)
        finally:
            client.close()
        assert second.proc.poll() is None

    rows_now = emails()
    got = arrived(smtp)
    key_of = {message_id(m.key): m for m in rows_now}
    by_id = Counter(mid for mid, _ in got)
    assert set(by_id) == set(key_of), "lost or unknown messages"
    repeats = {mid: k - 1 for mid, k in by_id.items() if k > 1}
    print(f"killed {killed} processes with {at_kill}/{n} e-mails at the server, "
          f"{len(sent_at_kill)} recorded sent; repeats afterwards: {sum(repeats.values())}")
    # Only a message in flight at the kill can come again: one per killed pool process.
    assert sum(repeats.values()) <= killed - 1, repeats
    # A repeat is recognisably the same message: one Message-ID per recipient.
    ids_of: dict[str, set[str]] = {}
    for mid, to in got:
        ids_of.setdefault(to, set()).add(mid)
    assert all(len(ids) == 1 for ids in ids_of.values())
    assert len(ids_of) == n
    # Nothing recorded as sent was sent again, and each has exactly one recorded success.
    assert not {key_of[mid].id for mid in repeats} & sent_at_kill
    log = attempts_by_notification()
    assert sorted(log) == sorted(m.id for m in rows_now)
    assert all(entries.count(True) == 1 for entries in log.values()), log
    assert all(m.state is DeliveryState.sent for m in rows_now)


def test_a_refusing_smtp_server_is_retried_with_backoff_until_it_accepts(
        stack: Stack) -> None:
    """The SMTP server answers 451 three times: the worker retries with backoff, the log
    shows the refusals and then one success, and each message arrives once."""
    n = 3
    with SmtpServer() as smtp:
        smtp.sink.refusing = 3
        worker = stack.start_worker(smtp.port)
        officer = an_officer()
        for row in formal_review(n):
            return_for_revision(row, officer)
            db.session.commit()

        wait_for(lambda: all_sent(n), timeout=90, interval=0.3, what="every e-mail to be sent")
        client = stack.redis.client()
        try:
            wait_idle(stack, client)
        finally:
            client.close()

    assert smtp.sink.refusing == 0
    rows = emails()
    assert_exactly_once(smtp, rows)
    log = attempts_by_notification()
    assert sorted(log) == [m.id for m in rows]
    for entries in log.values():
        assert entries[-1] is True and entries.count(True) == 1  # refusals, then one success
    assert sum(entries.count(False) for entries in log.values()) == 3
    assert {m.id: m.attempts for m in rows} == {nid: len(e) for nid, e in log.items()}
    db.session.rollback()
    refusals = db.session.scalars(sa.select(DeliveryAttempt.detail).where(
        DeliveryAttempt.ok.is_(False))).all()
    assert all("451" in detail for detail in refusals), refusals
    text = worker.log()
    assert text.count("Retry in") == 3, text
    assert "Traceback" not in text, text


def test_a_notification_another_worker_is_sending_is_left_to_it_and_sent_once(
        app: Flask, pg_url: str) -> None:
    """PostgreSQL: a worker sending a batch holds a claim on each of its notifications
    (a session lock that outlives its per-message commits). A second worker given one of
    them meanwhile sends nothing and fails it for the retry; the retry, after the first
    let go, finds it sent."""
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None  # no worker here
    (row,) = formal_review(1)
    return_for_revision(row, an_officer())
    db.session.commit()
    (event_id,) = db.session.scalars(sa.select(OutboxEvent.id).where(
        OutboxEvent.topic == "application.return_for_revision"))
    outbox.consume(event_id, "notify")
    (email,) = emails()
    with SmtpServer() as smtp, psycopg.connect(pg_url.replace("+psycopg", ""),
                                                     autocommit=True) as first:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        try:
            first.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCKS, email.id))
            sent, failures = deliver_many([email.id])
            assert sent == set() and isinstance(failures[email.id], DeliveryFailed)
            assert smtp.sink.messages == [] and emails()[0].state is DeliveryState.pending

            # The first worker lets go; the retry sends it, once.
            first.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCKS, email.id))
            assert deliver_many([email.id]) == ({email.id}, {})
            assert deliver_many([email.id]) == (set(), {})
        finally:
            close_smtp()
            app.config.update(MAIL_SERVER=None, MAIL_PORT=25)
    assert len(smtp.sink.messages) == 1
    assert attempts_by_notification() == {email.id: [True]}
