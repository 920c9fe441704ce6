"""The review models."""

from workflow.review.models.defence import DefenceScore, DefenceSession
from workflow.review.models.expert import ConflictRelation, ReviewDraw
from workflow.review.models.review import ReviewAssignment

__all__ = [
    "ConflictRelation", "DefenceScore", "DefenceSession", "ReviewAssignment", "ReviewDraw",
]
