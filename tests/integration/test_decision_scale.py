"""The funding decision of a large call on PostgreSQL (issue 19): the officer's proposal
and the leader's approval of a call of 20,000 applications, each application moved
through the engine (its audit event and its outbox event) a batch at a time, no
statement binding more than a batch's parameters. Correctness only: the time is
printed, never asserted."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState
from tests.factories import UserFactory
from tests.statements import Statements
from tests.unit.workflow.test_ranking_scale import make_call
from tests.unit.workflow.test_ranking_scale import people as people
from workflow.applying.models import Application
from workflow.core.models import AuditEvent, OutboxEvent, db
from workflow.decisions import operations as decisions

N = 20_000
LISTED = 5_000


def test_a_large_calls_decision_is_proposed_and_approved_in_batches(app, people):
    leader = UserFactory(roles=("leader",), organization=None, name="李局长")
    call, ids = make_call(people, N)
    # 0.01 万元 each: 5,000 of them stay within the call's budget.
    items = [{"application_id": str(i), "amount_wan": "0.01"} for i in ids[:LISTED]]
    db.session.expire_all()
    call = db.session.get(type(call), call.id)
    started = time.monotonic()
    with Statements() as proposed:
        d = decisions.propose(call, people["officer"], items, "按排名")
    db.session.commit()
    print(f"\npropose: {time.monotonic() - started:.2f} s, {len(proposed)} statements")
    started = time.monotonic()
    with Statements() as approved:
        decisions.approve(d, leader, "同意")
    db.session.commit()
    print(f"approve: {time.monotonic() - started:.2f} s, {len(approved)} statements")
    batches = -(-N // decisions.BATCH)
    assert len(proposed) <= 20 + -(-LISTED // decisions.BATCH)
    assert len(approved) <= 30 + 10 * batches
    assert max(proposed.params + approved.params) < 65_535
    db.session.expire_all()
    counts = dict(db.session.execute(sa.select(Application.state, sa.func.count()).where(
        Application.call_id == call.id).group_by(Application.state)).all())
    assert counts == {ApplicationState.shortlisted: LISTED,
                      ApplicationState.not_funded: N - LISTED}
    assert db.session.get(type(call), call.id).state is CallState.decided
    for trigger, expected in (("shortlist", LISTED), ("decline_funding", N - LISTED)):
        assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
            AuditEvent.entity_type == "application", AuditEvent.trigger == trigger)) == expected
        assert db.session.scalar(sa.select(sa.func.count(OutboxEvent.id)).where(
            OutboxEvent.topic == f"application.{trigger}")) == expected
    # Every application's own chain moved on by one, its head on the row.
    heads = db.session.execute(sa.select(sa.func.count()).select_from(Application).join(
        AuditEvent, sa.and_(AuditEvent.entity_type == "application",
                            AuditEvent.entity_id == Application.id,
                            AuditEvent.hash == Application.audit_hash))
        .where(Application.call_id == call.id)).scalar()
    assert heads == N


pytestmark = pytest.mark.integration


def test_a_batch_of_rows_with_a_parent_locks_their_parents_on_postgresql(app, people):
    """``load_many`` of a kind with a parent (a tranche's project) locks each parent of the
    batch first, as ``load`` does one row's (PostgreSQL takes no ORDER BY the DISTINCT
    list lacks: the parents are read from the batch)."""
    from states import TrancheState
    from tests.factories import TrancheFactory
    from workflow.core import engine
    from workflow.finance.models import Tranche

    tranches = [TrancheFactory(state=TrancheState.planned) for _ in range(3)]
    db.session.commit()
    batch = engine.load_many("tranche", Tranche.state == TrancheState.planned, limit=2)
    assert [t.id for t in batch] == sorted(t.id for t in tranches)[:2]
    locked = engine._locked()
    for t in batch:
        assert ("application", t.application_id) in locked and ("tranche", t.id) in locked
    db.session.rollback()
