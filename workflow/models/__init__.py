"""Models, one module per aggregate."""

from workflow.models.application import Application
from workflow.models.audit import AuditDigest, AuditEvent
from workflow.models.base import Base, db, utcnow
from workflow.models.call import AggregationRule, Call, Challenge, Scheme
from workflow.models.finance import Tranche
from workflow.models.org import Organization, OrgKind
from workflow.models.outbox import OutboxDelivery, OutboxEvent
from workflow.models.review import ReviewAssignment
from workflow.models.user import ExpertProfile, LoginAttempt, User, UserRole

__all__ = [
    "AggregationRule", "Application", "AuditDigest", "AuditEvent", "Base", "Call", "Challenge",
    "ExpertProfile", "LoginAttempt", "OrgKind", "Organization", "OutboxDelivery", "OutboxEvent",
    "ReviewAssignment", "Scheme", "Tranche", "User", "UserRole", "db", "utcnow",
]
