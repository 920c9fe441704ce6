"""The inbox, the notification preferences and the resending of a dead letter through the
API, as on the pages ``/inbox``, ``/inbox/read``, ``/preferences`` and
``/notifications/<id>/resend``."""

from datetime import timedelta
from itertools import count

import pytest
import sqlalchemy as sa

from tests.conftest import api_token, calendar_known_ahead
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, UserFactory
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.notify import messages, notifications
from workflow.notify.models import DeliveryState, Notification

_keys = count()


def h(client, who):
    return {"Authorization": f"Bearer {api_token(client, who, PASSWORD)}"}


def note(user, channel="inapp", read=False, state=DeliveryState.sent, title="消息"):
    n = Notification(key=f"test:{next(_keys)}:{user.id}:{channel}", user_id=user.id,
                     channel=channel, topic="returned", title=title, body=f"{title}的正文",
                     link="/applications/1", state=state,
                     address=None if channel == "inapp" else user.email,
                     read_at=utcnow() if read else None,
                     attempts=notifications.MAX_ATTEMPTS if state is DeliveryState.dead else 0,
                     last_error="451 try later" if state is DeliveryState.dead else None)
    db.session.add(n)
    db.session.flush()
    return n


@pytest.fixture
def people(app):
    return {"li": UserFactory(username="li", roles=("applicant",), email="li@example.cn"),
            "wang": UserFactory(username="wang", roles=("applicant",)),
            "officer": UserFactory(username="officer", roles=("officer",), organization=None),
            "admin": UserFactory(username="admin", roles=("admin",), organization=None),
            "leader": UserFactory(username="leader", roles=("leader",), organization=None)}


# ---- preferences ------------------------------------------------------------------------

def test_reminders_by_email_are_turned_off_and_on_through_the_api(client, people):
    li = h(client, "li")
    assert client.get("/api/v1/me/preferences", headers=li).get_json() == {
        "email_reminders": True, "email": "li@example.cn"}
    resp = client.put("/api/v1/me/preferences", headers=li, json={"email_reminders": False})
    assert resp.status_code == 200 and resp.get_json()["email_reminders"] is False
    db.session.expire_all()
    assert people["li"].email_reminders is False and people["wang"].email_reminders is True
    # As with the page: a reminder now reaches the inbox only.
    ApplicationFactory(applicant=people["li"],
                       call=CallFactory(closes_at=utcnow() + timedelta(hours=10)))
    db.session.commit()
    calendar_known_ahead(366)  # (the administrator's reminder of next year's calendar: not here)
    assert messages.send_reminders() == 1
    assert [n.channel for n in db.session.scalars(sa.select(Notification))] == ["inapp"]
    resp = client.put("/api/v1/me/preferences", headers=li, json={"email_reminders": True})
    assert resp.get_json()["email_reminders"] is True


@pytest.mark.parametrize("body,field", [
    ({}, "email_reminders"),
    ({"email_reminders": None}, "email_reminders"),
    ({"email_reminders": "on"}, "email_reminders"),
    ({"email_reminders": 0}, "email_reminders"),
    ({"email_reminders": False, "sms": True}, "sms"),
    ({"email_reminders": False, "email": "x@example.cn"}, "email"),
])
def test_a_bad_preference_is_refused_naming_the_field_and_nothing_changes(client, people,
                                                                          body, field):
    resp = client.put("/api/v1/me/preferences", headers=h(client, "li"), json=body)
    assert resp.status_code == 422 and field in resp.get_json()["error"]["details"]
    db.session.expire_all()
    assert people["li"].email_reminders is True and people["li"].email == "li@example.cn"


def test_preferences_need_a_token(client, people):
    assert client.get("/api/v1/me/preferences").status_code == 401
    assert client.put("/api/v1/me/preferences", json={"email_reminders": False}
                      ).status_code == 401


# ---- the inbox --------------------------------------------------------------------------

@pytest.fixture
def inbox(people):
    li = people["li"]
    rows = [note(li, title="较早的已读消息", read=True), note(li, title="退回修改"),
            note(li, title="请签署任务书")]
    mail = note(li, channel="email", title="邮件")
    other = note(people["wang"], title="王的消息")
    db.session.commit()
    return rows, mail, other


def test_the_inbox_lists_ones_own_messages_newest_first_a_page_at_a_time(client, inbox):
    li = h(client, "li")
    body = client.get("/api/v1/me/inbox", headers=li).get_json()
    assert (body["total"], body["unread"], body["page"], body["per_page"]) == (3, 2, 1, 50)
    assert [m["title"] for m in body["items"]] == ["请签署任务书", "退回修改", "较早的已读消息"]
    first = body["items"][0]
    assert (first["body"], first["link"], first["read"], first["read_at"]) == (
        "请签署任务书的正文", "/applications/1", False, None)
    second = client.get("/api/v1/me/inbox?page=2&per_page=2", headers=li).get_json()
    assert [m["title"] for m in second["items"]] == ["较早的已读消息"]
    assert second["total"] == 3
    unread = client.get("/api/v1/me/inbox?read=unread", headers=li).get_json()
    assert [m["title"] for m in unread["items"]] == ["请签署任务书", "退回修改"]
    assert unread["total"] == 2
    found = client.get("/api/v1/me/inbox?q=任务书", headers=li).get_json()
    assert [m["title"] for m in found["items"]] == ["请签署任务书"]
    oldest = client.get("/api/v1/me/inbox?sort=at&dir=asc", headers=li).get_json()
    assert oldest["items"][0]["title"] == "较早的已读消息"
    bad = client.get("/api/v1/me/inbox?read=yes&unread=true", headers=li)
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"read", "unread"}
    wang = client.get("/api/v1/me/inbox", headers=h(client, "wang")).get_json()
    assert [m["title"] for m in wang["items"]] == ["王的消息"]


