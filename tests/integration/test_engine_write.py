"""On PostgreSQL a change is written in one ORM flush: the row's UPDATE (checked against
its version), the audit row and the outbox row; the outbox event is sent after the
commit."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm.exc import StaleDataError

from states import ApplicationState, CallState
from tests.factories import ApplicationFactory, CallFactory, UserFactory
from workflow.applying.models import Application, Verdict
from workflow.core import audit, engine
from workflow.core.errors import Conflict
from workflow.core.models import AuditEvent, OutboxEvent, db

pytestmark = pytest.mark.integration


@pytest.fixture
def statements(app: Flask) -> list[str]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def flushes(app: Flask) -> list[list[str]]:
    """The statements each flush sent, one list per flush (a flush with nothing to write
    sends none and is not counted)."""
    seen: list[list[str]] = []
    flushing = False

    def start(*_: Any) -> None:
        nonlocal flushing
        flushing = True
        seen.append([])

    def end(*_: Any) -> None:
        nonlocal flushing
        flushing = False

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if flushing:
            seen[-1].append(statement)

    session = db.session()
    sa.event.listen(session, "before_flush", start)
    sa.event.listen(session, "after_flush_postexec", end)
    sa.event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(db.engine, "before_cursor_execute", record)
    sa.event.remove(session, "after_flush_postexec", end)
    sa.event.remove(session, "before_flush", start)


def test_one_flush_writes_row_audit_and_outbox(app: Flask, statements: list[str],
                                               flushes: list[list[str]]) -> None:
    sent: list[Any] = []
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: sent.append(kwargs)
    officer = UserFactory(roles=("officer",), organization=None, name="张科长")
    row = ApplicationFactory(call=CallFactory(state=CallState.decided, steps=["midterm"]),
                             state=ApplicationState.in_progress)
    db.session.commit()
    row_id = row.id
    assert officer.roles  # the actor as a request has it, loaded before the change
    statements.clear()
    flushes.clear()
    result = engine.fire(engine.load("application", row_id, lock=True), "start_midterm",
                         officer, comment="中期检查")
    # The lock is the only read; the three writes go out in one flush, the row's UPDATE
    # checked against the version it was locked at.
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1 and "FOR UPDATE" in reads[0]
    assert len(flushes) == 1
    (update, audit_insert, outbox_insert) = flushes[0]
    assert update.startswith("UPDATE application SET")
    assert "WHERE application.id = " in update and "AND application.version = " in update
    assert audit_insert.startswith("INSERT INTO audit_event")
    assert outbox_insert.startswith("INSERT INTO outbox_event")
    assert len(statements) == 4
    assert sent == []  # nothing leaves before the commit
    db.session.commit()
    assert len(flushes) == 1  # the commit had nothing left to flush
    engine.fire(engine.load("application", row.id, lock=True), "pass_midterm", officer)
    db.session.commit()

    db.session.expire_all()
    fresh = db.session.get(Application, row.id)
    assert (fresh.state, fresh.version, fresh.audit_seq) == (ApplicationState.in_progress, 3, 2)
    trail = audit.history("application", row.id)
    assert [e.trigger for e in trail] == ["start_midterm", "pass_midterm"]
    assert trail[0].id == result.audit_event.id and trail[0].comment == "中期检查"
    assert [e.data["version"] for e in trail] == [2, 3]
    assert fresh.audit_hash == trail[-1].hash and audit.verify() == []
    events = db.session.scalars(sa.select(OutboxEvent).order_by(OutboxEvent.id)).all()
    assert [e.topic for e in events] == ["application.start_midterm",
                                         "application.pass_midterm"]
    assert [e.payload["version"] for e in events] == [2, 3]
    assert [k["event_ids"] for k in sent] == [[events[0].id], [events[1].id]]


def test_a_stale_row_is_refused_and_nothing_is_written(app: Flask) -> None:
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    officer = UserFactory(roles=("officer",), organization=None)
    row = ApplicationFactory(call=CallFactory(state=CallState.decided, steps=["midterm"]),
                             state=ApplicationState.in_progress)
    db.session.commit()
    stale = engine.load("application", row.id)  # read, not locked
    # Someone else moves it meanwhile.
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE application SET version = version + 1 WHERE id = :i"),
                     {"i": row.id})
    engine._locked()[("application", row.id)] = None  # as if this session held the lock
    with pytest.raises(Conflict) as err:
        engine.fire(stale, "start_midterm", officer)
    assert (err.value.code, err.value.status) == ("stale_version", 409)
    assert isinstance(err.value.__cause__, StaleDataError)  # the flush's version check
    db.session.rollback()
    fresh = db.session.get(Application, row.id)
    assert (fresh.state, fresh.version, fresh.audit_seq) == (ApplicationState.in_progress, 2, 0)
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(OutboxEvent.id))) == 0


def test_a_relationship_set_before_the_change_is_written_with_it(app: Flask) -> None:
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    from tests.factories import OrganizationFactory

    officer = UserFactory(roles=("officer",), organization=None)
    other = OrganizationFactory()
    row = ApplicationFactory(call=CallFactory(state=CallState.decided, steps=["midterm"]),
                             state=ApplicationState.in_progress)
    db.session.commit()
    locked = engine.load("application", row.id, lock=True)
    locked.organization = other  # its foreign key is only known to the flush
    engine.fire(locked, "start_midterm", officer)
    db.session.commit()
    db.session.expire_all()
    fresh = db.session.get(Application, row.id)
    assert (fresh.organization_id, fresh.state) == (other.id, ApplicationState.midterm)


def test_a_milestone_report_and_its_evidence_in_one_flush(app: Flask, statements: list[str],
                                                          flushes: list[list[str]]) -> None:
    """The milestone (its JSON evidence included) is written as the other rows are, its
    project locked first."""
    from datetime import date
    from decimal import Decimal

    from states import MilestoneState
    from tests.factories import ChallengeFactory
    from workflow.core.models import Attachment
    from workflow.finance.models import Milestone

    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    challenge = ChallengeFactory()
    project = ApplicationFactory(call=challenge.call, challenge=challenge,
                                 state=ApplicationState.in_progress)
    db.session.flush()
    sha = "e" * 64
    db.session.add(Attachment(application_id=project.id, field="milestone_evidence",
                              sha256=sha, size=10, kind="pdf", mime="application/pdf",
                              filename="测试报告.pdf"))
    m = Milestone(application_id=project.id, seq=1, label="样机", amount=Decimal("1.00"),
                  due_on=date(2027, 1, 1))
    db.session.add(m)
    db.session.commit()
    statements.clear()
    flushes.clear()
    engine.fire(engine.load("milestone", m.id, lock=True), "report", project.applicant,
                data={"report": "样机已完成并通过第三方测试", "evidence": [sha]})
    locked = [s.split("FOR UPDATE OF")[1].split()[0] for s in statements if "FOR UPDATE" in s]
    assert locked == ["application", "milestone"]
    # One flush: the milestone's UPDATE checked against its version, the audit row and
    # the outbox row (in the order the unit of work chose).
    (written,) = flushes
    assert sorted(" ".join(w.split()[:3]) for w in written) == [
        "INSERT INTO audit_event", "INSERT INTO outbox_event", "UPDATE milestone SET"]
    assert any("AND milestone.version = " in w for w in written)
    db.session.commit()
    db.session.expire_all()
    fresh = db.session.get(Milestone, m.id)
    assert (fresh.state, fresh.version, fresh.audit_seq, fresh.evidence) == (
        MilestoneState.reported, 2, 1, [sha])
    assert fresh.audit_hash == audit.history("milestone", m.id)[-1].hash
    assert audit.verify() == []


def test_a_verdict_an_effect_records_is_written_in_the_change_s_one_flush(
        app: Flask, flushes: list[list[str]]) -> None:
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    row = ApplicationFactory(call=CallFactory(state=CallState.decided),
                             state=ApplicationState.acceptance)
    db.session.commit()
    flushes.clear()
    # (as the 结题验收's conclusion carries it out: workflow/acceptance)
    with engine.carrying_out("acceptance.pass"):
        engine.fire(engine.load("application", row.id, lock=True), "pass_acceptance", None,
                    data={"verdict": "pass", "opinions": "专家组同意通过验收"})
    # The transition's one flush; its follow-ups (the 绩效评价 opened at closure) write
    # after it.
    (update,) = [s for s in flushes[0] if s.startswith("UPDATE application SET")]
    assert not any(s.startswith("UPDATE application SET") for f in flushes[1:] for s in f)
    assert "acceptance_verdict" in update and "AND application.version = " in update
    db.session.commit()
    db.session.expire_all()
    fresh = db.session.get(Application, row.id)
    assert (fresh.state, fresh.acceptance_verdict, fresh.acceptance_opinions) == (
        ApplicationState.completed, Verdict.passed, "专家组同意通过验收")
    # The database holds a completed project to its pass.
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE application SET acceptance_verdict = 'fail' "
                             "WHERE id = :i"), {"i": row.id})
