"""No lockout anyone can use against a person: logins are throttled per account and
address with growing delays, an address-wide ceiling only slows, the client's address is
read through the configured proxies only, and the public lookups (objections, document
verification) are limited per address with a Chinese message and ``Retry-After``."""

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState
from tests.conftest import IsolatedClient, build_app, clear_tables, login
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.accounts.models import LoginAttempt
from workflow.core.models import ThrottleHit, db, utcnow
from workflow.decisions import notices
from workflow.decisions.models import Objection

ATTACKER = "10.6.6.6"
VICTIM = "10.1.1.1"


def token(client, username, password, address):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password},
                       environ_overrides={"REMOTE_ADDR": address})


def failures(username, address, count, ago=timedelta(seconds=30)):
    """``count`` failed logins on ``username`` from ``address``, the latest ``ago``."""
    now = utcnow()
    for i in range(count):
        db.session.add(LoginAttempt(username=username, ip=address, success=False,
                                    channel="api", at=now - ago - timedelta(seconds=i)))
    db.session.commit()


@pytest.fixture
def li(app):
    UserFactory(username="li")
    db.session.commit()


# ---- logins: per account and address --------------------------------------------------

def test_the_right_password_from_a_fresh_address_works_while_an_attacker_hammers(client, li):
    for _ in range(5):
        assert token(client, "li", "guess-password-1", ATTACKER).status_code == 401
    for guess in ("guess-password-2", PASSWORD):  # the attacker waits, even when right
        resp = token(client, "li", guess, ATTACKER)
        assert resp.status_code == 429, resp.get_json()
    resp = token(client, "li", PASSWORD, VICTIM)
    assert resp.status_code == 200, resp.get_json()
    # A wrong password from another address is checked (401), not refused unchecked.
    assert token(client, "li", "typo-password", "10.2.2.2").status_code == 401


def test_the_wait_grows_is_capped_and_is_said_in_chinese(client, li, app):
    failures("li", ATTACKER, 5, ago=timedelta(seconds=30))
    # Five failures, the last 30 s ago: the 1 s wait is over, the sixth guess is checked.
    assert token(client, "li", "guess-password-6", ATTACKER).status_code == 401
    resp = token(client, "li", PASSWORD, ATTACKER)  # six failures: wait 2 s
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] in ("1", "2")
    assert resp.get_json()["error"]["message"] == \
        f"登录失败次数过多，请{resp.headers['Retry-After']}秒后再试"
    failures("li", ATTACKER, 30, ago=timedelta(seconds=0))
    resp = token(client, "li", PASSWORD, ATTACKER)
    assert int(resp.headers["Retry-After"]) == app.config["LOGIN_MAX_DELAY_SECONDS"] == 300
    assert "请5分钟后再试" in resp.get_json()["error"]["message"]
    # Refused attempts are not counted: hammering does not lengthen the wait.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 36


def test_the_wait_ends_and_the_right_password_is_taken_again(client, li):
    failures("li", ATTACKER, 7, ago=timedelta(seconds=5))  # 7 failures: a 4 s wait, over
    assert token(client, "li", PASSWORD, ATTACKER).status_code == 200


def test_a_success_starts_the_count_afresh(client, li):
    failures("li", VICTIM, 4, ago=timedelta(minutes=2))
    assert token(client, "li", PASSWORD, VICTIM).status_code == 200
    failures("li", VICTIM, 4, ago=timedelta(seconds=0))
    assert token(client, "li", PASSWORD, VICTIM).status_code == 200


def test_old_failures_are_forgotten(client, li):
    failures("li", ATTACKER, 50, ago=timedelta(minutes=16))
    assert token(client, "li", PASSWORD, ATTACKER).status_code == 200


def test_the_address_ceiling_slows_but_never_blocks_an_account_it_has_not_failed_on(
        client, li, app):
    ceiling = app.config["LOGIN_ADDRESS_CEILING"]
    now = utcnow()
    db.session.add_all(LoginAttempt(username=f"user{i}", ip=ATTACKER, success=False,
                                    channel="api", at=now - timedelta(seconds=30))
                       for i in range(ceiling))
    db.session.commit()
    # A sprayer's address (or a crowded NAT): still checked on an account it has not
    # failed on, and the right password is taken.
    assert token(client, "li", PASSWORD, ATTACKER).status_code == 200
    assert token(client, "wang", "guess-password-1", ATTACKER).status_code == 401
    # Past the ceiling, one failure on an account is enough to make the next one wait.
    resp = token(client, "wang", "guess-password-2", ATTACKER)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"
    # Below it, an address gets the free attempts on each account.
    assert token(client, "wang", "guess-password-3", VICTIM).status_code == 401
    assert token(client, "wang", "guess-password-4", VICTIM).status_code == 401


