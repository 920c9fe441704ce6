"""Who is told what, by which channel, exactly once.

Each domain event in the outbox that people should hear of has a rule: its recipients
and the message (a Jinja template in ``templates/notifications/`` with a subject, a
one-line text for the inbox and an e-mail body). ``send`` writes one ``Notification`` per
(event, recipient, channel); the unique key makes a repeated event or reminder tell
nobody twice. The in-app line is there at once; an e-mail or SMS is a new outbox event
that the ``deliver`` consumer hands to its channel, with retries and backoff, and after
the last failed attempt a dead letter an officer can resend.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, cast

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from workflow.accounts.models import User
from workflow.core import outbox, registry
from workflow.core.errors import Conflict, NotFound
from workflow.core.models import OutboxEvent, db, utcnow
from workflow.core.models.base import UTCDateTime
from workflow.notify.models import DeliveryAttempt, DeliveryState, Notification
from workflow.permissions import message_keeper

log = logging.getLogger(__name__)

DELIVER = "notification.deliver"
MAX_ATTEMPTS = 6  # then a dead letter (the consume task retries with backoff between)
# Categories: a reminder's e-mail may be turned off by its recipient; the rest not.
REMINDER = "reminder"
# A message that carries a credential (a password-reset link): its body is cleared once
# sent, never shown in the delivery log or the mail folder, and goes by e-mail only.
CREDENTIAL = "credential"
SENT_CREDENTIAL = "（含一次性链接，已发送给收件人，系统不保存）"
HIDDEN_CREDENTIAL = "（含一次性链接，仅收件人可见，此处不显示）"
SMS_CATEGORIES = frozenset({"decision"})


@dataclass
class Message:
    user_id: int
    template: str
    category: str = "notice"
    context: dict[str, Any] = field(default_factory=dict)
    link: str | None = None


_NOTIFICATION = cast(sa.Table, Notification.__table__)
_N = _NOTIFICATION.c


# ---- writing notifications ---------------------------------------------------------------

def _render(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    tpl = current_app.jinja_env.get_template(f"notifications/{template}.txt")

    def block(name: str) -> str:
        return "".join(tpl.blocks[name](tpl.new_context(dict(context)))).strip()

    return block("subject"), block("line"), block("body")


def send(message: Message, key: str) -> list[int]:
    """Tell one person, once per ``key`` and channel: the inbox line now, an e-mail (and
    for decisions an SMS) through the outbox. Returns the ids of new rows."""
    return send_many([(message, key)])


def send_many(messages: list[tuple[Message, str]]) -> list[int]:
    """``send`` for many messages at once: their people in one query, every row in one
    insert (a key already there is skipped), the deliveries' outbox rows in one flush."""
    people = {m.user_id for m, _ in messages}
    if not people:
        return []
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(people)))}
    signature = f"{current_app.config['BUREAU_NAME']}\n（系统自动发送，请勿直接回复）"
    now = utcnow()
    rows: dict[str, dict[str, Any]] = {}
    for message, key in messages:
        user = users.get(message.user_id)
        if user is None or not user.active:
            continue
        context = {**message.context, "user": user, "link": _absolute(message.link),
                   "signature": signature}
        subject, line, body = _render(message.template, context)
        common = {"user_id": user.id, "category": message.category,
                  "topic": message.template[:60], "title": subject[:200],
                  "link": message.link, "created_at": now}
        channels: list[tuple[str, str | None, str]] = [("inapp", None, line)]
        if user.email and (message.category != REMINDER or user.email_reminders):
            channels.append(("email", user.email, body))
        if user.phone and message.category in SMS_CATEGORIES:
            channels.append(("sms", user.phone, line))
        for channel, address, text in channels:
            row_key = f"{key}:u{user.id}:{channel}"[:160]
            inapp = channel == "inapp"
            rows.setdefault(row_key, {
                **common, "key": row_key, "channel": channel, "address": address,
                "body": text, "state": DeliveryState.sent if inapp else DeliveryState.pending,
                "sent_at": now if inapp else None})
    if not rows:
        return []
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    insert = (dialect.insert(_NOTIFICATION).on_conflict_do_nothing()
              .returning(_N.id, _N.channel))
    made = db.session.connection().execute(insert, list(rows.values())).all()
    for notification_id, channel in sorted(made):
        if channel != "inapp":
            outbox.emit(DELIVER, "notification", notification_id, {"channel": channel})
    return sorted(i for i, _ in made)


def _absolute(link: str | None) -> str | None:
    if not link:
        return None
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + link


# ---- rules: from outbox events to messages -----------------------------------------------

def notify_events(events: list[OutboxEvent]) -> int:
    """The notifications the rules make of these events, each told once; how many new."""
    messages = []
    for event in events:
        for name in registry.named(event.topic, event.payload, "messages"):
            messages += [(m, f"event:{event.id}") for m in registry.MESSAGES[name](event)]
    return len(send_many(messages))


