"""The core models."""

from workflow.core.models.audit import AuditDigest, AuditEvent
from workflow.core.models.base import Base, db, utcnow
from workflow.core.models.files import Attachment
from workflow.core.models.job import Job, JobState
from workflow.core.models.numbering import (
    DocNumberSetting,
    IssuedNumber,
    NumberingMode,
    NumberSequence,
)
from workflow.core.models.outbox import OutboxDelivery, OutboxEvent
from workflow.core.models.throttle import ThrottleHit

__all__ = [
    "Attachment", "AuditDigest", "AuditEvent", "Base", "DocNumberSetting", "IssuedNumber", "Job",
    "JobState", "NumberSequence", "NumberingMode",
    "OutboxDelivery", "OutboxEvent", "ThrottleHit", "db", "utcnow",
]
