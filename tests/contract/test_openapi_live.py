"""The live app keeps the contract it publishes, for an officer and for a researcher.

Schemathesis (the pinned CLI, ``schemathesis.toml`` beside this file) reads
``/api/openapi.json`` from the running server and generates the requests of every
operation: the schema's examples, the coverage phase's boundary and invalid values, and
``MAX_EXAMPLES`` fuzzed cases, valid and invalid (no stateful chains). Each answer is
checked: never a server error, a documented status, a documented content type, a body
that matches the documented schema. Generation is deterministic (derandomized, requests
made from the schema alone, never from earlier answers), so a run repeats the last one.
The two roles run side by side, one process each, against the same server.

Reproduce: ``pytest tests/contract -q`` (each role's schemathesis summary is printed, and
the tier's figures in pytest's closing summary).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.contract.conftest import FOREIGN_ENV, ROLES, ROOT, TALLY, LiveApi, _bin

pytestmark = pytest.mark.contract

CONFIG = Path(__file__).with_name("schemathesis.toml")
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")
PHASES = ("examples", "coverage", "fuzzing")
MAX_EXAMPLES = 6  # fuzzed cases per operation and role (the coverage phase adds ~40)
RUN_TIMEOUT = 900  # seconds; both runs take a few minutes


@dataclass
class Run:
    role: str
    returncode: int
    output: str
    seconds: float

    def figure(self, pattern: str) -> int:
        found = re.search(pattern, self.output)
        assert found, f"no {pattern!r} in schemathesis' output:\n{self.output[-3000:]}"
        return int(found.group(1))


def command(url: str, token: str) -> list[str]:
    return [str(_bin("schemathesis")), "--config-file", str(CONFIG), "run",
            f"{url}/api/openapi.json", "--header", f"Authorization: Bearer {token}",
            "--checks", ",".join(CHECKS), "--phases", ",".join(PHASES),
            "--max-examples", str(MAX_EXAMPLES), "--no-color"]


@pytest.fixture(scope="module")
def runs(live_api: LiveApi) -> Iterator[dict[str, Run]]:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONWARNINGS", None)
    started = time.monotonic()
    processes = {role: subprocess.Popen(command(live_api.url, live_api.tokens[role]),
                                        cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
                 for role in ROLES}
    done: dict[str, Run] = {}
    try:
        for role, process in processes.items():
            left = max(1.0, RUN_TIMEOUT - (time.monotonic() - started))
            output, _ = process.communicate(timeout=left)
            done[role] = Run(role, process.returncode, output, time.monotonic() - started)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    for run in done.values():
        TALLY.cases[run.role] = run.figure(r"(\d+) generated")
    TALLY.seconds = max(run.seconds for run in done.values())
    yield done


def test_the_live_server_serves_the_document_it_is_tested_against(live_api: LiveApi):
    with urllib.request.urlopen(live_api.url + "/api/openapi.json") as resp:  # noqa: S310
        spec = json.loads(resp.read())
    operations = [(m, p) for p, item in spec["paths"].items() for m in item]
    assert len(operations) > 100
    TALLY.operations = len(operations)


@pytest.mark.timeout(RUN_TIMEOUT + 120)  # the runs, and the server's start before them
@pytest.mark.parametrize("role", list(ROLES))
def test_the_app_answers_as_documented(role: str, runs: dict[str, Run]):
    run = runs[role]
    print(run.output[run.output.find("=== SUMMARY"):] if "=== SUMMARY" in run.output
          else run.output[-3000:])
    assert run.returncode == 0, f"schemathesis as {role} found failures:\n{run.output}"
    # Every operation was tested, and every case passed every check.
    assert run.figure(r"Tested: (\d+)") == run.figure(r"Selected: (\d+)/") >= 100
    generated = run.figure(r"(\d+) generated")
    assert run.figure(r"\d+ generated, (\d+) passed") == generated > 4000
