from datetime import UTC, datetime

from tests.conftest import login
from tests.factories import PASSWORD, UserFactory
from workflow.accounts.models import LoginAttempt
from workflow.core.models import db


def test_login_page_is_in_chinese(client):
    page = client.get("/login")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "用户登录" in body and 'lang="zh-CN"' in body


def test_wrong_password_shows_a_chinese_message_and_no_session(client):
    UserFactory(username="li")
    db.session.commit()
    resp = login(client, "li", "not-the-password")
    assert resp.status_code == 401
    assert "用户名或密码错误" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_unknown_user_gets_the_same_message(client):
    resp = login(client, "nobody", "whatever-password")
    assert resp.status_code == 401
    assert "用户名或密码错误" in resp.get_data(as_text=True)


def test_login_leads_to_the_role_home_page(client):
    UserFactory(username="li", name="李明", roles=("applicant",))
    db.session.commit()
    resp = login(client, "li", PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    home = client.get("/").get_data(as_text=True)
    assert "工作台" in home and "李明" in home and 'data-role="applicant"' in home


def test_session_cookie_is_httponly_and_lax(client):
    UserFactory(username="li")
    db.session.commit()
    resp = login(client, "li", PASSWORD)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_form_without_csrf_token_is_refused(client):
    UserFactory(username="li")
    db.session.commit()
    resp = client.post("/login", data={"username": "li", "password": PASSWORD})
    assert resp.status_code == 400
    assert "表单已过期" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_failed_logins_are_recorded_and_throttled(client):
    UserFactory(username="li")
    db.session.commit()
    for _ in range(5):
        assert login(client, "li", "wrong-password-x").status_code == 401
    # From the same address even the right password waits (a second after the fifth
    # failure, longer after each further one: tests/unit/workflow/test_throttle.py).
    resp = login(client, "li", PASSWORD)
    assert resp.status_code == 429
    assert "登录失败次数过多" in resp.get_data(as_text=True)
    failures = db.session.scalars(db.select(LoginAttempt).where(LoginAttempt.success.is_(False)))
    assert len(list(failures)) == 5


def test_next_parameter_never_leaves_the_site(client):
    UserFactory(username="li")
    db.session.commit()
    page = client.get("/login?next=//evil.example/")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]
    resp = client.post("/login?next=//evil.example/", data={
        "username": "li", "password": PASSWORD, "csrf_token": token.split('"')[0]})
    assert resp.headers["Location"] == "/"


def test_logout_ends_the_session(client):
    UserFactory(username="li")
    db.session.commit()
    login(client, "li", PASSWORD)
    home = client.get("/").get_data(as_text=True)
    token = home.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_absolute_session_timeout_logs_out(client, app):
    UserFactory(username="li")
    db.session.commit()
    login(client, "li", PASSWORD)
    with client.session_transaction() as sess:
        sess["login_at"] = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    resp = client.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_idle_timeout_is_configured_on_a_permanent_session(app):
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 30 * 60
    assert app.config["SESSION_PROTECTION"] == "strong"


def test_each_role_sees_its_own_section(client):
    UserFactory(username="multi", roles=("officer", "auditor"))
    db.session.commit()
    login(client, "multi", PASSWORD)
    home = client.get("/").get_data(as_text=True)
    assert 'data-role="officer"' in home and 'data-role="auditor"' in home
    assert 'data-role="applicant"' not in home


def test_unknown_page_is_a_chinese_404(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404 and "页面不存在" in resp.get_data(as_text=True)
