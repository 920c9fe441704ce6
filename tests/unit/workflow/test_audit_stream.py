"""``audit verify`` and the digest job over a long trail (issue 19): verify streams the
events and checks the heads a batch at a time, so its memory does not grow with the trail;
the digest reads only the events after the last digest, a bounded number at a time. Every
breach is still found, with the same words."""

import json
import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.factories import ApplicationFactory, UserFactory
from workflow.applying.models import Application
from workflow.core import audit
from workflow.core.models import AuditDigest, AuditEvent, db

AT = datetime(2026, 12, 1, 2, 3, 4, 567890, tzinfo=UTC)


def _bulk_chains(kind, entity_ids, length, first_seq=1, prev=None):
    """``length`` events on each of ``entity_ids``' chains, written in one statement per
    thousand rows (the engine's way, ``audit.record``, is too slow for tens of thousands).
    Returns each chain's head."""
    heads = dict(prev or {})
    rows = []
    for eid in entity_ids:
        h = heads.get(eid, (0, audit.GENESIS))[1]
        for seq in range(first_seq, first_seq + length):
            values = {"entity_type": kind, "entity_id": eid, "seq": seq, "actor_id": None,
                      "actor_name": "系统", "actor_role": "system", "at": AT,
                      "trigger": "probe", "from_state": None, "to_state": None,
                      "comment": f"第{seq}步", "data": {"n": seq}, "ip": None, "prev_hash": h}
            values["hash"] = h = audit.chain_hash(h, audit._body(values))
            rows.append(values)
        heads[eid] = (first_seq + length - 1, h)
    for i in range(0, len(rows), 1000):
        db.session.execute(sa.insert(AuditEvent), rows[i:i + 1000])
    db.session.commit()
    return heads


def _trail(entity_id, n):
    actor = UserFactory(roles=("officer",))
    row = db.session.get(Application, entity_id) or ApplicationFactory(id=entity_id)
    for i in range(n):
        audit.record(row, "application", f"t{i}", actor, "officer", "a", "b",
                     comment=f"第{i}步", data={"i": i})
    db.session.commit()
    return row


def _digest_all():
    written = []
    while (digest := audit.write_digest()) is not None:
        db.session.commit()
        written.append(digest)
    return written


def _peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_canonical_is_the_json_the_chain_was_hashed_with():
    body = {"b": [1, "二"], "a": {"z": None, "y": Decimal("1.50")}, "at": AT, "s": "引号\"\n"}
    assert audit.canonical(body) == json.dumps(body, sort_keys=True, ensure_ascii=False,
                                               separators=(",", ":"), default=str)


@pytest.mark.parametrize("values", [
    ("application", 5, 1, None, "系统", "system", AT, "submit", None, "draft", None, None, None),
    ("call", 12, 30, 7, "张\"三\"\n", "officer", AT, "t", "a", "b", "意见\t\\ \u2028",
     {"z": [1, 2.5, None, True], "a": {"中": "文", "k": "\x01"}, "n": 10 ** 20}, "::1"),
    ("x", 0, 2, 0, "", "", AT, "", "", "", "", {}, ""),
])
def test_the_row_spelled_out_is_the_canonical_json(values):
    body = audit._body(dict(zip(audit._HASHED, values, strict=True)))
    assert audit._canonical_row(*values) == audit.canonical(body)


def test_verify_memory_does_not_grow_with_the_trail(app, monkeypatch):
    monkeypatch.setattr(audit, "DIGEST_EVENTS", 1500)
    heads = _bulk_chains("probe", range(1, 201), 10)  # 2,000 events
    _digest_all()
    small, small_peak = _peak(audit.verify)
    assert small == []
    # Ten times the trail: ten times the chains, each as long again, and more digests.
    heads = _bulk_chains("probe", range(1, 201), 10, first_seq=11, prev=heads)
    _bulk_chains("probe", range(201, 1101), 20)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 22_000
    assert len(_digest_all()) > 10
    large, large_peak = _peak(audit.verify)
    assert large == []
    # Loading the trail would take ten times as much (several MB); a stream takes the same.
    assert large_peak < 1.5 * small_peak + 256 * 1024, (small_peak, large_peak)


