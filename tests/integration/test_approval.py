"""Approval on PostgreSQL: numbers under concurrency; the notice rendered by the real
worker, once, even when the rendering process is killed midway."""

from __future__ import annotations

import io
import os
import re
import signal
import threading
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from states import ApplicationState, CallState
from tests.factories import ApplicationFactory, CallFactory, OrganizationFactory, UserFactory
from tests.integration.conftest import start_worker, stop_worker, wait_for
from workflow.applying.models import Application
from workflow.core import engine, files, numbering
from workflow.core.errors import ServiceError
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.documents.models import Document
from workflow.notify.models import Notification

pytestmark = pytest.mark.integration

APPROVALS = 50


def on_notice(n: int, **call_kw: object) -> list[Application]:
    call_kw.setdefault("budget", Decimal(10**9))
    call = CallFactory(state=CallState.decided, **call_kw)
    rows = [ApplicationFactory(call=call, state=ApplicationState.public_notice,
                               granted_amount=Decimal("500000.00"),
                               notice_ends_at=utcnow() - timedelta(minutes=1))
            for _ in range(n)]
    db.session.commit()
    return rows


def test_fifty_approvals_at_once_take_fifty_consecutive_numbers(app: Flask) -> None:
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    ids = [r.id for r in on_notice(APPROVALS)]
    year = utcnow().year
    barrier = threading.Barrier(APPROVALS)
    results: list[object] = [None] * APPROVALS

    def approve(i: int, app_id: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                engine.fire(db.session.get(Application, app_id), "approve", None)
                db.session.commit()
                results[i] = "ok"
            except ServiceError as err:
                db.session.rollback()
                results[i] = err.status
            except Exception as err:  # reported below, not lost in a thread
                db.session.rollback()
                results[i] = repr(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve, args=(i, app_id))
               for i, app_id in enumerate(ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert Counter(results) == {"ok": APPROVALS}
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Application).where(Application.id.in_(ids))).all()
    projects = sorted(int(r.project_number.rsplit("-", 1)[1]) for r in rows)
    assert projects == list(range(1, APPROVALS + 1))
    assert all(r.project_number.startswith(f"GZKJ-{year}-BG-") for r in rows)
    # The last to leave notice issued the call's 立项文件 (its number first), then the 50
    # 立项通知书 citing it, in the order of the project numbers: consecutive, none twice.
    call_doc = rows[0].call.doc_number
    assert call_doc == f"赣市科字〔{year}〕1号"
    by_project = sorted(rows, key=lambda r: r.project_number)
    assert [r.doc_number for r in by_project] == [
        f"赣市科字〔{year}〕{i}号" for i in range(2, APPROVALS + 2)]


def test_the_worker_renders_the_notice_and_tells_the_applicant(worker_app: Flask) -> None:
    org = OrganizationFactory(name="赣南䶮堃研究院")
    leader = UserFactory(name="司马喆", organization=org)
    (row,) = on_notice(1)
    row.applicant, row.organization = leader, org
    db.session.commit()
    engine.fire(row, "approve", None)
    db.session.commit()  # the relay leaves for the worker now

    def rendered() -> list[Document]:
        db.session.expire_all()
        return list(db.session.scalars(sa.select(Document)))

    docs = wait_for(lambda: len(rendered()) == 2 and rendered(), timeout=90,
                    what="the notice and the 立项文件")
    notice = next(d for d in docs if d.kind == "notice")
    with files.store().open(notice.sha256) as fh:
        text = "".join(p.extract_text().replace("\n", "")
                       for p in PdfReader(io.BytesIO(fh.read())).pages)
    assert row.doc_number in text and row.project_number in text and "司马喆" in text
    assert "50.00" in text and "赣南䶮堃研究院" in text
    def told() -> list[Notification]:
        db.session.expire_all()
        return list(db.session.scalars(sa.select(Notification).where(
            Notification.link == f"/documents/{notice.id}")))

    notes = wait_for(lambda: len(told()) == 2 and told(), timeout=60,
                     what="the applicant to be told of the notice")
    assert {(n.user_id, n.channel) for n in notes} == {(leader.id, "inapp"),
                                                       (leader.id, "email")}


def test_a_render_killed_midway_is_redone_once(app: Flask, _postgres: str, redis_url: str,
                                                instance_dir: Path,
                                                tmp_path: Path) -> None:
    """SIGKILL the process rendering a 500-row 立项文件: the task goes back to the queue,
    a new process renders it, and exactly one document exists."""
    rows = on_notice(500)
    call = rows[0].call
    # The 500 立项通知书 issued after the file wait for the office's numbers: the worker
    # renders the file alone, and has nothing left running when the test ends.
    numbering.configure("notice", "entered", None, None, UserFactory(roles=("officer",)),
                        "officer")
    db.session.commit()
    # Approve all but the last without the worker; the last one issues the 立项文件.
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    for r in rows[:-1]:
        engine.fire(r, "approve", None)
    db.session.commit()
    app.extensions.pop("kjflow.outbox_sender")
    # Their events (notices to render, e-mails) are not this test's; a worker relays what
    # the outbox still holds when it starts (worker/steps.py), so they are marked done.
    db.session.execute(sa.update(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
                       .values(dispatched_at=utcnow()))
    db.session.commit()

    worker = start_worker(tmp_path, _postgres, redis_url, instance_dir,
                          f"kjflow-kill-{os.getpid()}@integration", "--pool=prefork",
                          "--concurrency=1")
    try:
        engine.fire(rows[-1], "approve", None)
        db.session.commit()
        assert call.doc_number is not None

        # The relay writes the journal entry itself and hands the event to its one
        # other consumer: the first consume task received is the render.
        def rendering() -> int | None:
            received = len(re.findall(r"kjflow\.consume_events\[[^\]]+\] received",
                                      worker.log()))
            return _child_pid(worker.proc.pid) if received >= 1 else None

        child = wait_for(rendering, timeout=60, interval=0.05,
                         what="the worker to start rendering the 立项文件")
        time.sleep(0.8)  # inside WeasyPrint: a 500-row list takes seconds
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Document).where(
            Document.call_id == call.id)) == 0, "the render finished before the kill"
        os.kill(child, signal.SIGKILL)

        def one_document() -> bool:
            db.session.expire_all()
            return db.session.scalar(sa.select(sa.func.count()).select_from(Document).where(
                Document.call_id == call.id)) == 1

        wait_for(one_document, timeout=120, interval=0.5,
                 what="the 立项文件 to be rendered again after the kill")
        time.sleep(2)  # nothing more arrives
        assert one_document()
        # The pool's supervisor reports the killed process when it next looks; the render
        # may have been redone first (its event sent again by the relay).
        wait_for(lambda: "WorkerLostError" in worker.log() or "SIGKILL" in worker.log(),
                 timeout=30, interval=0.5, what="the worker to report the killed process")
    finally:
        stop_worker(worker)


def _child_pid(parent: int) -> int | None:
    """The pool process of a prefork worker (its only child)."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    pids = children.read_text().split() if children.exists() else []
    return int(pids[0]) if pids else None
