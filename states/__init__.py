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
    CHANGE,
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
    ChangeState,
    DecisionState,
    MilestoneState,
    ObjectionState,
    ReviewState,
    TrancheState,
)

__all__ = [
    "APPLICATION", "CALL", "CHANGE", "DECISION", "DEMAND_SIDE", "EVENTS", "LIFECYCLES", "MILESTONE",
    "OBJECTION", "OPERATIONS", "PAYEE_CHANGED", "REVIEW", "ROLES", "STEPS", "SYSTEM", "TRANCHE",
    "ApplicationState",
    "CallState", "ChangeState", "DecisionState", "Event", "Field", "Lifecycle", "MilestoneState",
    "ObjectionState", "Operation", "ReviewState", "StateEnum", "StepNotEnabled", "TrancheState",
    "Transition",
]
