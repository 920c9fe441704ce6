"""Contract tier: schemathesis against the live app, as two people.

``live_api`` does what a deployment does on the embedded default: ``flask db upgrade`` and
``flask seed --demo`` in a fresh instance folder (SQLite), then gunicorn serves
``workflow:create_app()`` on a free port of 127.0.0.1. No worker runs: what the outbox
sends waits in the embedded broker's folder, as it would while the workers restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.smtp import free_port

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
# Settings that would take the app away from the embedded default (or demand a key).
FOREIGN_ENV = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "SECRET_KEY", "KJFLOW_ENV",
               "FLASK_APP")
# The two people the API is fuzzed as: the bureau's officer, who may do most, and a
# researcher, who is refused most and owns a few drafts.
ROLES = {"officer": "officer", "researcher": "researcher1"}


def _bin(name: str) -> Path:
    """A console script of the venv running pytest, else the project's ``.venv``."""
    for folder in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        if (folder / name).exists():
            return folder / name
    pytest.fail(f"{name} not found next to {sys.executable} nor in {ROOT / '.venv/bin'}; "
                "run `make venv` first")


@dataclass
class Tally:
    """What the tier ran, for the summary line (``pytest_terminal_summary``)."""

    cases: dict[str, int] = field(default_factory=dict)
    operations: int = 0
    seconds: float = 0.0


TALLY = Tally()


@dataclass
class LiveApi:
    url: str
    tokens: dict[str, str]
    log: Path


def _request(url: str, body: dict[str, str] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(  # noqa: S310 (the test's own server on 127.0.0.1)
        url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read()


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}; its output:\n"
                        + log.read_text(errors="replace"))
        try:
            status, _ = _request(url + "/healthz")
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as err:
            last = repr(err)
        time.sleep(0.2)
    pytest.fail(f"{url}/healthz did not answer 200 within {START_TIMEOUT:.0f} s ({last}):\n"
                + log.read_text(errors="replace"))


@pytest.fixture(scope="session")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    from workflow import demo

    instance = tmp_path_factory.mktemp("contract-instance")
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    env.update(KJFLOW_INSTANCE=str(instance), PYTHONUNBUFFERED="1")
    env.pop("PYTHONWARNINGS", None)
    flask = str(_bin("flask"))
    for args in (["db", "upgrade"], ["seed", "--demo", "--quiet"]):
        done = subprocess.run([flask, "--app", "workflow", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=180, check=False)
        if done.returncode != 0:
            pytest.fail(f"`flask {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = instance / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            # The README's settings (workflow/gunicorn_conf.py), one worker on a local port.
            [str(_bin("gunicorn")), "-c", "python:workflow.gunicorn_conf", "--workers", "1",
             "--bind", f"127.0.0.1:{port}", "--no-control-socket", "workflow:create_app()"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_up(url, process, log)
        tokens = {}
        for role, username in ROLES.items():
            status, body = _request(url + "/api/v1/auth/token",
                                    {"username": username, "password": demo.DEMO_PASSWORD})
            assert status == 200, (role, status, body)
            tokens[role] = json.loads(body)["token"]
        yield LiveApi(url, tokens, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY.cases:
        return
    per_role = ", ".join(f"{role} {n}" for role, n in sorted(TALLY.cases.items()))
    terminalreporter.write_line(
        f"schemathesis: {TALLY.operations} operations, {sum(TALLY.cases.values())} cases "
        f"({per_role}) in {TALLY.seconds:.0f} s")
