"""The stateful entities: their model, lifecycle, optional steps and who owns them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import lazyload

from states import APPLICATION, CALL, REVIEW, SYSTEM, TRANCHE, Lifecycle
from workflow.accounts.models import User
from workflow.applying.models import Application
from workflow.calls.models import Call
from workflow.finance.models import Tranche
from workflow.review.models import ReviewAssignment

# Ownership: may ``user``, acting in ``role``, act on ``row``? Bureau-wide roles own all.
Owner = Callable[[User | None, str, Any], bool]


def _application_owner(user: User | None, role: str, app: Application) -> bool:
    if role == SYSTEM or role in ("officer", "leader", "recommender"):
        return True
    if user is None:
        return False
    if role == "applicant":
        return app.applicant_id == user.id
    if role == "org_admin":
        return user.organization_id is not None and user.organization_id == app.organization_id
    if role == "demand":
        return app.challenge is not None and app.challenge.demand_org_id == user.organization_id
    return False


def _review_owner(user: User | None, role: str, review: ReviewAssignment) -> bool:
    if role in (SYSTEM, "officer"):
        return True
    return role == "expert" and user is not None and review.expert_id == user.id


def _bureau_owner(_user: User | None, role: str, _row: Any) -> bool:
    return role in (SYSTEM, "officer", "leader", "finance")


@dataclass(frozen=True)
class Entity:
    kind: str
    model: type[Any]
    lifecycle: Lifecycle
    owner: Owner
    label: str
    # Locked before the row itself: money moves under the project's lock, so a release
    # and the project's termination never lock in opposite orders.
    parent: tuple[str, str] | None = None
    # Selected with the row when fire locks it: the call's optional steps (so that the
    # lock need not load the call), and the options of that load.
    locked_steps: Any = None
    lock_options: tuple[Any, ...] = ()

    def steps(self, row: Any) -> frozenset[str]:
        call = self.call_of(row)
        return call.enabled_steps if call is not None else frozenset()

    def call_of(self, row: Any) -> Call | None:
        if isinstance(row, Call):
            return row
        if isinstance(row, Application):
            return row.call
        if isinstance(row, ReviewAssignment | Tranche):
            return row.application.call
        return None


ENTITIES: dict[str, Entity] = {
    "call": Entity("call", Call, CALL, _bureau_owner, "申报指南"),
    "application": Entity(
        "application", Application, APPLICATION, _application_owner, "申报书",
        locked_steps=sa.select(Call.steps).where(Call.id == Application.call_id)
        .scalar_subquery(),
        lock_options=(lazyload(Application.call),)),
    "review": Entity("review", ReviewAssignment, REVIEW, _review_owner, "评审任务"),
    "tranche": Entity("tranche", Tranche, TRANCHE, _bureau_owner, "拨付批次",
                      parent=("application", "application_id")),
}
BY_MODEL: dict[type[Any], Entity] = {e.model: e for e in ENTITIES.values()}


def entity_of(row: Any) -> Entity:
    return BY_MODEL[type(row)]
