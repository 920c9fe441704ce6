"""Models, one module per aggregate."""

from workflow.models.application import Application, ApplicationRound
from workflow.models.audit import AuditDigest, AuditEvent
from workflow.models.base import Base, db, utcnow
from workflow.models.call import AggregationRule, Call, CallFormVersion, Challenge, Scheme
from workflow.models.decision import (
    DecisionItem,
    DecisionState,
    FundingDecision,
    NumberSequence,
    Objection,
    ObjectionState,
)
from workflow.models.defence import DefenceScore, DefenceSession
from workflow.models.document import Document
from workflow.models.expert import ConflictRelation, ReviewDraw
from workflow.models.files import Attachment
from workflow.models.finance import Tranche
from workflow.models.integrity import Sanction
from workflow.models.ledger import EntryKind, LedgerEntry, Milestone, MilestoneState
from workflow.models.notification import DeliveryAttempt, DeliveryState, Notification
from workflow.models.org import Organization, OrgKind
from workflow.models.outbox import OutboxDelivery, OutboxEvent
from workflow.models.review import ReviewAssignment
from workflow.models.user import ExpertProfile, LoginAttempt, User, UserRole

__all__ = [
    "AggregationRule",
    "Application",
    "ApplicationRound",
    "Attachment",
    "AuditDigest",
    "AuditEvent",
    "Base",
    "Call",
    "CallFormVersion",
    "Challenge",
    "ConflictRelation",
    "DecisionItem",
    "DecisionState",
    "DefenceScore",
    "DefenceSession",
    "DeliveryAttempt",
    "DeliveryState",
    "Document",
    "EntryKind",
    "ExpertProfile",
    "FundingDecision",
    "LedgerEntry",
    "LoginAttempt",
    "Milestone",
    "MilestoneState",
    "Notification",
    "NumberSequence",
    "Objection",
    "ObjectionState",
    "OrgKind",
    "Organization",
    "OutboxDelivery",
    "OutboxEvent",
    "ReviewAssignment",
    "ReviewDraw",
    "Sanction",
    "Scheme",
    "Tranche",
    "User",
    "UserRole",
    "db",
    "utcnow",
]
