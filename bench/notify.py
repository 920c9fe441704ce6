"""E-mail notifications per second through the whole path: outbox relay -> celery
workers on Redis -> ``notify`` consumer -> ``notification.deliver`` event -> relay ->
``deliver`` consumer -> SMTP (an aiosmtpd sink in this process).

    .venv/bin/python bench/notify.py [--quick] [--events N] [--workers 2]

Set-up is not timed: a fresh ``kjflow_bench_notify`` database; N applicants (one e-mail
address each) with an application in formal review, which an officer returns for
revision through ``engine.fire`` with the outbox sender switched off, so N events wait
in the outbox and nothing has been relayed; a ``redis-server`` of the benchmark's own on
a free port (the shared Redis is not touched); two ``celery -A worker worker`` processes
(prefork, one pool process each). Timed: from sending the relay tasks for all N events
until the sink holds every expected e-mail and every e-mail notification is recorded
``sent``. Then: duplicates (a Message-ID received twice) and lost (expected minus distinct
received). Also reported: tasks run per e-mail (from the workers' logs), consumes that
found their work done already, pool processes used (the config's
``worker_max_tasks_per_child`` replaces them), CPU per e-mail by process group, and
celery's own cost per near-empty task. Afterwards, untimed, a profile of one
notification's path, stage by stage, in this process, in the workers' batches (time and
SQL statements per e-mail; SMTP with a new connection against a reused one).

Options to try what would change it: ``--worker-arg=--max-tasks-per-child=1000000`` (no
pool process recycling), ``--sweep-every 30`` (the beat's outbox sweep during the run,
as in production).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

# Run from the repo root: ``bench`` and the product packages import from there.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench._common import ROOT, bench_line, build_schema, free_port, fresh_database  # noqa: E402

INSTANCE = ROOT / "instance" / "bench-notify"
SECRET = "bench"  # noqa: S105  (the benchmark's own throwaway key)
PROFILE_SAMPLES = 200
STAGES = ("relay", "consume_notify", "relay_deliver", "consume_deliver")
FIRE_BATCH = 500


# ---- the SMTP sink ----------------------------------------------------------------------

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class Sink:
    """Keeps the Message-ID of every message it accepts (repeats included); cheap, so
    the sink is not what limits the rate."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = _MESSAGE_ID.search(envelope.content)
        with self.lock:
            self.ids.append(found.group(1).decode() if found else "")
        return "250 OK"

    def snapshot(self) -> list[str]:
        with self.lock:
            return list(self.ids)

    def distinct(self) -> int:
        with self.lock:
            return len(set(self.ids))


# ---- processes: redis-server and the celery workers -------------------------------------

class Redis:
    def __init__(self, log_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        log = (log_dir / "redis.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        import redis

        self.client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=5)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    sys.exit("redis-server did not start")
                time.sleep(0.05)

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Worker:
    def __init__(self, index: int, db_url: str, broker: str, smtp_port: int, log_dir: Path,
                 concurrency: int, extra: list[str]) -> None:
        self.name = f"bench-notify-{os.getpid()}-{index}@bench"
        self.log_path = log_dir / f"worker{index}.log"
        env = {**os.environ, "DATABASE_URL": db_url, "CELERY_BROKER_URL": broker,
               "KJFLOW_INSTANCE": str(INSTANCE), "SECRET_KEY": SECRET,
               "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port),
               "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))}
        env.pop("REDIS_URL", None)
        cmd = [str(Path(sys.executable).parent / "celery"), "-A", "worker", "worker",
               "--pool=prefork", f"--concurrency={concurrency}", "--loglevel=INFO",
               "--without-mingle", "--without-gossip", "--hostname", self.name, *extra]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"worker {self.name} did not start:\n{self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ---- the app and the data ---------------------------------------------------------------

def make_app(url: str, broker: str, smtp_port: int):  # type: ignore[no-untyped-def]
    os.environ["CELERY_BROKER_URL"] = broker  # read by the config when the app is made
    os.environ.pop("REDIS_URL", None)
    from workflow import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET,
                      "INSTANCE_PATH": str(INSTANCE), "MAIL_SERVER": "127.0.0.1",
                      "MAIL_PORT": smtp_port, "PUBLIC_BASE_URL": "https://kjj.example.cn"})
    assert app.config["CELERY"]["broker_url"] == broker
    return app