def test_one_message_or_all_are_marked_read(client, inbox):
    (_, returned, sign), _mail, _ = inbox
    li = h(client, "li")
    resp = client.post("/api/v1/me/inbox/read", headers=li, json={"id": returned.id})
    assert resp.status_code == 200 and resp.get_json() == {"marked": 1, "unread": 1}
    db.session.expire_all()
    assert returned.read_at is not None and sign.read_at is None
    resp = client.post("/api/v1/me/inbox/read", headers=li)  # no body: all, as the page
    assert resp.get_json() == {"marked": 1, "unread": 0}
    assert client.post("/api/v1/me/inbox/read", headers=li, json={}).get_json() == {
        "marked": 0, "unread": 0}


def test_a_message_not_in_ones_inbox_is_not_found_and_nothing_is_marked(client, inbox):
    (_, returned, _), mail, other = inbox
    li = h(client, "li")
    for note_id in (other.id, mail.id, 99999):
        resp = client.post("/api/v1/me/inbox/read", headers=li, json={"id": note_id})
        assert resp.status_code == 404, note_id
    for body, field in (({"id": "x"}, "id"), ({"id": 0}, "id"), ({"ids": [1]}, "ids")):
        resp = client.post("/api/v1/me/inbox/read", headers=li, json=body)
        assert resp.status_code == 422 and field in resp.get_json()["error"]["details"]
    db.session.expire_all()
    assert other.read_at is None and mail.read_at is None and returned.read_at is None


# ---- what went out, and a dead letter resent --------------------------------------------

@pytest.fixture
def dead(people):
    row = note(people["li"], channel="email", state=DeliveryState.dead, title="退回修改")
    sent = note(people["li"], channel="sms", state=DeliveryState.sent, title="立项决定")
    db.session.commit()
    return row, sent


@pytest.mark.parametrize("who", ["officer", "admin"])
def test_the_officer_finds_a_dead_letter_and_sends_it_again(client, dead, who):
    row, sent = dead
    auth = h(client, who)
    listed = client.get("/api/v1/notifications?state=dead", headers=auth).get_json()
    assert [(n["id"], n["resendable"], n["last_error"]) for n in listed["items"]] == [
        (row.id, True, "451 try later")]
    assert client.get("/api/v1/notifications?channel=sms", headers=auth).get_json()[
        "items"][0]["id"] == sent.id
    resp = client.post(f"/api/v1/notifications/{row.id}/resend", headers=auth)
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["state"], resp.get_json()["attempts"]) == ("pending", 0)
    db.session.expire_all()
    assert row.state is DeliveryState.pending and row.last_error is None
    assert db.session.scalar(sa.select(OutboxEvent.topic).where(
        OutboxEvent.entity_id == row.id)) == notifications.DELIVER
    log = client.get(f"/api/v1/notifications/{row.id}", headers=auth).get_json()["log"]
    assert log[-1]["detail"].endswith("重新发送")
    again = client.post(f"/api/v1/notifications/{row.id}/resend", headers=auth)
    assert again.status_code == 409


def test_only_a_dead_email_or_text_is_resent(client, people, dead):
    row, sent = dead
    inapp = note(people["li"])
    db.session.commit()
    officer = h(client, "officer")
    assert client.post(f"/api/v1/notifications/{sent.id}/resend",
                       headers=officer).status_code == 409
    assert client.post(f"/api/v1/notifications/{inapp.id}/resend",
                       headers=officer).status_code == 404
    resp = client.post(f"/api/v1/notifications/{row.id}/resend", headers=officer,
                       json={"force": True})
    assert resp.status_code == 422 and "force" in resp.get_json()["error"]["details"]
    bad = client.get("/api/v1/notifications?state=lost&channel=fax", headers=officer)
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]) == {"state", "channel"}
    db.session.expire_all()
    assert row.state is DeliveryState.dead and sent.state is DeliveryState.sent


@pytest.mark.parametrize("who", ["li", "wang", "leader"])
def test_others_do_not_see_what_was_sent(client, dead, who):
    row, _ = dead
    auth = h(client, who)
    assert client.post(f"/api/v1/notifications/{row.id}/resend", headers=auth).status_code == 404
    assert client.get(f"/api/v1/notifications/{row.id}", headers=auth).status_code == 404
    assert client.get("/api/v1/notifications", headers=auth).status_code == 403
    db.session.expire_all()
    assert row.state is DeliveryState.dead


def test_the_spec_describes_the_inbox_and_the_preferences(client, app):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    prefs = paths["/api/v1/me/preferences"]
    body = prefs["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["email_reminders"]
    assert body["properties"]["email_reminders"]["type"] == "boolean"
    assert "get" in prefs
    listed = paths["/api/v1/me/inbox"]["get"]
    assert {p["name"] for p in listed["parameters"]} == {
        "q", "read", "sort", "dir", "page", "per_page", "cursor", "export"}
    schema = listed["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"items", "total", "page", "per_page", "unread"} <= set(schema["properties"])
    assert "404" in paths["/api/v1/me/inbox/read"]["post"]["responses"]
    resend = paths["/api/v1/notifications/{note_id}/resend"]["post"]
    assert {"200", "404", "409"} <= set(resend["responses"])
