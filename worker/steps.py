"""What every worker does besides running tasks: it sweeps the outbox.

When a worker is killed in mid-task (SIGKILL, the OOM killer, a host lost), the task it
held stays unacknowledged on Redis, invisible to every other worker until the broker's
visibility timeout (an hour) has passed. Its event stays undispatched in the outbox, which
is the record of what is left to do. So each worker, once connected, asks for the outbox
to be relayed again (``kjflow.recover_outbox``), and asks for a sweep every 30 s after
(``kjflow.sweep_outbox``, setting ``KJFLOW_OUTBOX_SWEEP_SECONDS``): recovery needs no
beat, and a restarted worker finishes a killed worker's work at once. Tasks are
idempotent (delivery rows), so an event relayed twice is handled once.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery import bootsteps

from workflow.core import outbox

log = logging.getLogger(__name__)

class OutboxSweeps(bootsteps.StartStopStep):
    """Started with the task consumer, again after each reconnection to the broker (what
    the broker held may be lost with it)."""

    requires: ClassVar[tuple[str, ...]] = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.timer_entry: Any = None

    def start(self, parent: Any) -> None:
        self.send(parent, outbox.RECOVER_TASK)
        every = float(parent.app.conf.get("kjflow_outbox_sweep_seconds") or 0)
        if every > 0:
            self.timer_entry = parent.timer.call_repeatedly(
                every, self.send, (parent, outbox.SWEEP_TASK))

    def stop(self, parent: Any) -> None:
        entry, self.timer_entry = self.timer_entry, None
        if entry is not None:
            entry.cancel()

    shutdown = stop

    @staticmethod
    def send(parent: Any, task: str) -> None:
        # A message like any other: whichever worker is free runs it, in an app context
        # and under the task limits; this process only publishes.
        try:
            parent.app.send_task(task)
        except Exception:  # the broker is away; the next tick or start tries again
            log.warning("%s not sent", task, exc_info=True)
