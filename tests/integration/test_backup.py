"""`flask backup` and `flask restore` on PostgreSQL (pg_dump and pg_restore), on a
database of the test's own beside the session's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.backups import run_scenario

pytestmark = pytest.mark.integration


@pytest.fixture
def own_database(_postgres: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """The URL of a new, empty database, and how to drop it and create it empty again."""
    url = sa.make_url(_postgres)
    name = f"{url.database}_backup"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT",
                             poolclass=sa.pool.NullPool)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def recreate() -> None:
        drop()
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    recreate()
    try:
        yield url.set(database=name).render_as_string(hide_password=False), recreate
    finally:
        drop()
        admin.dispose()


def test_an_instance_backed_up_dropped_and_restored_is_whole_and_its_audit_chain_verifies(
        own_database: tuple[str, Callable[[], None]], tmp_path: Path) -> None:
    """Demo data, uploads and rendered PDFs -> `flask backup` (pg_dump) -> DROP DATABASE,
    CREATE DATABASE, the instance folder deleted -> `flask restore` (pg_restore) ->
    `flask audit verify`; every row and every stored file is back."""
    url, drop_and_create = own_database
    run_scenario(tmp_path, url, lose_database=drop_and_create)
