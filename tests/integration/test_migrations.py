"""The Alembic migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from tests.integration.conftest import ROOT, dispose_app, make_app, migrate
from workflow.core.models import db

pytestmark = pytest.mark.integration

MIGRATIONS = ROOT / "migrations"


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def differences(engine: sa.Engine) -> list[Any]:
    """What autogenerate would put in a new migration: nothing, when they match."""
    with engine.connect() as conn:
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


def test_migrations_match_the_models_on_a_fresh_sqlite_file(tmp_path: Path,
                                                            redis_url: str) -> None:
    path = tmp_path / "fresh.sqlite"
    sqlite_app = make_app(tmp_path, f"sqlite:///{path}", redis_url)
    try:
        with sqlite_app.app_context():
            migrate("upgrade")
            assert path.exists()
            check_round_trip(db.engine)
    finally:
        dispose_app(sqlite_app)