def seed(n: int, tag: int = 0) -> tuple[list[int], float]:
    """``n`` applications in formal review, each by its own applicant, returned for
    revision by an officer with the outbox sender off: the ids of the ``n`` waiting
    outbox events, and how many transitions per second the firing took. ``tag`` keeps
    the names of a second batch apart from the first's."""
    from datetime import timedelta
    from decimal import Decimal

    import sqlalchemy as sa
    from flask import current_app

    from states import ApplicationState, CallState
    from workflow.accounts.models import Organization, OrgKind, User, UserRole
    from workflow.applying.models import Application
    from workflow.calls.models import Call, Scheme
    from workflow.core import engine
    from workflow.core.models import OutboxEvent, db, utcnow

    current_app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    org = Organization(name=f"基准大学{tag}", uscc=f"91360700MA35A000{tag}P",
                       kind=OrgKind.university)
    officer = User(username=f"officer{tag}", name="主管", password_hash="!",  # noqa: S106
                   role_rows=[UserRole(role="officer")])
    call = Call(scheme=Scheme.baogan, year=2026, title="基准指南", state=CallState.closed,
                opens_at=utcnow() - timedelta(days=30), closes_at=utcnow() - timedelta(1),
                budget=Decimal(10**8))
    db.session.add_all([org, officer, call])
    db.session.flush()
    user_ids = list(db.session.scalars(sa.insert(User).returning(User.id), [
        {"username": f"r{tag}-{i:06d}", "name": f"研究员{i}",
         "email": f"r{tag}-{i:06d}@bench.example.cn",
         "password_hash": "!", "organization_id": org.id} for i in range(n)]))
    db.session.execute(sa.insert(UserRole), [{"user_id": u, "role": "applicant"}
                                             for u in user_ids])
    app_ids = list(db.session.scalars(sa.insert(Application).returning(Application.id), [
        {"call_id": call.id, "applicant_id": u, "organization_id": org.id,
         "title": f"稀土功能材料项目{i}", "state": ApplicationState.formal_review,
         "data": {"summary": "摘要"}} for i, u in enumerate(user_ids)]))
    db.session.commit()
    officer_id = officer.id

    start = time.perf_counter()
    for i in range(0, n, FIRE_BATCH):
        actor = db.session.get(User, officer_id)
        for app_id in app_ids[i:i + FIRE_BATCH]:
            row = engine.load("application", app_id, lock=True)
            engine.fire(row, "return_for_revision", actor, comment="请补充近三年财务审计报告")
        db.session.commit()
    fired = n / (time.perf_counter() - start)
    events = list(db.session.scalars(sa.select(OutboxEvent.id).where(
        OutboxEvent.topic == "application.return_for_revision",
        OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.id)))
    current_app.extensions.pop("kjflow.outbox_sender")
    return events, fired


def email_counts() -> tuple[int, int]:
    """(e-mail notifications recorded, of which sent), in a fresh transaction."""
    import sqlalchemy as sa

    from workflow.core.models import db
    from workflow.notify.models import DeliveryState, Notification

    db.session.rollback()
    row = db.session.execute(sa.select(
        sa.func.count(), sa.func.count().filter(Notification.state == DeliveryState.sent))
        .where(Notification.channel == "email")).one()
    return int(row[0]), int(row[1])


# ---- the timed run ----------------------------------------------------------------------

