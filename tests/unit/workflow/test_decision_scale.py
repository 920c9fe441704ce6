"""The funding decision of a large call (issue 19): the officer's proposal reads the call in
SQL and writes its items a batch at a time; the leader's approval moves every application
through the engine (each its rules, its audit event and its outbox event) a batch at a
time. The statements grow by a fixed number per batch, never per application, and no
statement binds more than a batch's parameters (PostgreSQL takes at most 65,535)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState
from tests.factories import UserFactory
from tests.statements import Statements
from tests.unit.workflow.test_ranking_scale import make_call
from tests.unit.workflow.test_ranking_scale import people as people
from workflow.applying.models import Application
from workflow.core import audit
from workflow.core.models import AuditEvent, OutboxEvent, db
from workflow.decisions import operations as decisions
from workflow.decisions.models import DecisionItem

BATCH = 40  # small here, so that a few hundred applications make several batches
MAX_PARAMS = 65_535


@pytest.fixture
def leader(app):
    return UserFactory(roles=("leader",), organization=None, name="李局长")


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(decisions, "BATCH", BATCH)


def _listed(ids: list[int], n: int) -> list[dict[str, str]]:
    """The first ``n`` applications, each funded at 1 万元 (none asks for less)."""
    return [{"application_id": str(i), "amount_wan": "1"} for i in ids[:n]]


def _propose(people, call, items):
    db.session.expire_all()
    call = db.session.get(type(call), call.id)
    with Statements() as seen:
        d = decisions.propose(call, people["officer"], items, "按排名")
    db.session.commit()
    return seen, d


def _approve(d, leader):
    db.session.expire_all()
    with Statements() as seen:
        decisions.approve(d, leader, "同意")
    db.session.commit()
    return seen


def test_the_proposal_and_approval_grow_by_batches_never_by_application(people, leader):
    small, small_ids = make_call(people, 30)
    large, large_ids = make_call(people, 300)
    proposed_small, d_small = _propose(people, small, _listed(small_ids, 10))
    proposed_large, d_large = _propose(people, large, _listed(large_ids, 200))
    # The items a batch per statement: the only growth.
    assert len(proposed_large) - len(proposed_small) == math.ceil(200 / BATCH) - 1
    approved_small = _approve(d_small, leader)
    approved_large = _approve(d_large, leader)
    batches = math.ceil(300 / BATCH) - math.ceil(30 / BATCH)
    per_batch = (len(approved_large) - len(approved_small)) / batches
    assert per_batch <= 12, approved_large.report()
    for seen in (proposed_small, proposed_large, approved_small, approved_large):
        assert max(seen.params) < MAX_PARAMS
        # A batch binds a batch's rows, never the call's.
        assert max(seen.params) <= BATCH * 20
    assert len(approved_small) <= 40


def test_a_large_approval_moves_each_application_through_the_engine(people, leader):
    call, ids = make_call(people, 250)
    listed = ids[:90]
    _, d = _propose(people, call, _listed(ids, 90))
    assert db.session.scalar(sa.select(sa.func.count(DecisionItem.id)).where(
        DecisionItem.decision_id == d.id)) == 90
    assert [i.position for i in d.items[:3]] == [1, 2, 3]
    _approve(d, leader)
    db.session.expire_all()
    states = dict(db.session.execute(sa.select(Application.id, Application.state).where(
        Application.call_id == call.id)).all())
    assert {states[i] for i in listed} == {ApplicationState.shortlisted}
    assert {states[i] for i in ids[90:]} == {ApplicationState.not_funded}
    grants = set(db.session.scalars(sa.select(Application.granted_amount).where(
        Application.id.in_(listed))))
    assert grants == {Decimal("10000.00")}
    assert db.session.get(type(call), call.id).state is CallState.decided
    # One audit event and one outbox event per application, each on its own chain.
    for trigger, expected in (("shortlist", 90), ("decline_funding", 160)):
        assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
            AuditEvent.entity_type == "application", AuditEvent.trigger == trigger)) == expected
        assert db.session.scalar(sa.select(sa.func.count(OutboxEvent.id)).where(
            OutboxEvent.topic == f"application.{trigger}")) == expected
    first = audit.history("application", listed[0])[-1]
    assert (first.trigger, first.comment, first.actor_name) == ("shortlist", "立项名单第1项",
                                                              "李局长")
    assert first.data["input"] == {"amount": "10000.00", "decision_id": d.id}
    assert audit.history("application", ids[-1])[-1].comment == "未列入立项名单"
    assert audit.verify() == []


def test_a_proposal_naming_what_is_not_decidable_is_refused_by_name(people):
    call, ids = make_call(people, 50)
    db.session.execute(sa.update(Application).where(Application.id == ids[3]).values(
        state=ApplicationState.withdrawn))
    db.session.commit()
    with pytest.raises(Exception) as err:
        decisions.propose(call, people["officer"], [
            *_listed(ids, 5), {"application_id": "999999", "amount_wan": "10"}])
    details = err.value.details  # type: ignore[attr-defined]
    assert "不能列入立项名单" in details["items[3]"]
    assert "不属于该指南" in details["items[5]"]


def test_a_batch_changed_meanwhile_is_refused_whole(people, leader):
    """``engine.fire_many`` checks each row's version as ``fire`` does: one row changed
    since the batch was locked refuses the batch."""
    from workflow.core import engine
    from workflow.core.errors import Conflict

    call, ids = make_call(people, 5)
    rows = engine.load_many("application", Application.call_id == call.id, limit=10)
    assert [r.id for r in rows] == ids
    # Another writer (the session's rows not told).
    db.session.execute(sa.update(Application).where(Application.id == ids[2]).values(
        version=Application.version + 1).execution_options(synchronize_session=False))
    with engine.carrying_out("decision.approve"), pytest.raises(Conflict):
        engine.fire_many([(r, "未列入立项名单", None) for r in rows], "decline_funding",
                         leader)
    db.session.rollback()
    assert set(db.session.scalars(sa.select(Application.state).where(
        Application.call_id == call.id))) == {ApplicationState.reviewed}