def test_the_login_page_says_how_long_to_wait(client, li):
    failures("li", "127.0.0.1", 5, ago=timedelta(seconds=0))
    resp = login(client, "li", PASSWORD)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "1"
    assert "登录失败次数过多，请1秒后再试" in resp.get_data(as_text=True)
    # The same person from another address (say, the phone's network) is not held back.
    page = client.get("/login", environ_overrides={"REMOTE_ADDR": VICTIM})
    csrf = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]
    resp = client.post("/login", data={"username": "li", "password": PASSWORD,
                                       "csrf_token": csrf.split('"')[0]},
                       environ_overrides={"REMOTE_ADDR": VICTIM})
    assert resp.status_code == 302


# ---- the client's address: X-Forwarded-For only from trusted proxies ---------------------

def recorded_address():
    return db.session.scalars(sa.select(LoginAttempt.ip).order_by(LoginAttempt.id.desc())
                              ).first()


def test_x_forwarded_for_is_ignored_without_trusted_proxies(client, li, app):
    assert app.config["TRUSTED_PROXIES"] == 0
    resp = client.post("/api/v1/auth/token", json={"username": "li", "password": "wrong-pw-1"},
                       headers={"X-Forwarded-For": "10.9.9.9"})
    assert resp.status_code == 401
    assert recorded_address() == "127.0.0.1"
    # So a guesser cannot shed the throttle by naming another address each time.
    failures("li", "127.0.0.1", 5, ago=timedelta(seconds=0))
    resp = client.post("/api/v1/auth/token", json={"username": "li", "password": PASSWORD},
                       headers={"X-Forwarded-For": "10.9.9.10"})
    assert resp.status_code == 429


def test_x_forwarded_for_names_the_client_behind_one_trusted_proxy(tmp_path, app):
    behind = build_app(tmp_path, f"sqlite:///{tmp_path / 'proxied.sqlite'}",
                       TRUSTED_PROXIES=1)
    behind.test_client_class = IsolatedClient
    with behind.app_context():
        db.create_all()
        try:
            UserFactory(username="li")
            db.session.commit()
            client = behind.test_client()
            resp = client.post("/api/v1/auth/token",
                               json={"username": "li", "password": "wrong-pw-1"},
                               headers={"X-Forwarded-For": "203.0.113.9, 10.9.9.9"},
                               environ_overrides={"REMOTE_ADDR": "10.0.0.2"})
            assert resp.status_code == 401
            # The proxy's own word (the last hop) counts; what the client wrote before it not.
            assert recorded_address() == "10.9.9.9"
            failures("li", "10.9.9.9", 5, ago=timedelta(seconds=0))
            other = client.post("/api/v1/auth/token", json={"username": "li", "password": PASSWORD},
                                headers={"X-Forwarded-For": "10.9.9.11"},
                                environ_overrides={"REMOTE_ADDR": "10.0.0.2"})
            assert other.status_code == 200  # another client behind the same proxy
        finally:
            db.session.remove()
            clear_tables()
            db.engine.dispose()


# ---- objections: per sender, the address only slowed ----------------------------------

@pytest.fixture
def on_notice(app):
    call = CallFactory(state=CallState.decided)
    row = ApplicationFactory(call=call, state=ApplicationState.public_notice,
                             granted_amount=Decimal("300000.00"),
                             notice_started_at=utcnow() - timedelta(days=1),
                             notice_ends_at=utcnow() + timedelta(days=3))
    db.session.commit()
    return row


TEXT = "该项目申报材料中的合作单位并未实际参与，申报内容与事实不符。"


