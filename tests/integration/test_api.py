"""The JSON API on PostgreSQL: tokens, the current user, the one error shape."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import api_token
from tests.factories import PASSWORD, make_uscc
from workflow.accounts import operations as accounts
from workflow.accounts.models import LoginAttempt, User
from workflow.core.models import db

pytestmark = pytest.mark.integration


@pytest.fixture
def user(app: Flask) -> User:
    org = accounts.create_organization("江西理工测试大学", make_uscc(42), "university")
    user = accounts.create_user("li.ming", PASSWORD, ["applicant"], name="李明",
                                email="li.ming@example.cn", organization=org)
    db.session.commit()
    return user


def error_of(resp: Any) -> dict[str, Any]:
    body = resp.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    error: dict[str, Any] = body["error"]
    return error


def test_token_then_me_returns_the_user(client: FlaskClient, user: User) -> None:
    token = api_token(client, "li.ming", PASSWORD)
    resp = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    org = user.organization
    assert org is not None
    assert resp.get_json() == {
        "id": user.id,
        "username": "li.ming",
        "name": "李明",
        "email": "li.ming@example.cn",
        "roles": ["applicant"],
        "organization": {"id": org.id, "name": "江西理工测试大学",
                         "uscc": make_uscc(42), "kind": "university"},
    }


def test_a_wrong_password_is_401_in_the_error_shape(client: FlaskClient, user: User) -> None:
    resp = client.post("/api/v1/auth/token",
                       json={"username": "li.ming", "password": "not-the-password"})
    assert resp.status_code == 401
    assert resp.is_json
    error = error_of(resp)
    assert error["code"] == "unauthenticated"
    assert error["message"] == "用户名或密码错误"
    assert error["details"] is None
    # The failure is recorded (it counts towards the lock-out).
    db.session.rollback()
    attempts = db.session.execute(
        sa.select(LoginAttempt.username, LoginAttempt.success, LoginAttempt.channel)).all()
    assert attempts == [("li.ming", False, "api")]


def test_me_without_a_valid_token_is_401(client: FlaskClient, user: User) -> None:
    assert error_of(client.get("/api/v1/me"))["code"] == "unauthenticated"
    resp = client.get("/api/v1/me", headers={"Authorization": "Bearer forged.token"})
    assert resp.status_code == 401
    assert error_of(resp)["code"] == "unauthenticated"


def test_logins_are_throttled_per_account_and_address_on_postgresql(client: FlaskClient,
                                                                    user: User) -> None:
    def attempt(password: str, address: str) -> Any:
        return client.post("/api/v1/auth/token",
                           json={"username": "li.ming", "password": password},
                           environ_overrides={"REMOTE_ADDR": address})

    for _ in range(5):
        assert attempt("guess-password", "10.6.6.6").status_code == 401
    refused = attempt(PASSWORD, "10.6.6.6")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert error_of(refused)["message"] == "登录失败次数过多，请1秒后再试"
    assert attempt(PASSWORD, "10.1.1.1").status_code == 200  # another address: not locked
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 6


def test_verification_lookups_are_counted_per_address_on_postgresql(client: FlaskClient,
                                                                    app: Flask) -> None:
    app.config["VERIFY_PER_MINUTE"] = 2
    try:
        for _ in range(2):
            assert client.get("/api/v1/verify/K7Q2MX9DF4HTB3NR").status_code == 404
        resp = client.get("/api/v1/verify/K7Q2MX9DF4HTB3NR")
        assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 50
        assert error_of(resp)["code"] == "throttled"
    finally:
        app.config["VERIFY_PER_MINUTE"] = 60
