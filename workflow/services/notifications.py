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
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from workflow.models import (
    DeliveryAttempt,
    DeliveryState,
    Notification,
    OutboxEvent,
    User,
    db,
    utcnow,
)
from workflow.services import outbox
from workflow.services.errors import Conflict, NotFound

log = logging.getLogger(__name__)

DELIVER = "notification.deliver"
MAX_ATTEMPTS = 6  # then a dead letter (the consume task retries with backoff between)
# Categories: a reminder's e-mail may be turned off by its recipient; the rest not.
REMINDER = "reminder"
SMS_CATEGORIES = frozenset({"decision"})


@dataclass
class Message:
    user_id: int
    template: str
    category: str = "notice"
    context: dict[str, Any] = field(default_factory=dict)
    link: str | None = None


# ---- writing notifications ---------------------------------------------------------------

def _render(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    tpl = current_app.jinja_env.get_template(f"notifications/{template}.txt")

    def block(name: str) -> str:
        return "".join(tpl.blocks[name](tpl.new_context(dict(context)))).strip()

    return block("subject"), block("line"), block("body")


def _insert(values: dict[str, Any]) -> int | None:
    """Insert unless the key exists; the new id, or None."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return db.session.execute(dialect.insert(Notification).values(**values)
                              .on_conflict_do_nothing().returning(Notification.id)).scalar()


def send(message: Message, key: str) -> list[int]:
    """Tell one person, once per ``key`` and channel: the inbox line now, an e-mail (and
    for decisions an SMS) through the outbox. Returns the ids of new rows."""
    user = db.session.get(User, message.user_id)
    if user is None or not user.active:
        return []
    context = {**message.context, "user": user, "link": _absolute(message.link),
               "signature": f"{current_app.config['BUREAU_NAME']}\n（系统自动发送，请勿直接回复）"}
    subject, line, body = _render(message.template, context)
    now = utcnow()
    common = {"user_id": user.id, "category": message.category,
              "topic": message.template[:60], "title": subject[:200], "link": message.link,
              "created_at": now}
    made: list[int] = []
    inapp = _insert({**common, "key": f"{key}:u{user.id}:inapp"[:160], "channel": "inapp",
                     "body": line, "state": DeliveryState.sent, "sent_at": now})
    if inapp is not None:
        made.append(inapp)
    channels = []
    if user.email and (message.category != REMINDER or user.email_reminders):
        channels.append(("email", user.email, body))
    if user.phone and message.category in SMS_CATEGORIES:
        channels.append(("sms", user.phone, line))
    for channel, address, text in channels:
        new = _insert({**common, "key": f"{key}:u{user.id}:{channel}"[:160],
                       "channel": channel, "address": address, "body": text,
                       "state": DeliveryState.pending})
        if new is not None:
            made.append(new)
            outbox.emit(DELIVER, "notification", new, {"channel": channel})
    return made


def _absolute(link: str | None) -> str | None:
    if not link:
        return None
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + link


# ---- rules: from outbox events to messages -----------------------------------------------

Rule = Callable[[OutboxEvent], list[Message]]
RULES: dict[str, Rule] = {}


def rule(*topics: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for topic in topics:
            RULES[topic] = fn
        return fn

    return register


def notify_event(event: OutboxEvent) -> int:
    made = 0
    found = RULES.get(event.topic)
    for message in found(event) if found else []:
        made += len(send(message, f"event:{event.id}"))
    return made


# ---- delivery ----------------------------------------------------------------------------

class DeliveryFailed(Exception):
    """The channel refused or could not be reached; the task retries with backoff."""


def message_id(key: str) -> str:
    """The e-mail's Message-ID, derived from the notification's key: a repeat is
    recognisably the same message."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@kjflow>"


def build_email(n: Notification) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = n.title
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = n.address or ""
    msg["Message-ID"] = message_id(n.key)
    msg["Date"] = format_datetime(n.created_at)
    msg["X-Kjflow-Key"] = n.key
    msg.set_content(n.body)
    return msg


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

    def send(self, msg: EmailMessage) -> None:
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


def _smtp(msg: EmailMessage) -> None:
    _connection.send(msg)


def close_smtp() -> None:
    _connection.close()


def _to_folder(msg: EmailMessage) -> None:
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


def deliver(notification_id: int) -> bool:
    """Hand one pending notification to its channel. True when sent now; False when
    there was nothing to do (sent before, dead, gone). A failure is recorded (committed)
    and raised for a retry, or, at the last attempt, makes it a dead letter."""
    n = db.session.scalar(sa.select(Notification).where(Notification.id == notification_id)
                          .with_for_update())
    if n is None or n.state is not DeliveryState.pending:
        return False
    worker = socket.gethostname()
    try:
        if n.channel == "email":
            msg = build_email(n)
            (_smtp if current_app.config.get("MAIL_SERVER") else _to_folder)(msg)
        elif n.channel == "sms":
            sms_adapter().send(n.address or "", n.body)
    except Exception as err:  # SMTP refusals, timeouts, a gateway's errors
        db.session.rollback()
        n = db.session.get(Notification, notification_id)
        if n is None:
            return False
        n.attempts += 1
        n.last_error = f"{type(err).__name__}: {err}"[:2000]
        db.session.add(DeliveryAttempt(notification_id=n.id, ok=False,
                                       detail=n.last_error, worker=worker))
        if n.attempts >= MAX_ATTEMPTS:
            n.state = DeliveryState.dead
            db.session.commit()
            log.error("notification %s is a dead letter after %s attempts", n.id, n.attempts)
            return False
        db.session.commit()
        raise DeliveryFailed(n.last_error) from err
    n.attempts += 1
    n.state = DeliveryState.sent
    n.sent_at = utcnow()
    db.session.add(DeliveryAttempt(notification_id=n.id, ok=True, worker=worker,
                                   detail=message_id(n.key) if n.channel == "email" else ""))
    return True


@outbox.consumer("deliver", topics=(DELIVER,))
def _deliver(event: OutboxEvent) -> None:
    deliver(event.entity_id)


def resend(actor: User, notification_id: int) -> Notification:
    """An officer sends a dead letter again (after fixing the address, say)."""
    if not actor.has_role("officer", "admin"):
        raise NotFound("通知不存在")
    n = db.session.scalar(sa.select(Notification).where(Notification.id == notification_id)
                          .with_for_update())
    if n is None or n.channel == "inapp":
        raise NotFound("通知不存在")
    if n.state is not DeliveryState.dead:
        raise Conflict(f"该通知{n.state.label}，无需重发", code="invalid_state")
    n.state = DeliveryState.pending
    n.attempts = 0
    n.last_error = None
    db.session.add(DeliveryAttempt(notification_id=n.id, ok=True,
                                   detail=f"{actor.name}重新发送"))
    outbox.emit(DELIVER, "notification", n.id, {"channel": n.channel, "resend": True})
    return n


def failed(limit: int = 200) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(
        Notification.state == DeliveryState.dead).order_by(Notification.id.desc())
        .limit(limit)))


def recent(limit: int = 200, channel: str | None = None) -> list[Notification]:
    query = sa.select(Notification).where(Notification.channel != "inapp")
    if channel:
        query = query.where(Notification.channel == channel)
    return list(db.session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


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
        out.append({"name": path.stem, "to": str(msg["To"]), "subject": str(msg["Subject"]),
                    "date": str(msg["Date"]),
                    "body": body.get_content() if body is not None else ""})
    return out

