import sqlalchemy as sa

from tests.factories import ApplicationFactory, UserFactory
from workflow.applying.models import Application
from workflow.core import audit
from workflow.core.models import AuditEvent, db


def _trail(n=3, entity_id=1):
    actor = UserFactory(roles=("officer",))
    row = db.session.get(Application, entity_id) or ApplicationFactory(id=entity_id)
    for i in range(n):
        audit.record(row, "application", f"t{i}", actor, "officer", "a", "b",
                     comment=f"第{i}步", data={"i": i}, ip="127.0.0.1")
    db.session.commit()
    return row


def test_each_entity_has_its_own_chain(app):
    _trail(2, entity_id=1)
    _trail(2, entity_id=2)
    rows = audit.history("application", 2)
    assert [r.seq for r in rows] == [1, 2]
    assert rows[0].prev_hash == audit.GENESIS and rows[1].prev_hash == rows[0].hash
    assert audit.verify() == []


def test_edited_row_is_named(app):
    _trail(3)
    second = audit.history("application", 1)[1]
    db.session.execute(sa.update(AuditEvent).where(AuditEvent.id == second.id)
                       .values(comment="改过了"))
    db.session.commit()
    breaches = audit.verify()
    assert [b.where for b in breaches] == [f"audit_event {second.id}"]


def test_deleted_middle_row_is_detected(app):
    _trail(3)
    rows = audit.history("application", 1)
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == rows[1].id))
    db.session.commit()
    assert [b.where for b in audit.verify()] == [f"audit_event {rows[2].id}"]


def test_cutting_off_the_end_of_a_chain_is_detected_by_the_row_head(app):
    _trail(3)
    last = audit.history("application", 1)[-1]
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == last.id))
    db.session.commit()
    breaches = audit.verify()
    assert [b.where for b in breaches] == ["application:1"]
    assert "实际审计链只有 2 条" in breaches[0].problem


def test_deleting_a_whole_history_is_caught_by_the_digest(app):
    _trail(2, entity_id=1)
    _trail(2, entity_id=2)
    assert audit.write_digest() is not None
    db.session.commit()
    assert audit.write_digest() is None  # nothing moved since
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.entity_id == 2))
    # A careful forger also resets the row's own head; the digest still remembers.
    db.session.execute(sa.update(Application).where(Application.id == 2)
                       .values(audit_seq=0, audit_hash=None))
    db.session.commit()
    assert [b.where for b in audit.verify()] == ["application:2"]
