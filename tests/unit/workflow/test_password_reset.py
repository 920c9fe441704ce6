"""忘记密码: a single-use link by e-mail (through the outbox and the notify feature, to a
real SMTP server), that expires, is kept hashed, and never tells whether an account
exists."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from tests.conftest import IsolatedClient, client_for, login
from tests.factories import PASSWORD, UserFactory
from tests.smtp import SmtpServer
from workflow.accounts.models import PasswordReset, User
from workflow.core import audit, outbox
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.notify import notifications
from workflow.notify.models import Notification

NEW_PASSWORD = "a-fresh-long-passphrase"
LINK = re.compile(r"http://testserver(/reset-password/[A-Za-z0-9_-]+)")
SENT = "如果该账户存在并登记了电子邮箱，重置密码的链接已发送到该邮箱"


@pytest.fixture
def smtp(app):
    with SmtpServer() as server:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        yield server.sink
        notifications.close_smtp()
        app.config.update(MAIL_SERVER=None, MAIL_PORT=25)


def deliver() -> None:
    """What the worker does with the outbox: each consumer of each event, until none is
    left (the e-mails the notify consumer writes included)."""
    while True:
        events = list(db.session.scalars(sa.select(OutboxEvent).where(
            OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.id)))
        if not any(outbox.consume(e.id, name) for e in events
                   for name in outbox.consumers_for(e.topic)):
            return


def new_client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


def ask(client, identifier: str):
    page = client.get("/forgot-password").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    return client.post("/forgot-password", data={"identifier": identifier, "csrf_token": token})


def reset(client, path: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))[1]
    return client.post(path, data={"new_password": password,
                                   "confirm_password": confirm or password,
                                   "csrf_token": token})


def test_the_login_page_offers_the_reset(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/forgot-password"' in page and "忘记密码" in page


def test_a_reset_link_comes_by_email_and_works_once(app, smtp):
    user = UserFactory(username="li", email="li@example.cn")
    db.session.commit()
    elsewhere = client_for(app, "li", PASSWORD)
    resp = ask(new_client(app), "li")
    assert resp.status_code == 200 and SENT in resp.get_data(as_text=True)
    deliver()

    (mail,) = smtp.messages
    assert mail["To"] == "li@example.cn" and "重置密码" in str(mail["Subject"])
    path = LINK.search(mail.get_content())[1]
    raw = path.rsplit("/", 1)[1]
    # Kept as a hash only: neither the reset row, nor the outbox, nor the sent e-mail's
    # record holds the link.
    row = db.session.scalars(sa.select(PasswordReset)).one()
    assert row.token_hash != raw and len(row.token_hash) == 64
    assert row.expires_at - row.created_at == timedelta(minutes=30)
    assert not any(raw in str(e.payload) for e in db.session.scalars(sa.select(OutboxEvent)))
    assert not any(raw in n.body for n in db.session.scalars(sa.select(Notification)))

    browser = new_client(app)
    assert "为账户 <strong>li</strong> 设置新密码" in browser.get(path).get_data(as_text=True)
    resp = reset(browser, path)
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    db.session.expire_all()
    assert check_password_hash(db.session.get(User, user.id).password_hash, NEW_PASSWORD)
    assert elsewhere.get("/").status_code == 302  # every session ended
    assert login(new_client(app), "li", NEW_PASSWORD).status_code == 302
    assert [e.trigger for e in audit.history("user", user.id)] == ["password_reset_by_email"]

    # Once only.
    again = new_client(app).get(path)
    assert again.status_code == 404 and "重置链接无效或已过期" in again.get_data(as_text=True)


def test_a_reset_link_expires(app, smtp):
    user = UserFactory(username="li")
    db.session.commit()
    ask(new_client(app), user.email)  # by e-mail address this time
    deliver()
    path = LINK.search(smtp.messages[0].get_content())[1]
    row = db.session.scalars(sa.select(PasswordReset)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    resp = new_client(app).get(path)
    assert resp.status_code == 404 and "重置链接无效或已过期" in resp.get_data(as_text=True)


def test_a_refused_new_password_keeps_the_link(app, smtp):
    UserFactory(username="li")
    db.session.commit()
    ask(new_client(app), "li")
    deliver()
    path = LINK.search(smtp.messages[0].get_content())[1]
    browser = new_client(app)
    resp = reset(browser, path, "short")
    assert resp.status_code == 422 and "密码至少需要10个字符" in resp.get_data(as_text=True)
    resp = reset(browser, path, NEW_PASSWORD, confirm="something-else-entirely")
    assert resp.status_code == 422 and "两次输入的新密码不一致" in resp.get_data(as_text=True)
    assert reset(browser, path).status_code == 302


def test_an_unknown_account_gets_the_same_answer_and_no_mail(app, smtp):
    UserFactory(username="li")
    UserFactory(username="nomail", email=None)
    db.session.commit()
    answers = [ask(new_client(app), who) for who in ("nobody", "nobody@example.cn", "nomail")]
    deliver()
    assert smtp.messages == []
    known = ask(new_client(app), "li")
    bodies = {a.get_data(as_text=True) for a in answers}
    assert {a.status_code for a in answers} == {known.status_code} == {200}
    # Word for word the same page (but for the form's token, which differs per client).
    strip = re.compile(r'value="[^"]+"')
    assert {strip.sub("", b) for b in bodies} == {strip.sub("", known.get_data(as_text=True))}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordReset)) == 0


def test_asking_again_and_again_sends_three_mails_an_hour(app, smtp):
    UserFactory(username="li")
    db.session.commit()
    for _ in range(5):
        assert ask(new_client(app), "li").status_code == 200
    deliver()
    assert len(smtp.messages) == 3


def test_the_delivery_log_never_shows_the_link(app, smtp):
    UserFactory(username="li")
    UserFactory(username="boss", roles=("officer",), organization=None)
    db.session.commit()
    ask(new_client(app), "li")
    deliver()
    raw = LINK.search(smtp.messages[0].get_content())[1].rsplit("/", 1)[1]
    note = db.session.scalars(sa.select(Notification).where(
        Notification.channel == "email")).one()
    officer = client_for(app, "boss", PASSWORD)
    page = officer.get(f"/notifications/{note.id}").get_data(as_text=True)
    assert "含一次性链接" in page and raw not in page


def test_the_mail_folder_never_shows_the_link(app):
    from pathlib import Path

    UserFactory(username="li")
    UserFactory(username="boss", roles=("officer",), organization=None)
    db.session.commit()
    ask(new_client(app), "li")
    deliver()  # no SMTP server: into the mail folder (the embedded default)
    files = list(Path(app.config["MAIL_FOLDER"]).glob("*.eml"))
    try:
        # The file is the recipient's mailbox stand-in; the page shows it to officers.
        assert len([f for f in files if b"X-Kjflow-Category: credential" in f.read_bytes()]) == 1
        page = client_for(app, "boss", PASSWORD).get("/mail").get_data(as_text=True)
        assert "重置密码" in page and "仅收件人可见" in page
        assert "/reset-password/" not in page
    finally:
        for f in files:
            f.unlink()
