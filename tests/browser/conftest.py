"""Browser tier: ``make run`` in a temp instance folder, driven by Debian's chromium.

The ``kjflow_server`` fixture does what ``make run`` does (``db upgrade``, ``seed --demo``,
``kjflow devserver``) on the embedded default: SQLite and kombu's filesystem broker in a
fresh instance folder, no service to install. ``devserver`` starts the celery worker as a
child process and prints its pid; the fixture checks that the worker stays up and that
stopping the web server stops the worker too.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Locator, Page, expect, sync_playwright

from tests.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
# A shared CI machine can be slow: give each expectation more than playwright's 5 s.
expect.set_options(timeout=10_000)
WORKER_PID = re.compile(r"后台任务进程已启动（pid (\d+)）")
# Settings that would take the app away from the embedded default (or demand a key).
FOREIGN_ENV = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "SECRET_KEY", "KJFLOW_ENV",
               "FLASK_APP")


def _bin(name: str) -> Path:
    """A console script of the project's venv (the one running pytest, else ``.venv``)."""
    for folder in (Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        path = folder / name
        if path.exists():
            return path
    pytest.fail(f"{name} not found next to {sys.executable} nor in {ROOT / '.venv/bin'}; "
                "run `make venv` first")


def _state(pid: int) -> str | None:
    """The /proc state letter of ``pid`` (``Z`` = zombie), or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) S ...": comm may hold spaces or parentheses, the state follows the last ")".
    return stat.rsplit(")", 1)[1].split()[0]


def pid_alive(pid: int) -> bool:
    state = _state(pid)
    return state is not None and state not in ("Z", "X")


def _group_members(pgid: int) -> list[int]:
    """Live processes of the process group ``pgid`` (devserver, worker, embedded beat)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return not pid_alive(pid)


@dataclass
class Server:
    url: str
    instance: Path
    log: Path
    process: subprocess.Popen[bytes]
    worker_pid: int
    seed_output: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_alive(self) -> bool:
        return pid_alive(self.worker_pid)


def _run(cmd: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"`{what}` failed (exit {done.returncode}):\n{out}")
    return out


def _wait_settled(instance: Path, limit: float = 120.0) -> None:
    """Until the worker has handled the events the demo's seeding left (their documents
    rendered: 1 to 3 s each, each job SQLite's one writer for its time), or their number
    has not moved for 5 s: a login sent meanwhile waited for the write lock longer than
    a test waits (the product's own issue, noted in issue 19)."""
    import sqlite3

    database = instance / "kjflow.sqlite"
    deadline, last, since = time.monotonic() + limit, None, time.monotonic()
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True,
                                                timeout=5)) as conn:
            pending = conn.execute("SELECT count(*) FROM outbox_event "
                                   "WHERE dispatched_at IS NULL").fetchone()[0]
        if pending == 0:
            return
        if pending != last:
            last, since = pending, time.monotonic()
        elif time.monotonic() - since > 5:
            return
        time.sleep(0.5)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"kjflow devserver exited with {process.returncode} before answering "
                        f"/healthz; its output:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}"
            err.close()
        except OSError as err:
            last = repr(err)
        time.sleep(0.2)
    pytest.fail(f"{url}/healthz did not answer 200 within {START_TIMEOUT:.0f} s ({last}); "
                f"devserver output:\n{log.read_text(errors='replace')}")


