"""The accounts models."""

from workflow.accounts.models.integrity import Sanction
from workflow.accounts.models.org import Organization, OrgKind
from workflow.accounts.models.user import ExpertProfile, LoginAttempt, User, UserRole

__all__ = [
    "ExpertProfile", "LoginAttempt", "OrgKind", "Organization", "Sanction", "User", "UserRole",
]