def test_verify_still_finds_each_breach_across_batches(app, monkeypatch):
    monkeypatch.setattr(audit, "CHECK_BATCH", 2)
    for eid in range(1, 8):
        _trail(eid, 3)
    _bulk_chains("probe", [1, 2], 2)  # chains of a kind without rows are only verified
    trail = {eid: audit.history("application", eid) for eid in range(1, 8)}
    # 2: a row edited in the middle; 3: its last row cut off; 4: its whole trail deleted
    # (the row still records its head); 7, the last: likewise.
    db.session.execute(sa.update(AuditEvent).where(AuditEvent.id == trail[2][1].id)
                       .values(comment="改过了"))
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == trail[3][2].id))
    db.session.execute(sa.delete(AuditEvent).where(
        AuditEvent.entity_type == "application", AuditEvent.entity_id.in_([4, 7])))
    db.session.commit()
    breaches = audit.verify()
    assert [(b.where, b.problem) for b in breaches] == [
        (f"audit_event {trail[2][1].id}", "内容与哈希不符（记录被改动）"),
        ("application:3", "记录的链头为第 3 条，实际审计链只有 2 条（链尾被删除或改动）"),
        ("application:4", "记录的链头为第 3 条，实际审计链只有 0 条（链尾被删除或改动）"),
        ("application:7", "记录的链头为第 3 条，实际审计链只有 0 条（链尾被删除或改动）"),
    ]


def test_a_kind_without_any_chain_left_is_still_compared_with_its_rows(app):
    _trail(1, 2)
    db.session.execute(sa.delete(AuditEvent))
    db.session.commit()
    assert [b.where for b in audit.verify()] == ["application:1"]


def _forge_tail(entity_id, comment):
    """Rewrite a chain's last row and recompute its hash and the row's head: the chain and
    the row agree, only a digest that recorded the old head can tell."""
    last = audit.history("application", entity_id)[-1]
    last.comment = comment
    last.hash = audit.chain_hash(last.prev_hash, audit.event_body(last))
    row = db.session.get(Application, entity_id)
    row.audit_hash = last.hash
    db.session.commit()
    return last


def _cut_to(entity_id, keep):
    trail = audit.history("application", entity_id)
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id.in_(
        [ev.id for ev in trail[keep:]])))
    row = db.session.get(Application, entity_id)
    row.audit_seq = keep
    row.audit_hash = trail[keep - 1].hash if keep else None
    db.session.commit()


def test_the_digests_catch_what_a_careful_forger_hides(app, monkeypatch):
    monkeypatch.setattr(audit, "CHECK_BATCH", 2)
    monkeypatch.setattr(audit, "DIGEST_EVENTS", 4)
    for eid in range(1, 6):
        _trail(eid, 2)
    _digest_all()
    for eid in (1, 2):
        _trail(eid, 2)  # now 4 rows each, recorded by a later digest
    assert len(_digest_all()) == 1
    _cut_to(1, 3)  # the last digest recorded row 4
    _cut_to(2, 1)  # an older digest recorded row 2: the newest record counts
    forged = _forge_tail(3, "改过了")
    _cut_to(5, 0)  # the whole history gone, the row reset
    breaches = {b.where: b.problem for b in audit.verify()}
    assert breaches == {
        "application:1": "摘要记录的第 4 条已不存在（链尾被截断）",
        "application:2": "摘要记录的第 4 条已不存在（链尾被截断）",
        f"audit_event {forged.id}": "与摘要记录的哈希不符",
        "application:5": "摘要中记录的整条审计链已不存在（被删除）",
    }