# ---- delivery ----------------------------------------------------------------------------

class DeliveryFailed(Exception):
    """The channel refused or could not be reached; the task retries with backoff."""


def message_id(key: str) -> str:
    """The e-mail's Message-ID, derived from the notification's key: a repeat is
    recognisably the same message."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@kjflow>"


def build_email(n: Any) -> MIMEText:
    """The e-mail of notification ``n`` (a Notification, or a row of its columns): plain
    text in UTF-8, headers encoded as RFC 2047 words (the compat32 classes: building and
    flattening one is five times cheaper than with ``EmailMessage``)."""
    msg = MIMEText(n.body, "plain", "utf-8")
    msg["Subject"] = Header(n.title, "utf-8").encode()
    msg["From"] = _sender(current_app.config["MAIL_FROM"])
    msg["To"] = n.address or ""
    msg["Message-ID"] = message_id(n.key)
    msg["Date"] = format_datetime(n.created_at)
    msg["X-Kjflow-Key"] = n.key
    if n.category == CREDENTIAL:
        msg["X-Kjflow-Category"] = CREDENTIAL
    return msg


@lru_cache(maxsize=8)
def _sender(mail_from: str) -> str:
    """``MAIL_FROM`` as a header: a Chinese display name encoded, the address as is."""
    name, address = parseaddr(mail_from)
    return formataddr((name, address), "utf-8")


class _Connection:
    """One SMTP connection per worker process, kept between messages (a connection and
    its greeting cost more than a message); opened again when the server has closed it."""

    def __init__(self) -> None:
        self.smtp: smtplib.SMTP | None = None
        self.settings: tuple[Any, ...] = ()
        self.pid = 0

    def _open(self, settings: tuple[Any, ...]) -> smtplib.SMTP:
        server, port, tls, user, password = settings
        smtp = smtplib.SMTP(server, port, timeout=15)
        if tls:
            smtp.starttls()
        if user:
            smtp.login(user, password or "")
        return smtp

    def close(self) -> None:
        """Drop the connection (its socket closed; no QUIT: it may be dead already)."""
        if self.smtp is not None:
            self.smtp.close()
        self.smtp = None

    def send(self, msg: MIMEText) -> None:
        cfg = current_app.config
        settings = (cfg["MAIL_SERVER"], cfg["MAIL_PORT"], cfg["MAIL_USE_TLS"],
                    cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        if self.smtp is not None and (settings != self.settings or self.pid != os.getpid()):
            self.close()  # other settings, or inherited across a fork: not ours
        if self.smtp is not None:
            try:
                self.smtp.send_message(msg)
                return
            except smtplib.SMTPResponseException as err:
                if err.smtp_code != 421:
                    raise  # the server answered: its refusal stands
                self.close()  # 421: it closed an idle connection; once more, anew
            except OSError:  # closed while idle (SMTPServerDisconnected is one)
                self.close()  # once more, on a new connection
        self.smtp, self.settings, self.pid = self._open(settings), settings, os.getpid()
        try:
            self.smtp.send_message(msg)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise


_connection = _Connection()


def _smtp(msg: MIMEText) -> None:
    _connection.send(msg)


def close_smtp() -> None:
    _connection.close()


def _to_folder(msg: MIMEText) -> None:
    """No SMTP server configured (the embedded default): the mail folder, one file per
    message, named by its Message-ID (a repeat overwrites itself)."""
    folder = Path(current_app.config["MAIL_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    name = msg["Message-ID"].strip("<>").split("@")[0]
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(bytes(msg))
    tmp.replace(folder / f"{name}.eml")


class SmsAdapter(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class LogSms:
    """The default SMS adapter: writes the message to the log (no gateway configured)."""

    def send(self, phone: str, text: str) -> None:
        log.info("SMS to %s: %s", phone, text)


def sms_adapter() -> SmsAdapter:
    adapter: SmsAdapter = current_app.extensions.get("kjflow.sms") or LogSms()
    return adapter


# On the tables, not the classes: no ORM bookkeeping per message.
_COLUMNS = (_N.id, _N.channel, _N.key, _N.title, _N.body, _N.address, _N.created_at,
            _N.category)
_PENDING = (sa.select(*_COLUMNS)
            .where(_N.id == sa.bindparam("id"), _N.state == DeliveryState.pending)
            .with_for_update())
_SENT = (sa.update(_NOTIFICATION)
         .where(_N.id == sa.bindparam("sent_id"), _N.state == DeliveryState.pending)
         .values(state=DeliveryState.sent, attempts=_N.attempts + 1,
                 sent_at=sa.bindparam("now", type_=UTCDateTime()),
                 body=sa.case((_N.category == CREDENTIAL, SENT_CREDENTIAL), else_=_N.body)))
_ATTEMPT = cast(sa.Table, DeliveryAttempt.__table__)
_LOGGED = sa.insert(_ATTEMPT).values(
    notification_id=sa.bindparam("sent_id"), at=sa.bindparam("now", type_=UTCDateTime()),
    ok=True, worker=sa.bindparam("worker"), detail=sa.bindparam("detail"))
# PostgreSQL: both in one statement (a data-modifying WITH, which SQLite lacks).
_SENT_CTE = _SENT.returning(_N.id).cte("sent")
_SENT_AND_LOGGED = sa.insert(_ATTEMPT).from_select(
    ["notification_id", "at", "ok", "worker", "detail"],
    sa.select(_SENT_CTE.c.id, sa.bindparam("now", type_=UTCDateTime()), sa.true(),
              sa.bindparam("worker", type_=sa.String()),
              sa.bindparam("detail", type_=sa.Text())))
# PostgreSQL: a session lock per notification (namespace, id), held over a whole batch
# and across its commits; the server drops it when the worker's connection goes.
_LOCKS = 0x6B6A  # "kj"
_CLAIM = sa.text("SELECT id FROM unnest(CAST(:ids AS integer[])) AS t(id) "
                 "WHERE pg_try_advisory_lock(:ns, id)")
_UNCLAIM = sa.text("SELECT pg_advisory_unlock(:ns, id) FROM unnest(CAST(:ids AS integer[])) "
                   "AS t(id)")
_CLAIMED = sa.select(*_COLUMNS).where(_N.id.in_(sa.bindparam("ids", expanding=True)),
                                      _N.state == DeliveryState.pending).order_by(_N.id)


def deliver(notification_id: int) -> bool:
    """Hand one pending notification to its channel. True when sent now; False when
    there was nothing to do (sent before, dead, gone). A failure is recorded (committed)
    and raised for a retry, or, at the last attempt, makes it a dead letter."""
    sent, failures = deliver_many([notification_id])
    failure = failures.get(notification_id)
    if failure is not None and failure is not _DEAD:
        raise failure
    return notification_id in sent


def deliver_many(ids: list[int]) -> tuple[set[int], dict[int, Exception]]:
    """Hand these notifications to their channels, one after another, each recorded as
    soon as it is handed over, so that a worker killed mid-batch repeats at most the
    message in flight. Returns those sent now and the failures by notification, each
    recorded: a ``DeliveryFailed`` to retry, or ``_DEAD`` for a dead letter. A second
    worker given the same notification meanwhile waits (SQLite: the row lock) or fails
    to retry later (PostgreSQL: the claim), and then finds it sent."""
    if db.session.get_bind().dialect.name != "postgresql":
        failures: dict[int, Exception] = {}
        return _send_all(_locked_one_by_one(ids), _record_and_commit, failures), failures
    db.session.commit()  # the batch's own reads are done; nothing is held meanwhile
    failures = {}
    # Autocommit: each "sent" is durable in one round trip, without BEGIN and COMMIT.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        mine = list(conn.scalars(_CLAIM, {"ids": ids, "ns": _LOCKS}))
        try:
            for other in set(ids) - set(mine):
                failures[other] = DeliveryFailed("另一个进程正在发送该通知，稍后重试")
            # Read after claiming: what another worker sent before letting go is seen.
            rows = conn.execute(_CLAIMED, {"ids": mine}).all()
            sent = _send_all(rows, lambda done: conn.execute(_SENT_AND_LOGGED, done), failures)
        finally:
            conn.execute(_UNCLAIM, {"ids": mine, "ns": _LOCKS})
    return sent, failures


def _locked_one_by_one(ids: list[int]) -> Iterator[Any]:
    """SQLite: each pending notification in a transaction of its own, locked."""
    for notification_id in ids:
        n = db.session.execute(_PENDING, {"id": notification_id}).first()
        if n is None:
            db.session.rollback()
            continue
        yield n


def _record_and_commit(done: dict[str, Any]) -> None:
    db.session.execute(_SENT, done)
    db.session.execute(_LOGGED, done)
    db.session.commit()


# A server that cannot be reached: the rest of the batch waits for the task's retry
# rather than each message waiting out its own timeout.
_UNREACHABLE = (ConnectionError, TimeoutError, smtplib.SMTPServerDisconnected)


def _send_all(rows: Iterable[Any], record: Callable[[dict[str, Any]], Any],
              failures: dict[int, Exception]) -> set[int]:
    sent: set[int] = set()
    unreachable = False
    for n in rows:
        if unreachable:
            db.session.rollback()
            failures[n.id] = DeliveryFailed("邮件服务器无法连接，稍后重试")
            continue
        try:
            _hand_over(n)
        except Exception as err:  # SMTP refusals, timeouts, a gateway's errors
            db.session.rollback()
            failures[n.id] = _failure(n.id, err)
            unreachable = isinstance(err, _UNREACHABLE)
            continue
        record(_done(n))
        sent.add(n.id)
    return sent


def _hand_over(n: Any) -> None:
    if n.channel == "email":
        msg = build_email(n)
        (_smtp if current_app.config.get("MAIL_SERVER") else _to_folder)(msg)
    elif n.channel == "sms":
        sms_adapter().send(n.address or "", n.body)


def _done(n: Any) -> dict[str, Any]:
    return {"sent_id": n.id, "now": utcnow(), "worker": socket.gethostname(),
            "detail": message_id(n.key) if n.channel == "email" else ""}


def _failure(notification_id: int, err: Exception) -> Exception:
    """Record the failed attempt; the error to retry on (``_DEAD`` once it is a dead
    letter: there is nothing more to try)."""
    if _failed(notification_id, err, socket.gethostname()):
        return _DEAD
    failure = DeliveryFailed(f"{type(err).__name__}: {err}")
    failure.__cause__ = err
    return failure


def _failed(notification_id: int, err: Exception, worker: str) -> bool:
    """Record a failed attempt (committed); at the last one the notification is dead,
    and True is returned."""
    n = db.session.get(Notification, notification_id)
    if n is None:
        return True
    n.attempts += 1
    n.last_error = f"{type(err).__name__}: {err}"[:2000]
    db.session.add(DeliveryAttempt(notification_id=n.id, ok=False, detail=n.last_error,
                                   worker=worker))
    if n.attempts >= MAX_ATTEMPTS:
        n.state = DeliveryState.dead
        log.error("notification %s is a dead letter after %s attempts", n.id, n.attempts)
    db.session.commit()
    return n.state is DeliveryState.dead


class _DeadLetter(Exception):
    """Not an error to retry: the notification is a dead letter, for an officer."""


_DEAD = _DeadLetter()


def deliver_event(event: OutboxEvent) -> None:
    deliver(event.entity_id)


def deliver_batch(events: list[OutboxEvent]) -> tuple[set[int], Exception | None]:
    by_notification = {e.entity_id: e.id for e in events}
    _, failures = deliver_many(sorted(by_notification))
    retry = {n: err for n, err in failures.items() if err is not _DEAD}
    return {by_notification[n] for n in retry}, next(iter(retry.values()), None)


def shown_body(n: Notification) -> str:
    """What the delivery log shows of a message: all of it, but a credential's link."""
    return HIDDEN_CREDENTIAL if n.category == CREDENTIAL and n.channel != "inapp" else n.body


