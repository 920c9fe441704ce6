"""The deadline burst: 200 researchers press "submit" within the last minute of a call.

gunicorn (4 sync workers) serves the real app on PostgreSQL; every researcher (a user of
their own, 20 organisations between them) holds a filled and signed draft and a token.
All clients are released at once by a barrier and each sends its one
``POST /api/v1/applications/{id}/submit``. Measured: throughput, p50/p95 latency, errors
(target: zero), and the ratio of that throughput to a bare endpoint doing one INSERT,
served by gunicorn with the same settings and hit with the same burst in the same run
(``bare_app`` below). Afterwards the database is checked: every application in formal
review with its own receipt number, one submit audit row each, the audit chains intact.

    .venv/bin/python bench/submit_burst.py [--quick]

Set-up is not timed: fresh ``kjflow_bench`` database, users with one precomputed password
hash, drafts filled and signed through the services, tokens issued in-process with the
server's SECRET_KEY, the call's deadline moved to one minute ahead just before the burst.
The after-commit relay tasks go to Redis db 14, which nobody consumes; it is flushed.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable
    from wsgiref.types import StartResponse, WSGIEnvironment

    import psycopg

WORKERS = 4
ORGS = 20
BROKER = "redis://127.0.0.1:6379/14"
BARE_TABLE = "bench_bare_insert"

# ---- the bare endpoint --------------------------------------------------------------
# Served as ``gunicorn --chdir bench submit_burst:bare_app``: importing this module
# must stay cheap, so everything else is imported inside functions.

_bare_conn: psycopg.Connection[Any] | None = None


def bare_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """One INSERT per POST on the worker's own connection (autocommit: one transaction
    each), and a small JSON answer; GET only opens the connection (warm-up, health)."""
    global _bare_conn
    import psycopg

    if _bare_conn is None:
        _bare_conn = psycopg.connect(os.environ["KJFLOW_BARE_DSN"], autocommit=True)
    body: dict[str, Any] = {"status": "ok"}
    if environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length).decode() if length else "{}"
        row = _bare_conn.execute(
            f"INSERT INTO {BARE_TABLE} (payload) VALUES (%s) RETURNING id",  # noqa: S608
            (payload,)).fetchone()
        body = {"id": row[0] if row else None}
    out = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


# ---- the benchmark ------------------------------------------------------------------

FORM = [
    {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True, "max": 200},
    {"name": "amount", "label": "申请经费", "type": "money", "required": True, "max": 50},
    {"name": "team", "label": "项目团队", "type": "persons"},
    {"name": "proposal", "label": "申报书正文", "type": "file"},
]
RUBRIC = [{"name": "innovation", "label": "创新性", "weight": 60, "max": 100},
          {"name": "feasibility", "label": "可行性", "weight": 40, "max": 100}]


def make_uscc(n: int) -> str:
    from stdnum.cn import uscc

    base = f"9136070{n:010d}"
    return base + str(uscc.calc_check_digit(base))


def make_app(url: str, secret: str, instance: str) -> Any:
    from workflow import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret,
                      "INSTANCE_PATH": instance})
    # Set-up sends nothing to the broker; the servers do, as in production.
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    return app


def seed(app: Any, n: int) -> tuple[int, list[int], list[str]]:
    """A published call and ``n`` researchers, each with a filled, signed draft in it.
    Returns the call id, the application ids and one API token per researcher."""
    from datetime import timedelta

    from werkzeug.security import generate_password_hash

    from workflow.accounts import operations as accounts
    from workflow.accounts import sessions
    from workflow.accounts.models import User
    from workflow.applying import operations as applications
    from workflow.calls import operations as calls
    from workflow.core import engine
    from workflow.core.models import db, utcnow

    with app.app_context():
        # One slow hash serves everybody (tokens carry its tail; all valid alike).
        pw_hash = generate_password_hash(os.urandom(12).hex())
        officer = User(username="officer", name="项目主管", password_hash=pw_hash)
        officer.add_role("officer")
        db.session.add(officer)
        orgs = [accounts.create_organization(f"基准单位{k:02d}", make_uscc(k))
                for k in range(ORGS)]
        now = utcnow()
        # The deadline moves to one minute ahead just before the burst (see main).
        call = calls.create_call(officer, {
            "title": "2026年度包干制试点（截止压力测试）", "scheme": "baogan", "year": 2026,
            "guide": "支持基础研究。", "opens_at": now - timedelta(days=30),
            "closes_at": now + timedelta(hours=1), "budget": "50000",
            "form_schema": FORM, "rubric": RUBRIC, "reviewers_per_application": 3,
            "checklist": ["附件齐全"],
        })
        db.session.commit()  # as the API does: one request creates, the next publishes
        engine.fire(call, "publish", officer)
        db.session.commit()
        call_id = call.id

        users = []
        for i in range(n):
            user = User(username=f"pi{i:04d}", name=f"研究员{i:04d}", password_hash=pw_hash,
                        email=f"pi{i:04d}@example.cn", organization=orgs[i % ORGS])
            user.add_role("applicant")
            users.append(user)
        db.session.add_all(users)
        db.session.commit()

        app_ids: list[int] = []
        for i, user in enumerate(users):
            draft = applications.create_draft(user, call_id, f"稀土功能材料研究（{i:04d}）")
            draft = applications.save_draft(user, draft, data={
                "summary": f"研究稀土永磁材料的低重稀土制备工艺，第{i}组。", "amount": "30"})
            draft = applications.sign(user, draft)
            app_ids.append(draft.id)
            if i % 50 == 49:
                db.session.commit()
        db.session.commit()
        tokens = [sessions.issue_token(u)[0] for u in users]
        db.session.commit()  # the tokens are kept server-side (hashed)
        db.session.remove()
        db.engine.dispose()
    return call_id, app_ids, tokens


# ---- servers ------------------------------------------------------------------------

# Each worker, once it has loaded the app, leaves a file named by its pid: the burst
# starts only when every worker can take requests, none still importing the app.
GUNICORN_CONF = """\
import os
from pathlib import Path


