"""kjflow lifecycles: pure data plus one shared ``transitions`` machine each."""

from states.base import Event, Field, Lifecycle, StateEnum, StepNotEnabled, Transition
from states.lifecycles import (
    APPLICATION,
    CALL,
    EVENTS,
    LIFECYCLES,
    REVIEW,
    ROLES,
    STEPS,
    SYSTEM,
    TRANCHE,
    ApplicationState,
    CallState,
    ReviewState,
    TrancheState,
)

__all__ = [
    "APPLICATION", "CALL", "EVENTS", "LIFECYCLES", "REVIEW", "ROLES", "STEPS", "SYSTEM",
    "TRANCHE", "ApplicationState", "CallState", "Event", "Field", "Lifecycle", "ReviewState",
    "StateEnum", "StepNotEnabled", "TrancheState", "Transition",
]