def test_an_address_past_its_ceiling_of_objections_waits_longer_each_time(client, on_notice):
    now = utcnow()
    db.session.add_all(Objection(application_id=on_notice.id, name="", text=TEXT,
                                 contact=f"1391234{i:04d}", ip=ATTACKER,
                                 received_at=now - timedelta(minutes=10))
                       for i in range(notices.PER_ADDRESS_PER_HOUR))
    db.session.commit()
    # Ten minutes after the ceiling was reached: the one-minute wait is over.
    assert notices.objection_wait(ATTACKER, "13912345678", now) == 0
    resp = client.post(f"/api/v1/notices/{on_notice.id}/objections",
                       json={"name": "赵敏", "contact": "13912345678", "text": TEXT},
                       environ_overrides={"REMOTE_ADDR": ATTACKER})
    assert resp.status_code == 201, resp.get_json()
    # One more past the ceiling: two minutes after it, whoever sends it.
    resp = client.post(f"/api/v1/notices/{on_notice.id}/objections",
                       json={"name": "钱多", "contact": "qian@example.cn", "text": TEXT},
                       environ_overrides={"REMOTE_ADDR": ATTACKER})
    assert resp.status_code == 429
    assert 110 <= int(resp.headers["Retry-After"]) <= 120
    assert resp.get_json()["error"]["message"] == \
        "提交过于频繁，请2分钟后再试，或以书面形式寄送异议材料"
    assert notices.objection_wait(ATTACKER, "qian@example.cn",
                                  utcnow() + timedelta(seconds=121)) == 0
    # Never longer than the cap, however many came before.
    db.session.add_all(Objection(application_id=on_notice.id, name="", text=TEXT,
                                 contact=f"1391235{i:04d}", ip=ATTACKER, received_at=utcnow())
                       for i in range(20))
    db.session.commit()
    assert notices.objection_wait(ATTACKER, "x@example.cn", utcnow()) <= \
        notices.ADDRESS_MAX_WAIT
    # Another address is not slowed at all.
    assert notices.objection_wait(VICTIM, "x@example.cn", utcnow()) == 0


def test_the_objection_page_says_how_long_to_wait(client, on_notice):
    for _ in range(notices.PER_SENDER_PER_HOUR):
        notices.submit_objection(on_notice.id, {"text": TEXT}, "127.0.0.1")
        db.session.commit()
    page = client.get(f"/public/notices/{on_notice.id}/objection").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post(f"/public/notices/{on_notice.id}/objection",
                       data={"text": TEXT, "csrf_token": csrf})
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 59 * 60
    assert "提交过于频繁，请1小时后再试" in resp.get_data(as_text=True)


# ---- document verification: per address ------------------------------------------------

@pytest.fixture
def few_lookups(app):
    app.config["VERIFY_PER_MINUTE"] = 3
    yield 3
    app.config["VERIFY_PER_MINUTE"] = 60


SHA = "ab" * 32


def test_verification_is_limited_per_address_page_and_api_together(client, few_lookups):
    assert client.get("/verify").status_code == 200  # the empty form is no lookup
    assert client.get("/verify/K7Q2MX9DF4HTB3NR").status_code == 404
    assert client.get(f"/api/v1/verify?sha256={SHA}").status_code == 200
    assert client.get("/api/v1/verify/K7Q2MX9DF4HTB3NR").status_code == 404
    resp = client.get(f"/api/v1/verify?sha256={SHA}")
    assert resp.status_code == 429
    assert resp.get_json()["error"]["code"] == "throttled"
    wait = int(resp.headers["Retry-After"])
    assert 50 <= wait <= 60
    assert resp.get_json()["error"]["message"] == \
        f"验证查询过于频繁，请{'1分钟' if wait == 60 else f'{wait}秒'}后再试"
    page = client.get("/verify/K7Q2MX9DF4HTB3NR")
    assert page.status_code == 429 and page.headers["Retry-After"]
    assert "验证查询过于频繁" in page.get_data(as_text=True)
    # Refused lookups are not counted; another address is not held back.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ThrottleHit)) == 3
    assert client.get(f"/api/v1/verify?sha256={SHA}",
                      environ_overrides={"REMOTE_ADDR": VICTIM}).status_code == 200


def test_lookups_older_than_a_minute_no_longer_count(client, few_lookups):
    old = utcnow() - timedelta(seconds=61)
    db.session.add_all(ThrottleHit(bucket="verify", address="127.0.0.1", at=old)
                       for _ in range(5))
    db.session.commit()
    assert client.get(f"/api/v1/verify?sha256={SHA}").status_code == 200
    # ... and are cleared away as new ones come.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ThrottleHit)) == 1