def resendable(n: Notification) -> bool:
    """A dead letter (an e-mail or text that gave up) may be sent again."""
    return n.channel != "inapp" and n.state is DeliveryState.dead


def resend(actor: User, notification_id: int) -> Notification:
    """An officer sends a dead letter again (after fixing the address, say)."""
    if not message_keeper(actor):
        raise NotFound("通知不存在")
    n = db.session.scalar(sa.select(Notification).where(Notification.id == notification_id)
                          .with_for_update())
    if n is None or n.channel == "inapp":
        raise NotFound("通知不存在")
    if not resendable(n):
        raise Conflict(f"该通知{n.state.label}，无需重发", code="invalid_state")
    n.state = DeliveryState.pending
    n.attempts = 0
    n.last_error = None
    db.session.add(DeliveryAttempt(notification_id=n.id, ok=True,
                                   detail=f"{actor.name}重新发送"))
    outbox.emit(DELIVER, "notification", n.id, {"channel": n.channel, "resend": True})
    return n


def set_preferences(user: User, *, email_reminders: bool) -> User:
    """What the person chooses to hear: reminders (截止、到期、逾期) by e-mail or not.
    Formal notices always go out; the inbox keeps everything."""
    user.email_reminders = email_reminders
    return user




def dead_count() -> int:
    """Notifications whose every retry failed (an officer may resend them)."""
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.state == DeliveryState.dead)) or 0


def mail_folder(limit: int = 200) -> list[dict[str, Any]]:
    """The messages in the mail folder (the embedded default), newest first."""
    import email
    import email.policy

    folder = Path(current_app.config["MAIL_FOLDER"])
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
    out = []
    for path in files[:limit]:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        if msg["X-Kjflow-Category"] == CREDENTIAL:
            text = HIDDEN_CREDENTIAL  # the reset link is the recipient's alone
        out.append({"name": path.stem, "to": str(msg["To"]), "subject": str(msg["Subject"]),
                    "date": str(msg["Date"]), "body": text})
    return out

