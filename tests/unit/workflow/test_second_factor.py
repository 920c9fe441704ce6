"""The second factor (两步验证, TOTP): enrolment by a QR code made here, the code asked
after the password, ten single-use recovery codes, wrong codes rate-limited per account,
required of officers (not researchers) in production, and audited."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from tests import signing_ca
from tests.conftest import IsolatedClient, api_token, client_for, login
from tests.factories import PASSWORD, UserFactory
from workflow import config
from workflow.accounts import second_factor
from workflow.accounts.models import RecoveryCode, SecondFactor
from workflow.core import audit
from workflow.core.models import db, utcnow


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)[1]


def new_client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def code(secret: str, ahead: int = 30) -> str:
    """The authenticator's code a step ahead (the one just shown may have been used)."""
    return pyotp.TOTP(secret).at(time.time() + ahead)


def enrol(client) -> tuple[str, list[str]]:
    """Enrol on the page as a person would: read the secret, type the app's code."""
    page = client.get("/account/second-factor").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # the QR code, made here
    secret = re.search(r'data-testid="totp-secret"[^>]*>([A-Z2-7 ]+)<', page)[1]
    secret = secret.replace(" ", "")
    resp = client.post("/account/second-factor", data={
        "code": pyotp.TOTP(secret).now(), "csrf_token": csrf(page)})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert "两步验证已启用" in resp.get_data(as_text=True)
    codes = re.findall(r'<code class="fs-6 text-body">([a-z0-9-]{14})</code>',
                       resp.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


def second_step(client, value: str):
    page = client.get("/login/code")
    assert page.status_code == 200, page.headers.get("Location")
    return client.post("/login/code", data={"code": value,
                                            "csrf_token": csrf(page.get_data(as_text=True))})


def later(monkeypatch, minutes: float) -> None:
    """The second factor's clock, ``minutes`` on."""
    moved = utcnow() + timedelta(minutes=minutes)
    monkeypatch.setattr(second_factor, "utcnow", lambda: moved)


@pytest.fixture
def li(app):
    user = UserFactory(username="li", roles=("applicant",))
    db.session.commit()
    return user


def test_enrolment_then_the_login_asks_for_the_code(app, li):
    browser, elsewhere = client_for(app, "li", PASSWORD), client_for(app, "li", PASSWORD)
    page = browser.get("/account").get_data(as_text=True)
    assert "未启用" in page and 'href="/account/second-factor"' in page
    # A wrong code enrols nothing.
    setup = browser.get("/account/second-factor").get_data(as_text=True)
    resp = browser.post("/account/second-factor", data={"code": "000000",
                                                        "csrf_token": csrf(setup)})
    assert resp.status_code == 422 and "验证码不正确" in resp.get_data(as_text=True)
    assert not second_factor.enabled(li)

    secret, codes = enrol(browser)
    assert signed_in(browser) and not signed_in(elsewhere)  # the others' sessions ended
    factor = db.session.get(SecondFactor, li.id)
    assert factor.secret == secret
    hashes = set(db.session.scalars(sa.select(RecoveryCode.code_hash)))
    assert len(hashes) == 10 and not any(c.replace("-", "") in hashes for c in codes)
    assert [e.trigger for e in audit.history("user", li.id)] == ["second_factor_enabled"]

    # The password alone signs nobody in now.
    fresh = new_client(app)
    resp = login(fresh, "li", PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"] == "/login/code"
    assert not signed_in(fresh)
    assert "两步验证" in fresh.get("/login/code").get_data(as_text=True)
    resp = second_step(fresh, "123456")
    assert resp.status_code == 401 and "验证码不正确" in resp.get_data(as_text=True)
    assert not signed_in(fresh)
    resp = second_step(fresh, code(secret))
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert signed_in(fresh)
    assert audit.verify() == []


def test_a_code_is_good_once(app, li):
    secret, _ = enrol(client_for(app, "li", PASSWORD))
    once = code(secret)
    first = new_client(app)
    login(first, "li", PASSWORD)
    assert second_step(first, once).status_code == 302
    replay = new_client(app)
    login(replay, "li", PASSWORD)
    assert second_step(replay, once).status_code == 401


def test_a_recovery_code_works_once(app, li):
    _, codes = enrol(client_for(app, "li", PASSWORD))
    browser = new_client(app)
    login(browser, "li", PASSWORD)
    resp = second_step(browser, codes[3].upper().replace("-", " "))  # as typed, more or less
    assert resp.status_code == 302
    assert "已使用一个恢复码登录，还剩 9 个" in browser.get("/").get_data(as_text=True)
    event = audit.history("user", li.id)[-1]
    assert (event.trigger, event.data) == ("recovery_code_used", {"remaining": 9})

    again = new_client(app)
    login(again, "li", PASSWORD)
    assert second_step(again, codes[3]).status_code == 401
    assert second_step(again, codes[4]).status_code == 302


def test_wrong_codes_make_the_account_wait(app, li, monkeypatch):
    secret, _ = enrol(client_for(app, "li", PASSWORD))
    browser = new_client(app)
    login(browser, "li", PASSWORD)
    for _ in range(5):
        assert second_step(browser, "000000").status_code == 401
    resp = second_step(browser, code(secret))  # even the right one, for now
    assert resp.status_code == 429
    assert "验证码错误次数过多，请15分钟后再试" in resp.get_data(as_text=True)
    # Per account: a new login, from another browser, waits all the same.
    other = new_client(app)
    login(other, "li", PASSWORD)
    assert second_step(other, code(secret)).status_code == 429
    # The API too.
    resp = new_client(app).post("/api/v1/auth/token", json={
        "username": "li", "password": PASSWORD, "otp": code(secret)})
    assert resp.status_code == 429

    later(monkeypatch, 16)
    login(other, "li", PASSWORD)
    assert second_step(other, pyotp.TOTP(secret).at(time.time() + 16 * 60)).status_code == 302


def test_the_api_asks_for_the_code_too(app, li):
    secret, codes = enrol(client_for(app, "li", PASSWORD))
    client = new_client(app)
    resp = client.post("/api/v1/auth/token", json={"username": "li", "password": PASSWORD})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "otp_required"
    resp = client.post("/api/v1/auth/token", json={"username": "li", "password": PASSWORD,
                                                   "otp": "000000"})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "otp_invalid"
    resp = client.post("/api/v1/auth/token", json={"username": "li", "password": PASSWORD,
                                                   "otp": code(secret)})
    assert resp.status_code == 200
    token = resp.get_json()["token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 200
    resp = client.post("/api/v1/auth/token", json={"username": "li", "password": PASSWORD,
                                                   "otp": codes[0]})
    assert resp.status_code == 200


def test_production_requires_enrolment_of_officers_but_not_researchers(app, li, monkeypatch):
    monkeypatch.setitem(app.config, "SECOND_FACTOR_REQUIRED", True)
    UserFactory(username="boss", roles=("officer",), organization=None)
    db.session.commit()

    researcher = client_for(app, "li", PASSWORD)
    assert signed_in(researcher)
    assert api_token(new_client(app), "li", PASSWORD)

    officer = new_client(app)
    assert login(officer, "boss", PASSWORD).status_code == 302
    for path in ("/", "/applications", "/account"):
        resp = officer.get(path)
        assert resp.status_code == 302 and resp.headers["Location"] == "/account/second-factor"
    assert "您的角色须使用两步验证" in officer.get("/account/second-factor").get_data(as_text=True)
    resp = new_client(app).post("/api/v1/auth/token", json={"username": "boss",
                                                            "password": PASSWORD})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == \
        "second_factor_required"

    enrol(officer)
    assert signed_in(officer)
    page = officer.get("/account").get_data(as_text=True)
    assert "不能关闭" in page and "/account/second-factor/disable" not in page


def test_production_means_required(monkeypatch, tmp_path):
    monkeypatch.delenv("KJFLOW_REQUIRE_SECOND_FACTOR", raising=False)
    monkeypatch.setenv("KJFLOW_ENV", "development")
    assert config.load(tmp_path)["SECOND_FACTOR_REQUIRED"] is False
    monkeypatch.setenv("KJFLOW_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    # Production also needs the bureau's signing certificate (test_signing.py).
    monkeypatch.setenv("KJFLOW_SIGNING_PKCS12", str(signing_ca.bureau().pkcs12))
    monkeypatch.setenv("KJFLOW_SIGNING_PASSWORD", signing_ca.PASSWORD)
    assert config.load(tmp_path)["SECOND_FACTOR_REQUIRED"] is True


def test_the_person_turns_it_off_with_their_password(app, li):
    browser = client_for(app, "li", PASSWORD)
    enrol(browser)
    page = browser.get("/account").get_data(as_text=True)
    resp = browser.post("/account/second-factor/disable",
                        data={"password": "not-my-password", "csrf_token": csrf(page)})
    assert resp.status_code == 422 and "密码不正确" in resp.get_data(as_text=True)
    assert second_factor.enabled(li)
    resp = browser.post("/account/second-factor/disable",
                        data={"password": PASSWORD, "csrf_token": csrf(page)})
    assert resp.status_code == 302
    assert not second_factor.enabled(li)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0
    assert [e.trigger for e in audit.history("user", li.id)] == [
        "second_factor_enabled", "second_factor_disabled"]


def test_an_administrator_resets_a_lost_second_factor(app, li, monkeypatch):
    admin = UserFactory(username="root", roles=("admin",), organization=None)
    db.session.commit()
    holder = client_for(app, "li", PASSWORD)
    enrol(holder)
    root = client_for(app, "root", PASSWORD)
    page = root.get(f"/users/{li.id}").get_data(as_text=True)
    assert "重置两步验证" in page
    resp = root.post(f"/users/{li.id}/reset-second-factor", data={"csrf_token": csrf(page)})
    assert resp.status_code == 302
    assert not second_factor.enabled(li) and not signed_in(holder)
    event = audit.history("user", li.id)[-1]
    assert (event.trigger, event.actor_id) == ("second_factor_reset", admin.id)
    # The password alone signs in again (a researcher need not have one).
    assert login(new_client(app), "li", PASSWORD).headers["Location"] == "/"