def post_worker_init(worker):
    Path(os.environ["KJFLOW_BENCH_READY"], str(worker.pid)).touch()
"""


class Server:
    """One gunicorn arbiter with WORKERS sync workers, its output in a log file."""

    def __init__(self, name: str, target: str, chdir: str, env: dict[str, str],
                 work_dir: str) -> None:
        import subprocess
        import sys
        from pathlib import Path

        from bench._common import free_port

        self.name = name
        self.port = free_port()
        self.ready_dir = Path(work_dir) / f"{name}-ready"
        self.ready_dir.mkdir()
        conf = Path(work_dir) / "gunicorn_conf.py"
        conf.write_text(GUNICORN_CONF)
        self.log_path = Path(work_dir) / f"{name}.log"
        self._log = self.log_path.open("wb")
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.proc = subprocess.Popen(
            [gunicorn, "-w", str(WORKERS), "-b", f"127.0.0.1:{self.port}", "--chdir", chdir,
             "--no-control-socket", "-c", str(conf), target],
            env={**os.environ, **env, "KJFLOW_BENCH_READY": str(self.ready_dir)},
            stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited:\n{self.log_tail()}")
            if len(list(self.ready_dir.iterdir())) >= WORKERS:
                try:
                    with urllib.request.urlopen(
                            f"http://127.0.0.1:{self.port}/healthz", timeout=2) as resp:
                        if resp.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} server not ready in {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        self._log.flush()
        return [line for line in self.log_path.read_text(errors="replace").splitlines()
                if "Traceback" in line or "WARNING" in line or "ERROR" in line
                or "CRITICAL" in line]

    def stop(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ---- load ---------------------------------------------------------------------------

Request = tuple[str, str, bytes | None, dict[str, str]]  # method, path, body, headers


class Outcome:
    __slots__ = ("body", "end", "error", "start", "status")

    def __init__(self) -> None:
        self.start = self.end = 0.0
        self.status = 0
        self.body = b""
        self.error = ""

    @property
    def ok(self) -> bool:
        return not self.error and 200 <= self.status < 300


def burst(port: int, requests: list[Request]) -> list[Outcome]:
    """Every request from a thread of its own, all released at once; each opens its own
    connection after the release, as a browser pressing the button would."""
    import http.client
    import threading
    import time

    outcomes = [Outcome() for _ in requests]
    barrier = threading.Barrier(len(requests) + 1)

    def client(i: int) -> None:
        method, path, body, headers = requests[i]
        out = outcomes[i]
        barrier.wait()
        out.start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                out.body = resp.read()
                out.status = resp.status
            finally:
                conn.close()
        except Exception as err:  # every failure is a figure, not a crash
            out.error = f"{type(err).__name__}: {err}"
        out.end = time.perf_counter()

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(len(requests))]
    for t in threads:
        t.start()
    barrier.wait(timeout=60)
    for t in threads:
        t.join(timeout=300)
    return outcomes


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    import math

    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Figures:
    def __init__(self, label: str, outcomes: list[Outcome]) -> None:
        self.label = label
        self.requests = len(outcomes)
        self.failed = [o for o in outcomes if not o.ok]
        self.errors = len(self.failed)
        self.wall_s = max(o.end for o in outcomes) - min(o.start for o in outcomes)
        self.rps = self.requests / self.wall_s
        latencies = [(o.end - o.start) * 1000 for o in outcomes]
        self.p50_ms = percentile(latencies, 50)
        self.p95_ms = percentile(latencies, 95)
        self.min_ms, self.max_ms = min(latencies), max(latencies)

    def show(self) -> None:
        print(f"{self.label}: {self.requests} requests in {self.wall_s:.2f} s = "
              f"{self.rps:.1f} req/s; latency p50 {self.p50_ms:.0f} ms, p95 "
              f"{self.p95_ms:.0f} ms (min {self.min_ms:.0f}, max {self.max_ms:.0f}); "
              f"errors {self.errors}")
        for o in self.failed[:5]:
            print(f"  failed: {o.error or o.status} {o.body[:200].decode(errors='replace')}")


def warm_up(port: int, requests: list[Request]) -> None:
    """Untimed: every worker opens its database connection and fills its caches."""
    failed = [o for o in burst(port, requests) if not o.ok]
    if failed:
        raise RuntimeError(f"warm-up failed: {failed[0].error or failed[0].status} "
                           f"{failed[0].body[:300]!r}")


# ---- checks -------------------------------------------------------------------------

def verify(app: Any, call_id: int, app_ids: list[int], outcomes: list[Outcome]) -> list[str]:
    """What the database must show after the burst; returns the problems found."""
    import sqlalchemy as sa

    from states import ApplicationState
    from workflow.applying.models import Application, ApplicationRound
    from workflow.core import audit
    from workflow.core.models import AuditEvent, OutboxEvent, db

    n = len(app_ids)
    problems: list[str] = []
    with app.app_context():
        def count(query: Any) -> int:
            return int(db.session.scalar(query) or 0)

        in_call = Application.call_id == call_id
        checks = {
            "applications in formal review": count(sa.select(sa.func.count()).where(
                in_call, Application.state == ApplicationState.formal_review)),
            "distinct receipt numbers": count(sa.select(
                sa.func.count(sa.distinct(Application.receipt_no))).where(in_call)),
            "submit audit rows": count(sa.select(sa.func.count()).where(
                AuditEvent.entity_type == "application", AuditEvent.trigger == "submit")),
            "forward audit rows": count(sa.select(sa.func.count()).where(
                AuditEvent.entity_type == "application", AuditEvent.trigger == "forward")),
            "submitted rounds": count(sa.select(sa.func.count()).select_from(
                ApplicationRound)),
            "outbox events application.submit": count(sa.select(sa.func.count()).where(
                OutboxEvent.topic == "application.submit")),
        }
        for name, got in checks.items():
            print(f"check {name}: {got} (want {n})")
            if got != n:
                problems.append(f"{name}: {got}, want {n}")
        # The receipt each researcher was shown is the one stored.
        stored = {app_id: receipt for app_id, receipt in db.session.execute(
            sa.select(Application.id, Application.receipt_no).where(in_call))}
        shown = 0
        for app_id, o in zip(app_ids, outcomes, strict=True):
            if o.ok:
                receipt = json.loads(o.body).get("receipt_no")
                shown += receipt is not None and receipt == stored.get(app_id)
        print(f"check receipts shown = receipts stored: {shown} (want {n})")
        if shown != n:
            problems.append(f"receipts shown and stored agree for {shown}, want {n}")
        breaches = audit.verify()
        print(f"check audit chains: {len(breaches)} breaches")
        problems += [f"audit: {b}" for b in breaches[:5]]
        db.session.remove()
        db.engine.dispose()
    return problems


# ---- main ---------------------------------------------------------------------------

def main() -> None:
    import argparse
    import secrets
    import shutil
    import sys
    import tempfile
    import time

    import psycopg
    import redis

    from bench._common import BENCH_DB, ROOT, bench_line, build_schema, fresh_database

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 researchers instead of 200")
    opts = parser.parse_args()
    n = 50 if opts.quick else 200

    started = time.perf_counter()
    url = fresh_database()
    build_schema(url)
    with psycopg.connect(BENCH_DB, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {BARE_TABLE} (id bigserial PRIMARY KEY, "
                     "payload jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now())")
    broker = redis.Redis.from_url(BROKER)
    broker.flushdb()

    instance = tempfile.mkdtemp(prefix="kjflow-bench-")
    servers: list[Server] = []
    try:
        secret = secrets.token_hex(32)
        app = make_app(url, secret, instance)
        call_id, app_ids, tokens = seed(app, n)
        print(f"set-up: {n} researchers in {ORGS} organisations, signed drafts, tokens "
              f"({time.perf_counter() - started:.1f} s)")

        kjflow = Server("kjflow", "workflow:create_app()", str(ROOT), {
            "DATABASE_URL": BENCH_DB, "SECRET_KEY": secret, "KJFLOW_INSTANCE": instance,
            "CELERY_BROKER_URL": BROKER}, instance)
        servers.append(kjflow)
        bare = Server("bare", "submit_burst:bare_app", str(ROOT / "bench"),
                      {"KJFLOW_BARE_DSN": BENCH_DB}, instance)
        servers.append(bare)
        for server in servers:
            server.wait_ready()

        auth = [{"Authorization": f"Bearer {t}"} for t in tokens]
        warm = 8 * WORKERS
        warm_up(kjflow.port, [("GET", f"/api/v1/applications/{app_ids[i % n]}", None,
                               auth[i % n]) for i in range(warm)])
        warm_up(bare.port, [("GET", "/healthz", None, {}) for _ in range(warm)])

        bare_requests: list[Request] = [
            ("POST", "/bare", json.dumps({"researcher": i}).encode(),
             {"Content-Type": "application/json"}) for i in range(n)]
        submit_requests: list[Request] = [
            ("POST", f"/api/v1/applications/{app_id}/submit", None, auth[i])
            for i, app_id in enumerate(app_ids)]

        # Bare before and after the submit burst; the better of the two is the baseline.
        bare_first = Figures("bare INSERT (before)", burst(bare.port, bare_requests))
        with psycopg.connect(BENCH_DB, autocommit=True) as conn:
            conn.execute("UPDATE call SET closes_at = now() + interval '60 seconds' "
                         "WHERE id = %s", (call_id,))
        submit_outcomes = burst(kjflow.port, submit_requests)
        submit = Figures("submit", submit_outcomes)
        bare_second = Figures("bare INSERT (after)", burst(bare.port, bare_requests))
        bare_best = max(bare_first, bare_second, key=lambda f: f.rps)

        print(f"gunicorn -w {WORKERS} (sync) on PostgreSQL; {n} clients released at once, "
              "one request each")
        for figures in (bare_first, submit, bare_second):
            figures.show()
        print(f"the call closed 60 s after the burst began; the last submission was "
              f"answered after {submit.wall_s:.1f} s")
        ratio = submit.rps / bare_best.rps
        print(f"submit throughput / bare INSERT throughput: {ratio:.3f} "
              f"({submit.rps:.1f} / {bare_best.rps:.1f} req/s)")

        with psycopg.connect(BENCH_DB) as conn:
            row = conn.execute(f"SELECT count(*) FROM {BARE_TABLE}").fetchone()  # noqa: S608
        bare_rows = int(row[0]) if row else 0
        print(f"check bare rows inserted: {bare_rows} (want {2 * n})")
        queued = int(broker.llen("celery"))
        print(f"relay tasks queued on the broker: {queued} (one per committed submit)")
        problems = verify(app, call_id, app_ids, submit_outcomes)
        if bare_rows != 2 * n:
            problems.append(f"bare rows: {bare_rows}, want {2 * n}")
        for server in servers:
            logged = server.log_problems()
            print(f"{server.name} server log: {len(logged)} warning/error lines")
            for line in logged[:5]:
                print(f"  {line[:200]}")
    finally:
        for server in servers:
            server.stop()
        broker.flushdb()
        broker.close()
        shutil.rmtree(instance, ignore_errors=True)

    if problems:
        print("CHECKS FAILED: " + "; ".join(problems), file=sys.stderr)
    print(bench_line("submit_burst", requests=n, errors=submit.errors,
                     p50_ms=round(submit.p50_ms, 1), p95_ms=round(submit.p95_ms, 1),
                     ratio_vs_bare=round(ratio, 3)))
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    # bench/ holds transitions.py, which would shadow the ``transitions`` package: put
    # the repository root in its place.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    main()
