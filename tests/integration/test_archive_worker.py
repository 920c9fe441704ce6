"""A closed project's archive (项目档案) is built by the real worker, from the committed
outbox row of its job, and is the same archive a second build gives."""

from __future__ import annotations

import io
import zipfile

import pytest
from flask import Flask

from tests.integration.conftest import wait_for
from tests.unit.workflow.test_archive import closed_project
from workflow.archive import building
from workflow.archive.building import Copy
from workflow.core.files import store
from workflow.core.models import Job, JobState, db

pytestmark = pytest.mark.integration


def test_the_worker_builds_the_archive(worker_app: Flask) -> None:
    made = closed_project()
    job, started = building.start(made["officer"], made["app"].id)
    assert started
    job_id = job.id
    db.session.commit()  # the job's event leaves for the worker only now

    def finished() -> Job | None:
        db.session.expire_all()
        row = db.session.get(Job, job_id)
        return row if row is not None and row.state.finished else None

    row = wait_for(finished, timeout=120, what="the archive job")
    assert row.state is JobState.done, row.error
    data = store().path(row.result["sha256"]).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
    assert names[0] == building.INDEX_NAME and "12-审计日志/审计日志.xlsx" in names
    assert row.result["files"] == len(names)
    # Deterministic: the worker's archive is the one this process builds of the same state.
    assert building.build(made["app"], Copy.full).data == data
    assert building.is_current(made["app"], row)
    # Asked again, the finished archive is given back; nothing new is queued.
    again, started = building.start(made["officer"], made["app"].id)
    assert again.id == job_id and not started