def _worker_pid(log: Path, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + START_TIMEOUT  # a loaded machine starts slowly
    while time.monotonic() < deadline:
        found = WORKER_PID.search(log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail("devserver did not print 后台任务进程已启动（pid N）; its output:\n"
                + log.read_text(errors="replace"))


def _stop(process: subprocess.Popen[bytes], worker_pid: int, log: Path) -> list[str]:
    """SIGTERM devserver as Ctrl-C would; returns what did not stop on its own."""
    problems: list[str] = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            problems.append(f"devserver (pid {process.pid}) ignored SIGTERM for "
                            f"{STOP_TIMEOUT:.0f} s")
            process.kill()
            process.wait(timeout=10)
    else:
        problems.append(f"devserver exited on its own with {process.returncode} during the tests")
    if not _wait_gone(worker_pid, 10):
        problems.append(f"celery worker (pid {worker_pid}) still runs after devserver stopped")
    # Anything left in devserver's process group (the worker, its embedded beat).
    leftovers = _group_members(process.pid)
    if leftovers:
        problems.append(f"processes left behind in devserver's group: {leftovers}")
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if problems:
        problems.append("devserver output:\n" + log.read_text(errors="replace")[-4000:])
    return problems


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked ``demo_as_seeded`` read the demo data as ``seed --demo`` left it
    (each role's 工作台): they run before the tests that work through it."""
    first = [item for item in items if item.get_closest_marker("demo_as_seeded")]
    rest = [item for item in items if not item.get_closest_marker("demo_as_seeded")]
    items[:] = first + rest


@pytest.fixture(scope="session")
def kjflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from workflow import demo

    instance = tmp_path_factory.mktemp("instance")
    logs = tmp_path_factory.mktemp("server-logs")
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    env["KJFLOW_INSTANCE"] = str(instance)
    env["PYTHONUNBUFFERED"] = "1"
    # The worker is a child process: warnings there must not become errors here.
    env.pop("PYTHONWARNINGS", None)

    flask = str(_bin("flask"))
    _run([flask, "--app", "workflow", "db", "upgrade"], env, "flask --app workflow db upgrade")
    seed_output = _run([flask, "--app", "workflow", "seed", "--demo"], env,
                       "flask --app workflow seed --demo")
    assert f"演示账号（密码均为 {demo.DEMO_PASSWORD}）" in seed_output, seed_output
    for username in [u[0] for u in demo.USERS] + [e[0] for e in demo.EXPERTS]:
        assert re.search(rf"^\s+{re.escape(username)}\s", seed_output, re.M), (
            f"seed --demo does not list the login {username!r}:\n{seed_output}")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = logs / "devserver.log"
    with log.open("wb") as out:
        # Own session: SIGTERM and the final clean-up reach devserver's group only.
        process = subprocess.Popen(
            [str(_bin("kjflow")), "devserver", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        worker_pid = _worker_pid(log, process)
        _wait_healthy(url, process, log)
        _wait_settled(instance)
        assert pid_alive(worker_pid), (
            f"celery worker pid {worker_pid} is not running; devserver output:\n"
            + log.read_text(errors="replace"))
        cmdline = Path(f"/proc/{worker_pid}/cmdline").read_bytes().split(b"\0")
        assert b"celery" in cmdline and b"worker" in cmdline, cmdline
        server = Server(url, instance, log, process, worker_pid, seed_output)
    except BaseException:
        # devserver and whatever it started (even if devserver itself already exited).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        raise
    yield server
    problems = _stop(process, worker_pid, log)
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (`apt-get install "
                    "chromium`) for the browser tier")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                          args=CHROMIUM_ARGS)
        except Error as err:
            pytest.fail(f"could not launch {CHROMIUM}: {err}")
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, kjflow_server: Server) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test, pointed at the server."""
    context = browser.new_context(base_url=kjflow_server.url, locale="zh-CN")
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


def open_menu(page: Page, toggle: Locator) -> None:
    """Open a Bootstrap menu (a dropdown or the collapsed navigation bar).

    The menus are worked by Bootstrap's deferred script: a click that comes before the
    script has run (a loaded machine, a slow network) opens nothing. So wait until the
    page's deferred scripts have run, and until no menu is still sliding open (a dropdown
    in the navigation bar on a phone, clicked while the bar opens, once stayed shut), and
    check that the menu says it is open; a click that opened nothing is made once more,
    as a person would."""
    page.wait_for_load_state("domcontentloaded")
    page.wait_for_function("() => !document.querySelector('.collapsing')")
    toggle.click()
    try:
        expect(toggle).to_have_attribute("aria-expanded", "true", timeout=5_000)
    except AssertionError:
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
