"""Fixtures shared by every tier."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, has_app_context
from flask.testing import FlaskClient

from tests.signing_ca import signing_config
from workflow import create_app
from workflow.core.models import db


def build_app(instance: Path, database_url: str, **extra: Any) -> Flask:
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PUBLIC_BASE_URL": "http://testserver",
        # Issued documents are signed by a throwaway CA's certificate (tests/signing_ca.py).
        **signing_config(),
    }
    config.update(extra)
    return create_app(config)


def clear_tables() -> None:
    """Empty every table: each test starts on a clean database, with the holiday
    calendar of the years the pinned chinese-calendar knows (as the migrations write
    it); a test that needs another year enters it, as an administrator would."""
    engine = db.engine
    tables = list(reversed(db.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(t.delete())
    seed_calendar()


def seed_calendar() -> None:
    from workflow.holidays.operations import seed_from_package

    seed_from_package()
    db.session.commit()


def calendar_known_ahead(days: int = 60) -> list[int]:
    """For a test that opens a period (a 公示) at the real time and is not about the
    calendar: each year the next ``days`` reach and the calendar does not know is entered
    with its New Year's Day only, as an administrator would enter a year, so that the test
    does not depend on the date it runs on (the pinned chinese-calendar ends with 2026).
    Returns the years entered."""
    from datetime import date, timedelta

    from workflow.holidays.calendar import year_known
    from workflow.holidays.models import CalendarDay, HolidayYear
    from workflow.holidays.operations import today

    first = today()
    entered = [y for y in range(first.year, (first + timedelta(days=days)).year + 1)
               if not year_known(y)]
    for year in entered:
        db.session.add(HolidayYear(year=year, source="admin", note="测试：仅元旦"))
        db.session.flush()
        db.session.add(CalendarDay(day=date(year, 1, 1), year=year, is_working_day=False,
                                   name="元旦"))
    db.session.commit()
    return entered


class Sent(list[tuple[str, dict[str, Any]]]):
    """What the outbox asked the broker to send, in order."""


@pytest.fixture
def sent(app: Flask) -> Sent:
    box = Sent()
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: box.append((name, kwargs))
    return box


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in a fresh context, as on a real server.

    The tests hold an app context open for factories and queries; without this a
    request would reuse it, and with it ``g`` (cached CSRF token, current user) and
    the database session, which a real request never shares.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        # The test's own transaction ends first: what it wrote is committed, and what it
        # reads afterwards is read in a new transaction that sees the request's writes.
        if has_app_context():
            db.session.commit()
        response = contextvars.Context().run(super().open, *args, **kwargs)
        # The unit tier checks every API answer against /api/openapi.json
        # (tests/openapi_check.py).
        contract = self.application.extensions.get("kjflow.contract")
        request = getattr(response, "request", None)
        if contract is not None and request is not None and request.path.startswith("/api/"):
            contract.check(request.method, request.path, response)
        return response


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()


def login(client: FlaskClient, username: str, password: str) -> Any:
    """Log in through the real form, CSRF token included."""
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]
    token = token.split('"')[0]
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def client_for(app: Flask, username: str, password: str) -> FlaskClient:
    """A client of its own, logged in as ``username`` (one per person in a test)."""
    app.test_client_class = IsolatedClient
    client = app.test_client()
    assert login(client, username, password).status_code == 302
    return client


def api_token(client: FlaskClient, username: str, password: str) -> str:
    resp = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.get_json()
    token: str = resp.get_json()["token"]
    return token


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def run_jobs() -> list[int]:
    """What the worker does with the jobs started so far: hand each undelivered
    ``job.started`` event to the ``run_job`` consumer (the unit tier sends nothing to a
    broker). Returns the jobs' ids."""
    from workflow.core import jobs, outbox
    from workflow.core.models import OutboxDelivery, OutboxEvent

    db.session.commit()
    events = list(db.session.execute(sa.select(OutboxEvent.id, OutboxEvent.entity_id).where(
        OutboxEvent.topic == jobs.TOPIC, ~sa.exists().where(
            OutboxDelivery.event_id == OutboxEvent.id,
            OutboxDelivery.consumer == jobs.CONSUMER)).order_by(OutboxEvent.id)))
    for event_id, _job_id in events:
        outbox.consume(event_id, jobs.CONSUMER)
    db.session.expire_all()
    return [job_id for _event_id, job_id in events]


def job_of(location: str) -> int:
    """The job a page was sent back with (``...?job=<id>``)."""
    from urllib.parse import parse_qs, urlsplit

    return int(parse_qs(urlsplit(location).query)["job"][0])
