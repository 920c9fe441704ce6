"""What the notify feature implements of ``states/``: the messages that transitions and
events name, and the outbox consumers that make and deliver them."""

from __future__ import annotations

from workflow.core.registry import Consumer, Rules, topics_naming
from workflow.notify import messages, notifications

RULES = Rules(
    messages=messages.MESSAGES,
    consumers={
        "notify": Consumer(topics_naming("messages"), messages.notify_event,
                           messages.notify_batch),
        "deliver": Consumer((notifications.DELIVER,), notifications.deliver_event,
                            notifications.deliver_batch),
    },
)
