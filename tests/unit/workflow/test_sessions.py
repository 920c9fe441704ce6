"""Logout ends something: web sessions and API tokens live on the server, and end at
logout, at a password change, by ``DELETE /api/v1/auth/token`` and by an administrator's
强制下线; a password is changed on a page or by the API, and an administrator's reset
forces a change at the next login."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import sqlalchemy as sa
from werkzeug.security import check_password_hash

from tests.conftest import IsolatedClient, api_token, client_for, login
from tests.factories import PASSWORD, UserFactory
from workflow.accounts.models import ApiToken, User, UserSession
from workflow.core import audit
from workflow.core.models import AuditEvent, db, utcnow

NEW_PASSWORD = "a-fresh-long-passphrase"
COOKIE = "kjflow_session"


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def post(client, path: str, data: dict | None = None, page: str = "/"):
    """Submit a form at ``path`` with the CSRF token of ``page``."""
    token = csrf(client.get(page).get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def new_client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


def password_hash(user_id: int) -> str:
    db.session.expire_all()
    return db.session.get(User, user_id).password_hash


# ---- sessions ----------------------------------------------------------------------------

def test_a_saved_session_cookie_is_refused_after_logout(app):
    UserFactory(username="li")
    db.session.commit()
    browser = client_for(app, "li", PASSWORD)
    saved = browser.get_cookie(COOKIE).value
    assert post(browser, "/logout").status_code == 302
    assert not signed_in(browser)

    # Someone who kept a copy of the cookie (a shared computer, a stolen cookie) replays it.
    thief = new_client(app)
    thief.set_cookie(COOKIE, saved)
    resp = thief.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    row = db.session.scalars(sa.select(UserSession)).one()
    assert row.revoked_at is not None and row.revoked_reason == "logout"


def test_the_session_row_keeps_only_a_hash_of_the_cookies_secret(app):
    UserFactory(username="li")
    db.session.commit()
    browser = client_for(app, "li", PASSWORD)
    row = db.session.scalars(sa.select(UserSession)).one()
    assert row.ip == "127.0.0.1" and len(row.secret_hash) == 64
    # A cookie naming the row with another secret signs nobody in.
    with browser.session_transaction() as sess:
        sess["kjflow_sid"] = f"{row.id}.not-the-secret"
    assert not signed_in(browser)


def test_a_session_ends_after_the_idle_and_the_absolute_limits(app):
    UserFactory(username="li")
    db.session.commit()
    browser = client_for(app, "li", PASSWORD)
    row = db.session.scalars(sa.select(UserSession)).one()
    row.last_seen_at = utcnow() - timedelta(minutes=31)
    db.session.commit()
    assert not signed_in(browser)

    browser = client_for(app, "li", PASSWORD)
    row = db.session.scalars(sa.select(UserSession).order_by(UserSession.id.desc())).first()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert not signed_in(browser)


def test_a_password_change_ends_the_persons_other_sessions_and_tokens(app):
    user = UserFactory(username="li")
    db.session.commit()
    here, elsewhere = client_for(app, "li", PASSWORD), client_for(app, "li", PASSWORD)
    token = api_token(new_client(app), "li", PASSWORD)
    resp = post(here, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD}, page="/account/password")
    assert resp.status_code == 302
    assert "已失效" in here.get(resp.headers["Location"]).get_data(as_text=True)
    assert signed_in(here)  # where it was changed from
    assert not signed_in(elsewhere)
    assert new_client(app).get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert check_password_hash(password_hash(user.id), NEW_PASSWORD)
    assert login(new_client(app), "li", NEW_PASSWORD).status_code == 302
    assert [e.trigger for e in audit.history("user", user.id)] == ["password_changed"]


def test_a_wrong_current_password_changes_nothing_and_says_so_in_chinese(app):
    user = UserFactory(username="li")
    db.session.commit()
    before = password_hash(user.id)
    browser, elsewhere = client_for(app, "li", PASSWORD), client_for(app, "li", PASSWORD)
    resp = post(browser, "/account/password", {
        "current_password": "not-my-password", "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD}, page="/account/password")
    assert resp.status_code == 422
    assert "当前密码不正确" in resp.get_data(as_text=True)
    assert password_hash(user.id) == before
    assert signed_in(elsewhere)  # no session ended either

    # A new password the rules refuse: said beside the field, nothing changed.
    resp = post(browser, "/account/password", {
        "current_password": PASSWORD, "new_password": "li-and-a-long-passphrase",
        "confirm_password": "li-and-a-long-passphrase"}, page="/account/password")
    assert resp.status_code == 422 and "密码不能包含用户名" in resp.get_data(as_text=True)
    assert password_hash(user.id) == before


def test_the_password_api_needs_the_current_password(app, client):
    user = UserFactory(username="li")
    db.session.commit()
    before = password_hash(user.id)
    token = api_token(client, "li", PASSWORD)
    other = api_token(new_client(app), "li", PASSWORD)
    resp = client.post("/api/v1/me/password", headers=bearer(token),
                       json={"current_password": "wrong-password-1", "new_password": NEW_PASSWORD})
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert "当前密码不正确" in error["message"] and "current_password" in error["details"]
    assert password_hash(user.id) == before

    resp = client.post("/api/v1/me/password", headers=bearer(token),
                       json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert resp.status_code == 200
    assert check_password_hash(password_hash(user.id), NEW_PASSWORD)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200  # this one
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 401  # not others


# ---- tokens ------------------------------------------------------------------------------

def test_a_token_is_stored_hashed_and_ends_with_delete(client):
    UserFactory(username="li")
    db.session.commit()
    token = api_token(client, "li", PASSWORD)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    row = db.session.scalars(sa.select(ApiToken)).one()
    assert token not in row.token_hash and len(row.token_hash) == 64
    listed = client.get("/api/v1/auth/tokens", headers=bearer(token)).get_json()["items"]
    assert [(t["id"], t["current"]) for t in listed] == [(row.id, True)]

    assert client.delete("/api/v1/auth/token", headers=bearer(token)).status_code == 204
    resp = client.get("/api/v1/me", headers=bearer(token))
    assert resp.status_code == 401 and resp.get_json()["error"]["message"] == "令牌无效"


def test_an_expired_token_is_refused(client):
    UserFactory(username="li")
    db.session.commit()
    token = api_token(client, "li", PASSWORD)
    row = db.session.scalars(sa.select(ApiToken)).one()
    assert row.expires_at - row.created_at == timedelta(hours=8)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    resp = client.get("/api/v1/me", headers=bearer(token))
    assert resp.status_code == 401
    assert resp.get_json()["error"]["message"] == "令牌已过期，请重新获取"


# ---- the administrator -------------------------------------------------------------------

def test_an_administrator_signs_a_person_out_everywhere(app):
    user = UserFactory(username="li", name="李明")
    admin = UserFactory(username="root", roles=("admin",), organization=None)
    db.session.commit()
    browsers = [client_for(app, "li", PASSWORD) for _ in range(2)]
    token = api_token(new_client(app), "li", PASSWORD)
    root = client_for(app, "root", PASSWORD)
    page = root.get(f"/users/{user.id}").get_data(as_text=True)
    assert "网页登录 2 处，API 令牌 1 个" in page

    resp = post(root, f"/users/{user.id}/sign-out", page=f"/users/{user.id}")
    assert resp.status_code == 302
    assert "已强制 李明 下线：结束 2 处登录，作废 1 个 API 令牌" in root.get(
        resp.headers["Location"]).get_data(as_text=True)
    assert not any(signed_in(b) for b in browsers)
    assert new_client(app).get("/api/v1/me", headers=bearer(token)).status_code == 401
    (event,) = audit.history("user", user.id)
    assert (event.trigger, event.actor_id, event.data) == (
        "signed_out_everywhere", admin.id, {"sessions": 2, "tokens": 1})
    assert audit.verify() == []


def test_only_an_administrator_may_sign_others_out_or_reset_them(app):
    user = UserFactory(username="li")
    UserFactory(username="boss", roles=("officer",), organization=None)
    db.session.commit()
    officer = client_for(app, "boss", PASSWORD)
    assert officer.get("/users").status_code == 403
    assert post(officer, f"/users/{user.id}/sign-out").status_code == 403
    assert post(officer, f"/users/{user.id}/reset-password").status_code == 403
    token = api_token(new_client(app), "boss", PASSWORD)
    resp = new_client(app).post(f"/api/v1/users/{user.id}/sign-out", headers=bearer(token))
    assert resp.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_an_administrators_reset_forces_a_change_at_the_next_login(app):
    user = UserFactory(username="li", name="李明")
    UserFactory(username="root", roles=("admin",), organization=None)
    db.session.commit()
    before = client_for(app, "li", PASSWORD)
    root = client_for(app, "root", PASSWORD)
    page = post(root, f"/users/{user.id}/reset-password", page=f"/users/{user.id}")
    assert page.status_code == 200
    temporary = re.search(r'data-testid="temporary">([^<]+)<', page.get_data(as_text=True))[1]
    assert not signed_in(before)
    assert login(new_client(app), "li", PASSWORD).status_code == 401  # the old one is gone

    li = new_client(app)
    resp = login(li, "li", temporary)
    assert resp.status_code == 302
    # Every page leads to the change, until it is made.
    for path in ("/", "/applications", "/account"):
        resp = li.get(path)
        assert resp.status_code == 302 and resp.headers["Location"] == "/account/password"
    page = li.get("/account/password").get_data(as_text=True)
    assert "系统管理员已为您重置密码" in page
    # No API token either, until then.
    resp = new_client(app).post("/api/v1/auth/token",
                                json={"username": "li", "password": temporary})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == \
        "password_change_required"

    resp = post(li, "/account/password", {
        "current_password": temporary, "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD}, page="/account/password")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert signed_in(li)
    assert [e.trigger for e in audit.history("user", user.id)] == [
        "password_reset", "password_changed"]


def test_the_administrator_api_resets_a_password(app, client):
    user = UserFactory(username="li")
    UserFactory(username="root", roles=("admin",), organization=None)
    db.session.commit()
    token = api_token(client, "root", PASSWORD)
    resp = client.post(f"/api/v1/users/{user.id}/password-reset", headers=bearer(token))
    assert resp.status_code == 200
    temporary = resp.get_json()["temporary_password"]
    assert check_password_hash(password_hash(user.id), temporary)
    db.session.expire_all()
    assert db.session.get(User, user.id).must_change_password
    listed = client.get("/api/v1/users?q=li", headers=bearer(token)).get_json()
    assert [(u["username"], u["must_change_password"]) for u in listed["items"]] == [
        ("li", True)]


def test_the_account_page_lists_sessions_and_tokens_and_ends_the_others(app):
    UserFactory(username="li")
    db.session.commit()
    here, elsewhere = client_for(app, "li", PASSWORD), client_for(app, "li", PASSWORD)
    api_token(new_client(app), "li", PASSWORD)
    page = here.get("/account").get_data(as_text=True)
    assert "账户安全" in page and "本设备" in page and "退出其他设备" in page
    assert page.count("<tr>") == 1 + 2 + 1 + 1  # the two tables' heads, 2 sessions, 1 token
    resp = post(here, "/account/sessions/others", page="/account")
    assert resp.status_code == 302
    assert signed_in(here) and not signed_in(elsewhere)


def test_the_administrator_finds_people_on_the_users_page(app):
    UserFactory(username="li", name="李明", roles=("applicant",))
    UserFactory(username="wang", name="王芳", roles=("applicant",))
    UserFactory(username="root", roles=("admin",), organization=None)
    db.session.commit()
    root = client_for(app, "root", PASSWORD)
    page = root.get("/users?q=李明").get_data(as_text=True)
    assert "用户管理" in page and "共 <strong>1</strong> 条" in page
    assert ">li</a>" in page and "申报人" in page and "未启用" in page and "王芳" not in page
    assert 'href="/users"' in root.get("/").get_data(as_text=True)  # in the menu


def test_a_page_viewed_while_another_writer_holds_sqlites_lock_answers_at_once(app):
    """The "last seen" mark waits a moment for the write lock, not a writer's 30 s: the page
    answers, the mark waits for the next request, and the connection gets its patience
    back for its next writer."""
    assert db.engine.dialect.name == "sqlite"
    UserFactory(username="li")
    db.session.commit()
    browser = client_for(app, "li", PASSWORD)
    with db.engine.begin() as conn:
        conn.execute(sa.update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=5)))
    before = db.session.scalars(sa.select(UserSession.last_seen_at)).one()
    db.session.remove()

    answers: list[int] = []
    writer = db.engine.raw_connection()  # a job's transaction, holding the lock
    try:
        writer.execute("BEGIN IMMEDIATE")
        page = threading.Thread(target=lambda: answers.append(browser.get("/").status_code))
        page.start()
        page.join(10)
        assert answers == [200], "the page waited for the writer"
    finally:
        writer.rollback()
        writer.close()
        page.join()
    assert db.session.scalars(sa.select(UserSession.last_seen_at)).one() == before
    db.session.remove()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000

    assert signed_in(browser)  # the lock free, the next request makes the mark
    assert db.session.scalars(sa.select(UserSession.last_seen_at)).one() > before
