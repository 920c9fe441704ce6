"""Unit tier: embedded SQLite, schema created once, every table emptied after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import build_app, clear_tables, seed_calendar
from tests.openapi_check import Contract
from workflow.core.models import db

pytestmark = pytest.mark.unit


@pytest.fixture(scope="session")
def _unit_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    instance: Path = tmp_path_factory.mktemp("instance")
    app = build_app(instance, f"sqlite:///{instance / 'unit.sqlite'}")
    with app.app_context():
        db.create_all()
        seed_calendar()
    app.extensions["kjflow.contract"] = Contract(app)
    return app


@pytest.fixture
def app(_unit_app: Flask, request: pytest.FixtureRequest) -> Iterator[Flask]:
    _unit_app.extensions.pop("kjflow.outbox_sender", None)
    # Nothing leaves for a broker in the unit tier unless a test captures it.
    _unit_app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: None
    contract: Contract = _unit_app.extensions["kjflow.contract"]
    contract.violations.clear()
    with _unit_app.app_context():
        yield _unit_app
        db.session.remove()
        clear_tables()
    # Every answer the API gave in the test is the one its document describes (but where
    # the test broke the app on purpose).
    if request.node.get_closest_marker("injected_fault"):
        return
    assert not contract.violations, ("the API answered what /api/openapi.json does not "
                                     "document:\n" + "\n".join(contract.violations))