class CpuMeter:
    """CPU seconds spent over the timed run by the workers (main and pool processes,
    recycled ones included up to their last sample), the PostgreSQL backends serving
    the benchmark's database, the Redis server, and this process (the SMTP sink)."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, workers: list[Worker], redis_pid: int, database: str) -> None:
        self.workers = workers
        self.redis_pid = redis_pid
        self.database = database
        self.base: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self.self_start = time.process_time()
        self.self_used = 0.0
        self.backends: set[int] = set()
        self.last_scan = 0.0
        self.sample(first=True)

    @classmethod
    def cpu(cls, pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / cls.TICK

    def _postgres(self) -> set[int]:
        found = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmd = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if cmd.startswith(b"postgres:") and f" {self.database} ".encode() in cmd:
                    found.add(int(entry.name))
        return found

    def sample(self, first: bool = False) -> None:
        now = time.monotonic()
        if first or now - self.last_scan > 1.0:
            self.backends = self._postgres()
            self.last_scan = now
        groups: list[tuple[str, int]] = [("redis", self.redis_pid)]
        groups += [("postgres", pid) for pid in self.backends]
        for w in self.workers:
            groups.append(("workers", w.proc.pid))
            groups += [("workers", pid) for pid in _children(w.proc.pid)]
        for group, pid in groups:
            used = self.cpu(pid)
            if used is None:
                continue
            if pid not in self.base:
                self.base[pid] = used if first else 0.0
            self.last[pid] = (group, used)
        self.self_used = time.process_time() - self.self_start

    def totals(self) -> dict[str, float]:
        out = {"workers": 0.0, "postgres": 0.0, "redis": 0.0, "bench": self.self_used}
        for pid, (group, used) in self.last.items():
            out[group] += used - self.base[pid]
        return out


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def run(app: Any, events: list[int], sink: Sink, redis_server: Redis, relay_batch: int,
        timeout: float, sweep_every: float, meter: CpuMeter) -> tuple[float, bool]:
    """Relay every event through the workers; seconds until all e-mails are in the sink
    and recorded sent (or the timeout), and whether that happened. With ``sweep_every``
    the beat's ``kjflow.sweep_outbox`` is sent that often, as in production."""
    from workflow.core import outbox

    celery = app.extensions["celery"]
    expected = len(events)
    start = time.perf_counter()
    # As the outbox does after commits of ``relay_batch`` events each.
    for i in range(0, expected, relay_batch):
        celery.send_task(outbox.RELAY_TASK, kwargs={"event_ids": events[i:i + relay_batch]})
    deadline = start + timeout
    done = False
    last_report = last_sweep = start
    while time.perf_counter() < deadline:
        if sweep_every and time.perf_counter() - last_sweep >= sweep_every:
            last_sweep = time.perf_counter()
            celery.send_task("kjflow.sweep_outbox")
        if sink.distinct() >= expected:
            _, sent = email_counts()
            if sent >= expected:
                done = True
                break
        now = time.perf_counter()
        if now - last_report >= 10:
            last_report = now
            print(f"  {now - start:5.0f} s: {sink.distinct():,} e-mails received, "
                  f"{redis_server.client.llen('celery'):,} tasks queued", flush=True)
        meter.sample()
        time.sleep(0.1)
    meter.sample()
    return time.perf_counter() - start, done


_TASK_LINE = re.compile(r"INFO/(\S+)\] Task ([\w.]+)\[[^\]]+\] succeeded in ([0-9.]+)s: (.*)")


def task_account(workers: list[Worker]) -> dict[str, Any]:
    """From the workers' logs: tasks run, seconds inside them, consumes that found their
    work done already (returned False: a redundant task), pool processes started."""
    tasks = redundant = relays = 0
    seconds = 0.0
    pools: set[str] = set()
    for w in workers:
        for line in w.log().splitlines():
            m = _TASK_LINE.search(line)
            if not m:
                continue
            pools.add(f"{w.name}/{m.group(1)}")
            tasks += 1
            seconds += float(m.group(3))
            if m.group(2) == "kjflow.consume_events" and m.group(4).strip() in ("0", "False"):
                redundant += 1
            if m.group(2) == "kjflow.relay_outbox":
                relays += 1
    return {"tasks": tasks, "seconds": seconds, "redundant": redundant, "relays": relays,
            "pool_processes": len(pools)}


def noop_ceiling(app: Any, redis_server: Redis, k: int, processes: int) -> float:
    """ms of a worker process per near-empty task (a relay of no events: one query and a
    commit): celery's own cost per task, broker round trips and acks included."""
    from workflow.core import outbox

    celery = app.extensions["celery"]
    start = time.perf_counter()
    for _ in range(k):
        celery.send_task(outbox.RELAY_TASK, kwargs={"event_ids": []})
    client = redis_server.client
    while client.llen("celery") or client.hlen("unacked"):
        time.sleep(0.02)
    return (time.perf_counter() - start) * 1000 * processes / k


def settle(redis_server: Redis, seconds: float = 3.0) -> None:
    """Wait until the queue is empty and nothing is unacknowledged, then a moment more
    for any late repeat."""
    deadline = time.monotonic() + 60
    client = redis_server.client
    while time.monotonic() < deadline:
        if not client.llen("celery") and not client.hlen("unacked"):
            break
        time.sleep(0.2)
    time.sleep(seconds)


# ---- the profile (untimed) --------------------------------------------------------------

