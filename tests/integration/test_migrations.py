"""The Alembic migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from tests import legacy_facts
from tests.integration.conftest import ROOT, dispose_app, make_app, migrate
from workflow.core.models import db

pytestmark = pytest.mark.integration

MIGRATIONS = ROOT / "migrations"


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def differences(engine: sa.Engine) -> list[Any]:
    """What autogenerate would put in a new migration: nothing, when they match. SQLite
    has no search index (PostgreSQL's alone, ``ddl_if``), and alembic, which cannot
    reflect an index over an expression there, says it skips them."""
    with engine.connect() as conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified "
                                          "expression-based index 'ix_[a-z_]+_search_grams'")
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, db.metadata)


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def model_tables() -> set[str]:
    return set(db.metadata.tables)


def check_round_trip(engine: sa.Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert differences(engine) == []
    assert legacy_facts.checks_not_as_declared(engine) == {}
    assert table_names(engine) == model_tables() | {"alembic_version"}

    db.session.remove()
    migrate("downgrade", "base")
    assert table_names(engine) <= {"alembic_version"}
    assert current_revision(engine) is None

    migrate("upgrade")
    assert current_revision(engine) == head_revision()
    assert table_names(engine) == model_tables() | {"alembic_version"}
    assert differences(engine) == []


def test_migrations_match_the_models_on_postgresql(app: Flask) -> None:
    # The session fixture already built this schema with ``migrate("upgrade")``.
    assert db.engine.dialect.name == "postgresql"
    check_round_trip(db.engine)


def on_a_fresh_sqlite_file(tmp_path: Path, redis_url: str,
                           check: Callable[[sa.Engine], None]) -> None:
    """``check`` on a SQLite file the migrations have just built."""
    path = tmp_path / "fresh.sqlite"
    sqlite_app = make_app(tmp_path, f"sqlite:///{path}", redis_url)
    try:
        with sqlite_app.app_context():
            migrate("upgrade")
            assert path.exists()
            check(db.engine)
    finally:
        dispose_app(sqlite_app)


def test_migrations_match_the_models_on_a_fresh_sqlite_file(tmp_path: Path,
                                                            redis_url: str) -> None:
    on_a_fresh_sqlite_file(tmp_path, redis_url, check_round_trip)


# ---- what a migration carries over -------------------------------------------------------

LIFECYCLES_REVISION = "20261206_0001"  # milestone, funding decision and objection


def judged_milestones() -> dict[str, int]:
    """A 揭榜挂帅 project's milestones, one in each state a verdict can leave it in, one
    with its tranche; and a funded list with its item."""
    from datetime import date
    from decimal import Decimal

    from states import ApplicationState, MilestoneState
    from tests.factories import ApplicationFactory, ChallengeFactory, UserFactory
    from workflow.decisions.models import DecisionItem, FundingDecision
    from workflow.finance.models import Milestone, Tranche

    challenge = ChallengeFactory()
    project = ApplicationFactory(call=challenge.call, challenge=challenge,
                                 state=ApplicationState.in_progress)
    db.session.flush()
    rows = {
        "demand_accepted": Milestone(state=MilestoneState.demand_accepted,
                                     demand_verdict="pass"),
        "officer_accepted": Milestone(state=MilestoneState.officer_accepted,
                                      officer_verdict="pass"),
        "reported": Milestone(state=MilestoneState.reported),
        "accepted": Milestone(state=MilestoneState.accepted, demand_verdict="pass",
                              officer_verdict="pass"),
    }
    for seq, m in enumerate(rows.values(), 1):
        m.application_id, m.seq, m.label = project.id, seq, f"里程碑{seq}"
        m.amount, m.due_on = Decimal("100000.00"), date(2027, 1, 1)
        db.session.add(m)
    db.session.flush()
    db.session.add(Tranche(application=project, seq=1, label="里程碑1", amount=Decimal(1),
                           condition="milestone", milestone_id=rows["reported"].id))
    decision = FundingDecision(call_id=challenge.call_id, total=Decimal(1),
                               proposed_by_id=UserFactory().id)
    decision.items = [DecisionItem(application_id=project.id, amount=Decimal(1), position=1)]
    db.session.add(decision)
    db.session.commit()
    ids = {state: m.id for state, m in rows.items()}
    db.session.remove()
    return ids


def milestone_rows(engine: sa.Engine) -> tuple[dict[int, str], list[Any], int]:
    """Each milestone's state; the tranches' references to milestones; decision items."""
    with engine.connect() as conn:
        return (dict(conn.execute(sa.text("SELECT id, state FROM milestone")).all()),
                list(conn.execute(sa.text("SELECT milestone_id FROM tranche")).scalars()),
                conn.execute(sa.text("SELECT count(*) FROM decision_item")).scalar_one())


def check_lifecycle_migration_carries_milestones(engine: sa.Engine) -> None:
    ids = judged_milestones()
    before = ScriptDirectory(str(MIGRATIONS)).get_revision(LIFECYCLES_REVISION).down_revision
    try:
        migrate("downgrade", before)
        # Before milestones had a lifecycle a single pass left them reported; nothing
        # that refers to the rebuilt tables is lost.
        assert milestone_rows(engine) == ({
            ids["demand_accepted"]: "reported", ids["officer_accepted"]: "reported",
            ids["reported"]: "reported", ids["accepted"]: "accepted"}, [ids["reported"]], 1)
    finally:
        migrate("upgrade")
    assert milestone_rows(engine) == ({i: state for state, i in ids.items()},
                                      [ids["reported"]], 1)
    with engine.connect() as conn:
        for select in ("SELECT version, audit_seq, audit_hash FROM milestone",
                       "SELECT version, audit_seq, audit_hash FROM funding_decision"):
            assert set(conn.execute(sa.text(select)).all()) == {(1, 0, None)}
        # The CHECK constraint takes the new states, and only states.
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.text("UPDATE milestone SET state = 'judged' WHERE id = :i"),
                         {"i": ids["reported"]})


def test_the_lifecycle_migration_carries_judged_milestones_on_postgresql(app: Flask) -> None:
    check_lifecycle_migration_carries_milestones(db.engine)


def test_the_lifecycle_migration_carries_judged_milestones_on_sqlite(
        tmp_path: Path, redis_url: str) -> None:
    on_a_fresh_sqlite_file(tmp_path, redis_url, check_lifecycle_migration_carries_milestones)


def test_typed_facts_migration_carries_old_rows_over_and_back_on_postgresql(app: Flask) -> None:
    engine = db.engine
    db.session.remove()
    migrate("downgrade", legacy_facts.BEFORE)
    try:
        ids = legacy_facts.seed(engine)
        migrate("upgrade", legacy_facts.TYPED_FACTS)
        legacy_facts.check_typed(engine, ids)
        legacy_facts.check_constraints_hold(engine, ids)

        migrate("downgrade", legacy_facts.BEFORE)
        legacy_facts.check_legacy(engine, ids)
    finally:
        migrate("upgrade")  # the other tests' schema, whatever happened
    legacy_facts.check_typed(engine, ids)
    assert differences(engine) == []


NUMBERS_REVISION = "20261222_0001"  # the office's 发文字号 and its register


def check_numbers_migration_registers_given_numbers(engine: sa.Engine) -> None:
    """The 发文字号 given before the register existed are entered in it, so that no
    sequence hands them out again."""
    from decimal import Decimal

    from states import ApplicationState, CallState
    from tests.factories import ApplicationFactory, CallFactory
    from workflow.core import numbering
    from workflow.core.models import utcnow

    before = ScriptDirectory(str(MIGRATIONS)).get_revision(NUMBERS_REVISION).down_revision
    # Numbers given directly (as before the register), by today's models; then the schema
    # goes back to before the register, keeping them, and up again.
    call = CallFactory(state=CallState.decided, title="稀土专项",
                       doc_number="赣市科字〔2026〕3号")
    ApplicationFactory(call=call, title="永磁", state=ApplicationState.approved,
                       approved_at=utcnow(), granted_amount=Decimal("1.00"),
                       doc_number="赣市科字〔2026〕2号")
    ApplicationFactory(call=call, title="分离", state=ApplicationState.approved,
                       approved_at=utcnow(), granted_amount=Decimal("1.00"),
                       doc_number="赣市科字〔2026〕1号")
    db.session.commit()
    db.session.remove()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM issued_number")).scalar() == 0
    migrate("downgrade", before)
    migrate("upgrade")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT kind, number, prefix, seq, subject, numbered_at IS NOT NULL "
            "FROM issued_number ORDER BY seq")).all()
    assert [tuple(r) for r in rows] == [
        ("notice", "赣市科字〔2026〕1号", "赣市科字〔2026〕", 1, "关于“分离”项目立项的通知", True),
        ("notice", "赣市科字〔2026〕2号", "赣市科字〔2026〕", 2, "关于“永磁”项目立项的通知", True),
        ("approval_file", "赣市科字〔2026〕3号", "赣市科字〔2026〕", 3,
         "关于下达稀土专项立项项目的通知", True)]
    from datetime import datetime

    from workflow.timeutil import SHANGHAI

    taken = numbering.issue("payment_notice", "tranche", 1, datetime(2026, 6, 1, tzinfo=SHANGHAI),
                            topic="tranche.payment_notice", subject="拨付")
    assert taken.number == "赣市科字〔2026〕4号"
    db.session.rollback()


def test_the_numbers_migration_registers_given_numbers_on_postgresql(app: Flask) -> None:
    check_numbers_migration_registers_given_numbers(db.engine)


def test_the_numbers_migration_registers_given_numbers_on_sqlite(
        tmp_path: Path, redis_url: str) -> None:
    sqlite_app = make_app(tmp_path, f"sqlite:///{tmp_path / 'numbers.sqlite'}", redis_url)
    try:
        with sqlite_app.app_context():
            migrate("upgrade")
            check_numbers_migration_registers_given_numbers(db.engine)
    finally:
        dispose_app(sqlite_app)


REVIEW_SUMS_REVISION = "20261227_0010"  # application.review_count/kept/cents


def reviewed_applications() -> None:
    """A call for each rule, its applications with 1 to 6 submitted totals (some to the
    cent, one never reviewed), their sums kept as a submission keeps them."""
    from decimal import Decimal

    from states import ApplicationState, ReviewState
    from tests.factories import ApplicationFactory, CallFactory, ReviewFactory
    from workflow.review import results

    for rule in ("trimmed", "mean", "median"):
        call = CallFactory(aggregation=rule)
        for count in range(7):
            app = ApplicationFactory(call=call, state=ApplicationState.reviewed)
            for k in range(count):
                ReviewFactory(application=app, state=ReviewState.submitted,
                              total=Decimal(60 + 7 * k) + Decimal("0.01") * (k * count % 3))
        db.session.commit()
        results.rescore(call)
    db.session.commit()
    db.session.remove()


def review_sums(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT id, review_count, review_kept, review_cents FROM application ORDER BY id")))


def check_the_review_sums_migration(engine: sa.Engine) -> None:
    reviewed_applications()
    kept = review_sums(engine)
    assert len(kept) == 21 and sum(1 for row in kept if row[1]) == 18
    before = ScriptDirectory(str(MIGRATIONS)).get_revision(REVIEW_SUMS_REVISION).down_revision
    try:
        migrate("downgrade", before)
    finally:
        migrate("upgrade")
    # Worked out again from the reviews by the migration: what the submissions kept.
    assert review_sums(engine) == kept


def test_the_review_sums_migration_works_them_out_on_postgresql(app: Flask) -> None:
    check_the_review_sums_migration(db.engine)


def test_the_review_sums_migration_works_them_out_on_sqlite(tmp_path: Path,
                                                            redis_url: str) -> None:
    on_a_fresh_sqlite_file(tmp_path, redis_url, check_the_review_sums_migration)
