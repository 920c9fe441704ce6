"""Notifications: one row per (event, recipient, channel), and each attempt to deliver it."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflow.core.models.base import Base, UTCDateTime, state_column, utcnow


class DeliveryState(enum.Enum):
    pending = "pending"  # waiting for (another) attempt
    sent = "sent"        # accepted by the SMTP server / SMS gateway, or shown in the inbox
    dead = "dead"        # every retry failed: an officer may resend it

    @property
    def label(self) -> str:
        return {"pending": "待发送", "sent": "已发送", "dead": "发送失败"}[self.value]


class Notification(Base):
    """A message to one person on one channel (``inapp``, ``email``, ``sms``). ``key``
    (event, recipient, channel) is unique: a repeated event or reminder tells nobody
    twice; it also gives an e-mail its ``Message-ID``, so the rare resend after a crash
    between the server's acceptance and our record is recognisable."""

    __tablename__ = "notification"
    __table_args__ = (
        sa.CheckConstraint("channel IN ('inapp', 'email', 'sms')", name="channel_known"),
        sa.CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        sa.Index("ix_notification_state_channel", "state", "channel"),
        # A person's inbox newest first, and its unread count (every page's badge).
        sa.Index("ix_notification_user_channel_created", "user_id", "channel", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(10), default="inapp",
                                         server_default="inapp")
    category: Mapped[str] = mapped_column(sa.String(20), default="notice",
                                          server_default="notice")
    topic: Mapped[str] = mapped_column(sa.String(60))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    link: Mapped[str | None] = mapped_column(sa.String(300))
    address: Mapped[str | None] = mapped_column(sa.String(254))  # e-mail or phone
    state: Mapped[DeliveryState] = mapped_column(
        state_column(DeliveryState, "delivery_state"), default=DeliveryState.sent,
        server_default="sent")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    log: Mapped[list[DeliveryAttempt]] = relationship(
        order_by="DeliveryAttempt.id", cascade="all, delete-orphan")


class DeliveryAttempt(Base):
    """One try to hand a notification to its channel: the delivery log."""

    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        sa.ForeignKey("notification.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ok: Mapped[bool]
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    worker: Mapped[str | None] = mapped_column(sa.String(100))