class Statements:
    """Counts SQL statements on the app's engine."""

    def __init__(self, engine: Any) -> None:
        import sqlalchemy as sa

        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._one)

    def _one(self, *args: Any) -> None:
        self.count += 1


def profile(app: Any, url: str, smtp_port: int, samples: int,
            per_notification_s: float) -> dict[str, float]:
    """One notification's path, stage by stage, in this process, on fresh events taken
    in the workers' batches: ms and SQL statements per event. The workers are stopped;
    what the stages send to Redis stays there (and is flushed afterwards)."""
    import smtplib
    from email.message import EmailMessage

    import sqlalchemy as sa

    from workflow.core import outbox
    from workflow.core.models import OutboxEvent, db
    from workflow.notify.models import Notification

    out: dict[str, float] = {}
    with app.app_context():
        events, _ = seed(samples, tag=1)
        stmts = Statements(db.engine)

        def stage(name: str, fn: Any, ids: list[int]) -> None:
            """``fn`` on batches of ``ids`` as the worker's tasks get them; per event."""
            stmts.count = 0
            start = time.perf_counter()
            for first in range(0, len(ids), outbox.BATCH):
                fn(ids[first:first + outbox.BATCH])
            ms = (time.perf_counter() - start) * 1000 / len(ids)
            out[f"{name}_ms"] = ms
            out[f"{name}_sql"] = stmts.count / len(ids)

        stage("relay", outbox.relay, events)
        stage("consume_notify", lambda ids: outbox.consume_many(ids, "notify"), events)
        delivers = list(db.session.scalars(sa.select(OutboxEvent.id).where(
            OutboxEvent.topic == "notification.deliver",
            OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.id)))
        stage("relay_deliver", outbox.relay, delivers)
        stage("consume_deliver", lambda ids: outbox.consume_many(ids, "deliver"), delivers)
        db.session.rollback()
        unsent = db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.channel == "email", Notification.sent_at.is_(None)))
        assert unsent == 0, f"{unsent} e-mails of the profile not sent"

    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "基准", "kjflow@localhost", "r@bench.example.cn"
    msg.set_content("正文" * 100)
    start = time.perf_counter()
    for _ in range(samples):
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=15) as smtp:
            smtp.send_message(msg)
    out["smtp_new_connection_ms"] = (time.perf_counter() - start) * 1000 / samples
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=15) as smtp:
        for _ in range(samples):
            smtp.send_message(msg)
    out["smtp_reused_connection_ms"] = (time.perf_counter() - start) * 1000 / samples
    # What each notification cost the two workers, against what its stages explain.
    tasks_ms = sum(out[f"{s}_ms"] for s in STAGES)
    out["stages_ms"] = tasks_ms
    out["worker_ms_per_notification"] = per_notification_s * 1000
    return out


