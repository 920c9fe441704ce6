"""The accounts models."""

from workflow.accounts.models.integrity import Sanction
from workflow.accounts.models.org import Organization, OrgKind
from workflow.accounts.models.security import (
    ApiToken,
    PasswordReset,
    RecoveryCode,
    SecondFactor,
    UserSession,
)
from workflow.accounts.models.user import ExpertProfile, LoginAttempt, User, UserRole

__all__ = [
    "ApiToken", "ExpertProfile", "LoginAttempt", "OrgKind", "Organization", "PasswordReset",
    "RecoveryCode", "Sanction", "SecondFactor", "User", "UserRole", "UserSession",
]
