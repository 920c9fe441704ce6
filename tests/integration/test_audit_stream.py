"""``audit verify`` and the digest job on PostgreSQL: the trail is read through a server-side
cursor, the set-based head checks find what they find on SQLite, and the beat's digest
task, run by the real worker, digests only what is new."""

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.unit.workflow import test_audit_stream as unit
from workflow.core import audit
from workflow.core.models import AuditDigest, db


def test_verify_reads_the_trail_through_a_server_side_cursor(app: Flask) -> None:
    unit._bulk_chains("probe", range(1, 31), 100)  # 3,000 events, more than one fetch
    chains = audit._chains()
    first = next(chains)
    assert (first.entity_id, first.seq, first.breach) == (1, 100, None)
    cursors = db.session.connection().exec_driver_sql("SELECT name FROM pg_cursors").all()
    assert len(cursors) == 1  # rows come a batch at a time, not the whole table at once
    assert sum(1 for _ in chains) == 29
    assert audit.verify() == []


def test_each_breach_is_found_across_batches(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    unit.test_verify_still_finds_each_breach_across_batches(app, monkeypatch)


def test_the_digests_catch_what_a_careful_forger_hides(app: Flask,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    unit.test_the_digests_catch_what_a_careful_forger_hides(app, monkeypatch)


def test_a_forged_digests_out_of_range_numbers_are_breaches(app: Flask) -> None:
    unit.test_a_forged_digest_recording_numbers_no_row_can_hold_is_a_breach(app)


def test_a_broken_digest_is_named(app: Flask) -> None:
    unit.test_a_broken_digest_is_named_and_only_the_digests_before_it_count(app)


def test_the_digest_reads_only_new_events(app: Flask) -> None:
    unit.test_the_digest_reads_only_the_events_after_the_last_one(app)


def test_the_beat_digest_task_digests_what_is_new(worker_app: Flask,
                                                  wait_idle: Callable[[], None]) -> None:
    heads = unit._bulk_chains("probe", range(1, 11), 3)
    celery = worker_app.extensions["celery"]

    def digests() -> list[AuditDigest]:
        db.session.rollback()  # read what the worker committed
        return list(db.session.scalars(sa.select(AuditDigest).order_by(AuditDigest.id)))

    celery.send_task("kjflow.audit_digest")
    wait_idle()
    [first] = digests()
    assert first.heads["_max_id"] == 30 and len(first.heads) == 11
    unit._bulk_chains("probe", [4], 2, first_seq=4, prev=heads)
    celery.send_task("kjflow.audit_digest")
    wait_idle()
    celery.send_task("kjflow.audit_digest")  # nothing new: no digest
    wait_idle()
    [_, second] = digests()
    assert second.prev_hash == first.hash
    assert set(second.heads) == {"probe:4", "_max_id"} and second.heads["probe:4"][0] == 5
    assert audit.verify() == []
