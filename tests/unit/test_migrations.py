"""Migration 20261206_0002 on SQLite: the facts in old rows' ``data`` become typed facts,
and go back on the downgrade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa

from tests import legacy_facts
from tests.conftest import build_app
from workflow.core.models import db


@pytest.fixture
def sqlite_at_the_revision_before(tmp_path: Path):
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'legacy.sqlite'}")
    with app.app_context():
        flask_migrate.upgrade(revision=legacy_facts.BEFORE)
        yield db.engine
        db.session.remove()
        db.engine.dispose()


def test_typed_facts_migration_carries_old_rows_over_and_back(sqlite_at_the_revision_before):
    engine = sqlite_at_the_revision_before
    ids = legacy_facts.seed(engine)

    flask_migrate.upgrade(revision=legacy_facts.TYPED_FACTS)
    assert legacy_facts.checks_not_as_declared(
        engine, ("application", "signature", "final_report")) == {}
    legacy_facts.check_typed(engine, ids)
    legacy_facts.check_constraints_hold(engine, ids)

    flask_migrate.downgrade(revision=legacy_facts.BEFORE)
    legacy_facts.check_legacy(engine, ids)

    flask_migrate.upgrade(revision=legacy_facts.TYPED_FACTS)  # and up again, the same
    legacy_facts.check_typed(engine, ids)


def test_typed_facts_migration_invents_no_demand_side_verdict(sqlite_at_the_revision_before,
                                                              capsys):
    engine = sqlite_at_the_revision_before
    ids = legacy_facts.seed(engine)
    with engine.begin() as conn:  # a completed 揭榜挂帅 project, its demand side's pass lost
        conn.execute(sa.text("UPDATE application SET data = :data WHERE id = :id"),
                     {"data": '{"summary": "x"}', "id": ids["completed"]})
    with pytest.raises(SystemExit):  # flask-migrate's answer to the migration's error
        flask_migrate.upgrade(revision=legacy_facts.TYPED_FACTS)
    assert f"without the demand side's recorded pass (data.demand_acceptance): " \
           f"{ids['completed']};" in capsys.readouterr().err
    db.session.remove()
    inspector = sa.inspect(engine)
    assert "signature" not in inspector.get_table_names()  # nothing half done
    assert "defence_score" not in {c["name"] for c in inspector.get_columns("application")}


PAYEE_AND_CALENDAR = "20261216_0002"


def test_the_payee_and_calendar_migrations_carry_old_rows_over(sqlite_at_the_revision_before):
    """Tranches already on a voucher take their organisation's account; a notice already
    opened keeps its published first day (the day after it opened); the calendar holds the
    years chinese-calendar knows, and no other."""
    from datetime import UTC, date, datetime
    from decimal import Decimal

    engine = sqlite_at_the_revision_before
    ids = legacy_facts.seed(engine)
    flask_migrate.upgrade(revision="20261215_0001")
    md = sa.MetaData()
    md.reflect(engine)
    t = md.tables
    now = datetime(2026, 3, 2, 1, 30, tzinfo=UTC).replace(tzinfo=None)  # (SQLite: naive UTC)
    with engine.begin() as conn:
        conn.execute(t["organization"].update().values(bank_name="中国银行赣州分行",
                                                       bank_account="6216610000000001"))
        conn.execute(t["application"].update().where(
            t["application"].c.id == ids["contracted"]).values(
            notice_started_at=datetime(2022, 9, 29, 2, 0, tzinfo=UTC).replace(
                tzinfo=None)))  # 10:00 in Shanghai
        for seq, state, paid in ((1, "released", True), (2, "due", False)):
            conn.execute(t["tranche"].insert().values(
                application_id=ids["failed"], seq=seq, label=f"第{seq}笔",
                amount=Decimal("100000.00"), condition="contract", state=state, version=1,
                payment_ref="ZF-1" if paid else None, released_at=now if paid else None,
                created_at=now))

    flask_migrate.upgrade(revision=PAYEE_AND_CALENDAR)
    with engine.connect() as conn:
        payees = dict(conn.execute(sa.text(
            "SELECT state, payee_bank || ' ' || payee_account FROM tranche")).all())
        first_day = conn.execute(sa.text("SELECT notice_first_day FROM application "
                                         "WHERE id = :id"), {"id": ids["contracted"]}).scalar()
        years = [y for (y,) in conn.execute(sa.text("SELECT year FROM holiday_year "
                                                    "ORDER BY year"))]
        worked = conn.execute(sa.text("SELECT is_working_day, name FROM calendar_day "
                                      "WHERE day = '2022-10-08'")).one()
    assert payees == {"released": "中国银行赣州分行 6216610000000001", "due": None}
    assert date.fromisoformat(str(first_day)) == date(2022, 9, 30)
    assert (years[0], years[-1], len(years)) == (2004, 2026, 23)  # chinese-calendar 1.11.0
    assert tuple(worked) == (1, "国庆节")

    flask_migrate.downgrade(revision="20261215_0001")
    inspector = sa.inspect(engine)
    assert "holiday_year" not in inspector.get_table_names()
    assert "payee_account" not in {c["name"] for c in inspector.get_columns("tranche")}


# ---- 20261218_0001: an organisation's recommending body -------------------------------------

PARENT_BEFORE, PARENT = "20261216_0002", "20261218_0001"


def test_the_recommending_body_column_keeps_every_organisation_and_reference(tmp_path: Path):
    """The column comes with its foreign key, which SQLite adds by rebuilding the table
    that nearly every other refers to: nothing referring to it is lost, either way."""
    from datetime import UTC, datetime

    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'orgs.sqlite'}")
    with app.app_context():
        flask_migrate.upgrade(revision=PARENT_BEFORE)
        engine = db.engine
        md = sa.MetaData()
        md.reflect(engine)
        now = datetime(2026, 12, 1, tzinfo=UTC)
        with engine.begin() as conn:
            for n, (name, kind) in enumerate((("章贡区科技局", "government"),
                                              ("赣南科技大学", "university")), 1):
                conn.execute(md.tables["organization"].insert().values(
                    id=n, name=name, uscc=f"91360700MA35A000{n}X", kind=kind,
                    created_at=now))
            conn.execute(md.tables["user_account"].insert().values(
                id=7, username="li", name="李明", password_hash="x", organization_id=2,
                active=True, created_at=now))

        def state() -> tuple[list[Any], list[Any]]:
            with engine.connect() as conn:
                return (conn.execute(sa.text("SELECT id, name, kind FROM organization "
                                             "ORDER BY id")).all(),
                        conn.execute(sa.text("SELECT id, organization_id FROM user_account"))
                        .all())

        kept = state()
        flask_migrate.upgrade(revision=PARENT)
        assert state() == kept
        inspector = sa.inspect(engine)
        assert {"parent_id"} <= {c["name"] for c in inspector.get_columns("organization")}
        assert [(fk["constrained_columns"], fk["referred_table"]) for fk in
                inspector.get_foreign_keys("organization")] == [(["parent_id"], "organization")]
        assert legacy_facts.checks_not_as_declared(engine, ("organization",)) == {}
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE organization SET parent_id = 1 WHERE id = 2"))
        flask_migrate.downgrade(revision=PARENT_BEFORE)
        assert state() == kept
        assert "parent_id" not in {c["name"] for c in sa.inspect(engine).get_columns(
            "organization")}
        db.session.remove()
        db.engine.dispose()


def test_the_title_key_migration_keys_every_existing_application(sqlite_at_the_revision_before):
    """20261227_0008: 一题多报 looks titles up by their key; the rows from before get
    theirs."""
    from workflow.applying.models import normal_text

    engine = sqlite_at_the_revision_before
    legacy_facts.seed(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE application SET title = 'AI 稀土（永磁）-检测 ' || id"))
    flask_migrate.upgrade(revision="20261227_0008")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, title, title_key FROM application")).all()
    assert len(rows) > 1
    assert {key for _, _, key in rows} == {f"ai稀土永磁检测{i}" for i, _, _ in rows}
    assert all(key == normal_text(title) for _, title, key in rows)


def test_the_tranche_number_migration_copies_each_projects_number(tmp_path: Path):
    """20261227_0009: the tranches there are keep their project's number."""
    from decimal import Decimal

    from tests.factories import TrancheFactory

    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'numbers.sqlite'}")
    with app.app_context():
        flask_migrate.upgrade()
        numbered = TrancheFactory(application__project_number="GZKJ-2026-0007")
        TrancheFactory(application=numbered.application, seq=2, amount=Decimal("1.00"))
        unnumbered = TrancheFactory(application__project_number=None)
        db.session.commit()
        ids = (numbered.id, unnumbered.id)
        db.session.remove()
        flask_migrate.downgrade(revision="20261227_0008")
        flask_migrate.upgrade(revision="20261227_0009")
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT id, application_id, project_number FROM tranche ORDER BY id")).all()
        db.engine.dispose()
    assert [r[2] for r in rows] == ["GZKJ-2026-0007", "GZKJ-2026-0007", None]
    assert (rows[0][0], rows[2][0]) == ids
