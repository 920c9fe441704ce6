"""The finance models."""

from workflow.finance.models.ledger import EntryKind, LedgerEntry, Milestone, MilestoneState
from workflow.finance.models.recovery import Recovery, RecoveryInstalment, SanctionReview
from workflow.finance.models.tranche import Tranche

__all__ = [
    "EntryKind", "LedgerEntry", "Milestone", "MilestoneState", "Recovery", "RecoveryInstalment",
    "SanctionReview", "Tranche",
]
