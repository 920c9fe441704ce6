"""kjflow lifecycles: pure data plus one shared ``transitions`` machine each."""

from states.base import (
    Event,
    Field,
    Lifecycle,
    Operation,
    StateEnum,
    StepNotEnabled,
    Transition,
)
from states.lifecycles import (
    APPLICATION,
    CALL,
    DECISION,
    DEMAND_SIDE,
    EVENTS,
    LIFECYCLES,
    MILESTONE,
    OBJECTION,
    OPERATIONS,
    PAYEE_CHANGED,
    REVIEW,
    ROLES,
    STEPS,
    SYSTEM,
    TRANCHE,
    ApplicationState,
    CallState,
    DecisionState,
    MilestoneState,
    ObjectionState,
    ReviewState,
    TrancheState,
)

__all__ = [
    "APPLICATION", "CALL", "DECISION", "DEMAND_SIDE", "EVENTS", "LIFECYCLES", "MILESTONE",
    "OBJECTION", "OPERATIONS", "PAYEE_CHANGED", "REVIEW", "ROLES", "STEPS", "SYSTEM", "TRANCHE",
    "ApplicationState",
    "CallState", "DecisionState", "Event", "Field", "Lifecycle", "MilestoneState",
    "ObjectionState", "Operation", "ReviewState", "StateEnum", "StepNotEnabled", "TrancheState",
    "Transition",
]
