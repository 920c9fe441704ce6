"""Migration 20261206_0002 on SQLite: the facts in old rows' ``data`` become typed facts,
and go back on the downgrade."""

from __future__ import annotations

from pathlib import Path

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
