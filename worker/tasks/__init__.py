"""Tasks: thin, named, keyword ids, idempotent; the logic lives in workflow.services."""

from worker.tasks import outbox, schedule

__all__ = ["outbox", "schedule"]