# ---- main -------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 events, under a minute")
    parser.add_argument("--events", type=int, help="how many events (default 10,000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="pool processes per worker")
    parser.add_argument("--relay-batch", type=int, default=100,
                        help="events per relay task (the outbox's after-commit batch)")
    parser.add_argument("--worker-arg", action="append", default=[],
                        help="extra argument for each celery worker (repeatable)")
    parser.add_argument("--sweep-every", type=float, default=0,
                        help="send the beat's sweep task every so many seconds during the "
                             "run (production: 30); default off")
    parser.add_argument("--no-profile", action="store_true", help="skip the stage profile")
    opts = parser.parse_args()
    n = opts.events or (1_000 if opts.quick else 10_000)
    samples = 20 if opts.quick else PROFILE_SAMPLES
    INSTANCE.mkdir(parents=True, exist_ok=True)
    log_dir = INSTANCE / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True)

    from aiosmtpd.controller import Controller

    url = fresh_database()
    build_schema(url)
    sink = Sink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    redis_server = Redis(log_dir)
    workers: list[Worker] = []
    try:
        app = make_app(url, redis_server.url, smtp_port)
        with app.app_context():
            start = time.perf_counter()
            events, fired = seed(n)
            print(f"set-up: {n:,} events waiting in the outbox ({fired:,.0f} returns/s "
                  f"through engine.fire, {time.perf_counter() - start:.1f} s)", flush=True)
            assert len(events) == n
            workers = [Worker(i, url, redis_server.url, smtp_port, log_dir, opts.concurrency,
                              opts.worker_arg) for i in range(opts.workers)]
            for w in workers:
                w.wait_ready()
            meter = CpuMeter(workers, redis_server.proc.pid, url.rsplit("/", 1)[1])
            load = os.getloadavg()[0]
            elapsed, done = run(app, events, sink, redis_server, opts.relay_batch,
                                timeout=max(120.0, n / 10), sweep_every=opts.sweep_every,
                                meter=meter)
            cpu = meter.totals()
            settle(redis_server, 1.0 if opts.quick else 3.0)
            ids = sink.snapshot()
            recorded, sent = email_counts()
            account = task_account(workers)
            processes = opts.workers * opts.concurrency
            noop_ms = noop_ceiling(app, redis_server, 100 if opts.quick else 1000, processes)
        for w in workers:
            w.stop()
        counts = Counter(ids)
        distinct = len(counts)
        duplicates = len(ids) - distinct
        lost = n - distinct
        rate = distinct / elapsed
        tracebacks = sum(w.log().count("Traceback") for w in workers)
        print(f"{distinct:,} of {n:,} e-mails in {elapsed:.1f} s with {opts.workers} worker "
              f"processes x {opts.concurrency}: {rate:,.0f}/s (target >= 200/s)"
              f"{'' if done else ' -- TIMED OUT'}")
        print(f"recorded {recorded:,} e-mail notifications, {sent:,} sent; duplicates "
              f"{duplicates}, lost {lost}; tracebacks in the worker logs: {tracebacks} "
              f"(logs in {log_dir})")
        print(f"tasks run: {account['tasks']:,} ({account['tasks'] / n:.2f} per e-mail, "
              f"{account['relays']:,} of them relays), {account['redundant']:,} consumes "
              f"found their work done already; {account['seconds']:.1f} s inside tasks of "
              f"{elapsed * processes:.1f} s of worker processes; "
              f"{account['pool_processes']} pool processes used for {processes} slots "
              f"(worker_max_tasks_per_child)")
        print(f"CPU ms per e-mail over the run ({os.cpu_count()} cores, load average "
              f"{load:.1f} before it): " + ", ".join(
                  f"{k} {v * 1000 / n:.1f}" for k, v in cpu.items())
              + f"; all {sum(cpu.values()) * 1000 / n:.1f} of "
              f"{elapsed * (os.cpu_count() or 1) * 1000 / n:.1f} available")
        print(f"celery's own cost per task (a relay of no events, {processes} processes): "
              f"{noop_ms:.1f} ms")
        extra: dict[str, Any] = {}
        if not opts.no_profile:
            redis_server.client.flushdb()
            prof = profile(app, url, smtp_port, samples,
                           per_notification_s=elapsed * opts.workers * opts.concurrency / n)
            redis_server.client.flushdb()
            print(f"profile, one notification's path in one process ({samples} samples; "
                  f"in the workers' batches; ms and SQL statements per e-mail):")
            for stage_name in STAGES:
                print(f"  {stage_name:<24} {prof[stage_name + '_ms']:6.2f} ms  "
                      f"{prof[stage_name + '_sql']:4.1f} SQL")
            print(f"  SMTP, new connection each  {prof['smtp_new_connection_ms']:6.2f} ms; "
                  f"on one reused connection {prof['smtp_reused_connection_ms']:6.2f} ms")
            print(f"  the stages: {prof['stages_ms']:.1f} ms; each notification took "
                  f"{prof['worker_ms_per_notification']:.1f} ms of a worker process in the "
                  f"run (the rest: celery's cost per task, pool processes replaced every "
                  f"worker_max_tasks_per_child tasks, and the CPU the other processes take)")
            extra = {"stages_ms": round(prof["stages_ms"], 1),
                     "worker_ms": round(prof["worker_ms_per_notification"], 1)}
        extra = {"tasks_per_email": round(account["tasks"] / n, 2),
                 "redundant": account["redundant"], "noop_task_ms": round(noop_ms, 1),
                 **extra}
        print(bench_line("notify", sent=sent, rate_per_s=round(rate), duplicates=duplicates,
                         lost=lost, time_s=round(elapsed, 1), events=n,
                         workers=opts.workers * opts.concurrency, **extra))
        if lost or duplicates:
            sys.exit(1)  # a slow path is a figure; a lost or doubled e-mail is a bug
    finally:
        for w in workers:
            w.stop()
        redis_server.stop()
        controller.stop()


if __name__ == "__main__":
    main()
