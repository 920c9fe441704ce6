"""Server-side sessions on PostgreSQL: a page view moves the session's "last seen" on a
connection of its own (never waiting on itself), a form post in its own transaction;
logout and 强制下线 end the session whatever cookie is replayed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import IsolatedClient, client_for, csrf_of
from tests.factories import PASSWORD, UserFactory
from workflow.accounts.models import UserSession
from workflow.core.models import db, utcnow

pytestmark = pytest.mark.integration


def last_seen() -> object:
    with db.engine.connect() as conn:
        return conn.scalar(sa.select(UserSession.last_seen_at))


def age_the_session(minutes: int) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.update(UserSession).values(
            last_seen_at=utcnow() - timedelta(minutes=minutes)))


def test_reading_and_writing_requests_move_last_seen_and_logout_ends_it(app: Flask) -> None:
    UserFactory(username="li", roles=("applicant",))
    db.session.commit()
    browser = client_for(app, "li", PASSWORD)
    cookie = browser.get_cookie("kjflow_session").value

    age_the_session(5)
    before = last_seen()
    assert browser.get("/").status_code == 200  # a reading request
    moved = last_seen()
    assert moved > before and utcnow() - moved < timedelta(minutes=1)

    age_the_session(5)
    page = browser.get("/preferences").get_data(as_text=True)
    age_the_session(5)
    resp = browser.post("/preferences", data={"csrf_token": csrf_of(page)})  # a writing one
    assert resp.status_code == 302
    assert utcnow() - last_seen() < timedelta(minutes=1)

    token = csrf_of(browser.get("/").get_data(as_text=True))
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    app.test_client_class = IsolatedClient
    replay = app.test_client()
    replay.set_cookie("kjflow_session", cookie)
    assert replay.get("/").status_code == 302


def test_wrong_codes_are_counted_on_postgresql_though_the_request_fails(app: Flask) -> None:
    import time

    import pyotp

    from workflow.accounts import second_factor
    from workflow.accounts.models import SecondFactor, User

    user = UserFactory(username="li", roles=("applicant",))
    db.session.commit()
    secret = second_factor.new_secret()
    second_factor.enable(db.session.get_one(User, user.id), secret, pyotp.TOTP(secret).now())
    db.session.commit()

    app.test_client_class = IsolatedClient
    client = app.test_client()
    for _ in range(2):
        resp = client.post("/api/v1/auth/token", json={"username": "li", "password": PASSWORD,
                                                       "otp": "000000"})
        assert resp.status_code == 401
    with db.engine.connect() as conn:
        assert conn.scalar(sa.select(SecondFactor.failures)) == 2
    resp = client.post("/api/v1/auth/token", json={
        "username": "li", "password": PASSWORD, "otp": pyotp.TOTP(secret).at(time.time() + 30)})
    assert resp.status_code == 200
    token = resp.get_json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 200
    with db.engine.connect() as conn:
        assert conn.scalar(sa.select(SecondFactor.failures)) == 0
