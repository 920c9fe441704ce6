"""kjflow lifecycles: pure data plus one shared ``transitions`` machine each."""

from states.base import Lifecycle, StateEnum, StepNotEnabled, Transition
from states.lifecycles import (
    APPLICATION,
    CALL,
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
    "APPLICATION", "CALL", "LIFECYCLES", "REVIEW", "ROLES", "STEPS", "SYSTEM", "TRANCHE",
    "ApplicationState", "CallState", "Lifecycle", "ReviewState", "StateEnum",
    "StepNotEnabled", "TrancheState", "Transition",
]