def test_a_forged_digest_recording_numbers_no_row_can_hold_is_a_breach(app):
    """A digest's heads are JSON: a forger who re-hashes the digest chain may record a
    sequence number or an entity id beyond the 32-bit columns. Each is a breach, as any
    head the trail does not hold, and the check goes on."""
    _trail(1, 2)
    _trail(2, 2)
    [digest] = _digest_all()
    heads = dict(digest.heads)
    heads["application:1"] = [2**40, heads["application:1"][1]]
    heads[f"application:{2**40}"] = [1, "0" * 64]
    digest.heads = heads
    digest.hash = audit.chain_hash(digest.prev_hash, audit._digest_body(digest))
    db.session.commit()
    assert [(b.where, b.problem) for b in audit.verify()] == [
        ("application:1", f"摘要记录的第 {2**40} 条已不存在（链尾被截断）"),
        (f"application:{2**40}", "摘要中记录的整条审计链已不存在（被删除）"),
    ]


def test_a_broken_digest_is_named_and_only_the_digests_before_it_count(app):
    _trail(1, 2)
    first = audit.write_digest()
    db.session.commit()
    _trail(1, 2)
    second = audit.write_digest()
    db.session.commit()
    db.session.execute(sa.update(AuditDigest).where(AuditDigest.id == second.id)
                       .values(at=datetime(2020, 1, 1, tzinfo=UTC)))
    db.session.commit()
    _cut_to(1, 3)  # row 4, which only the broken digest recorded
    assert [b.where for b in audit.verify()] == [f"audit_digest {second.id}"]
    _cut_to(1, 1)  # row 2, which the sound first digest recorded
    assert [(b.where, b.problem) for b in audit.verify()] == [
        (f"audit_digest {second.id}", "摘要链不符（摘要被改动或删除）"),
        ("application:1", "摘要记录的第 2 条已不存在（链尾被截断）"),
    ]
    assert first.id < second.id


def test_the_digest_reads_only_the_events_after_the_last_one(app):
    heads = _bulk_chains("probe", range(1, 101), 5)  # 500 events
    first = audit.write_digest()
    db.session.commit()
    assert first.heads["_max_id"] == 500 and len(first.heads) == 101
    moved = _bulk_chains("probe", [7, 8], 2, first_seq=6, prev=heads)  # 4 new events
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM audit_event" in statement:
            statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        second = audit.write_digest()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    db.session.commit()
    assert second.heads == {"probe:7": list(moved[7]), "probe:8": list(moved[8]),
                            "_max_id": 504}
    # One read of the trail, and it returns the 4 new events, not the 500 before them.
    assert len(statements) == 1
    statement, parameters = statements[0]
    with db.engine.connect() as conn:
        read = conn.exec_driver_sql(statement, parameters).all()
    assert len(read) == 4 and min(r[-1] for r in read) == 501
    assert audit.write_digest() is None
    assert audit.verify() == []


def test_a_backlog_is_digested_in_bounded_digests(app, monkeypatch):
    _bulk_chains("probe", range(1, 4), 3)  # 9 events
    digests = [audit.write_digest(limit=4), audit.write_digest(limit=4),
               audit.write_digest(limit=4), audit.write_digest(limit=4)]
    assert [d.heads["_max_id"] if d else None for d in digests] == [4, 8, 9, None]
    assert digests[0].heads == {"probe:1": [3, audit.history("probe", 1)[2].hash],
                                "probe:2": [1, audit.history("probe", 2)[0].hash],
                                "_max_id": 4}
    assert digests[2].prev_hash == digests[1].hash
    db.session.commit()
    assert audit.verify() == []


def test_the_digest_command_catches_up_digest_by_digest(app, monkeypatch):
    monkeypatch.setattr(audit, "DIGEST_EVENTS", 4)
    _bulk_chains("probe", range(1, 4), 3)
    runner = app.test_cli_runner()
    out = runner.invoke(args=["audit", "digest"])
    assert out.exit_code == 0 and "（共 3 份）" in out.output
    assert "没有新的审计记录" in runner.invoke(args=["audit", "digest"]).output
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


@pytest.mark.parametrize("entity_id", [0, 1 << 40])
def test_ids_off_the_bitmap_are_remembered_too(entity_id):
    seen = audit._Seen()
    assert seen.first("probe", entity_id) and not seen.first("probe", entity_id)
    assert seen.first("other", entity_id)
