"""One unit of work per request on PostgreSQL (workflow/core/uow.py): a save that loses a
race with another session is refused at commit with 409, and a request that fails after
its keep point commits what it kept even when PostgreSQL has aborted its transaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request

from states import CallState
from tests.conftest import IsolatedClient, clear_tables, client_for, csrf_of
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.integration.conftest import dispose_app, make_app
from workflow.accounts.models import Organization
from workflow.applying import operations as applying
from workflow.applying.models import Application
from workflow.core import outbox, uow
from workflow.core.models import OutboxEvent, db

pytestmark = pytest.mark.integration


def committed(statement: Any) -> Any:
    with db.engine.connect() as conn:
        return conn.scalar(statement)


def test_a_save_that_loses_a_race_is_409_at_commit_and_keeps_nothing(app, monkeypatch):
    sent: list[Any] = []
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: sent.append(kwargs)
    applicant = UserFactory(username="li", roles=("applicant",))
    row = ApplicationFactory(applicant=applicant, call=CallFactory(state=CallState.published))
    db.session.commit()

    def save_after_another_window(actor: Any, app_row: Application, *args: Any) -> Application:
        # Another session saves and commits the same draft between our read and our write.
        with db.engine.begin() as other:
            other.execute(sa.text("UPDATE application SET version = version + 1, "
                                  "title = '另一个窗口' WHERE id = :id"), {"id": app_row.id})
        app_row.title = "这一次的标题"
        outbox.emit("application.saved", "application", app_row.id)
        return app_row

    li = client_for(app, "li", PASSWORD)
    token = csrf_of(li.get(f"/applications/{row.id}/edit").get_data(as_text=True))
    monkeypatch.setattr(applying, "save_draft", save_after_another_window)
    resp = li.post(f"/applications/{row.id}/autosave", data={"csrf_token": token})
    assert resp.status_code == 409
    assert "内容已被他人（或另一个窗口）修改" in resp.get_data(as_text=True)
    assert committed(sa.select(Application.title).where(Application.id == row.id)) == "另一个窗口"
    assert committed(sa.select(sa.func.count()).select_from(OutboxEvent)) == 0
    assert sent == []


def keep_then_fail() -> Any:
    OrganizationFactory(name="kept")
    uow.keep()
    after = OrganizationFactory(name="after-keep")
    outbox.emit("organization.test", "organization", after.id)
    if request.args["error"] == "flush":  # the flush fails: SQLAlchemy undoes the savepoint
        db.session.add(Organization(name="twin", uscc=after.uscc, kind=after.kind))
        db.session.flush()
    else:  # a statement fails: PostgreSQL aborts the transaction, the savepoint still open
        db.session.execute(sa.text("SELECT 1 / 0"))
    return "not reached"


@pytest.fixture
def later(integration_app: Flask, _postgres: str, redis_url: str,
          instance_dir: Path) -> Iterator[tuple[Flask, list[Any]]]:
    app = make_app(instance_dir, _postgres, redis_url, WTF_CSRF_ENABLED=False)
    integration_app.extensions["celery"].set_default()
    app.add_url_rule("/later", "later", keep_then_fail, methods=["POST"])
    app.test_client_class = IsolatedClient
    sent: list[Any] = []
    app.extensions["kjflow.outbox_sender"] = lambda name, kwargs: sent.append(kwargs)
    with app.app_context():
        try:
            yield app, sent
        finally:
            db.session.remove()
            clear_tables()
    dispose_app(app)


@pytest.mark.parametrize(("error", "status"), [("flush", 409), ("statement", 422)])
def test_a_request_failing_after_its_keep_point_commits_what_it_kept(
        later: tuple[Flask, list[Any]], error: str, status: int) -> None:
    app, sent = later
    resp = app.test_client().post(f"/later?error={error}")
    assert resp.status_code == status
    names = committed(sa.select(sa.func.array_agg(Organization.name)))
    assert names == ["kept"]
    assert committed(sa.select(sa.func.count()).select_from(OutboxEvent)) == 0
    assert sent == []
