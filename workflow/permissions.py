"""Small predicates ``(user, obj) -> bool`` shared by pages, the API and guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workflow.models import Application, User

Predicate = Callable[[User, Any], bool]


def has_role(*roles: str) -> Predicate:
    def check(user: User, _obj: Any = None) -> bool:
        return user.has_role(*roles)

    return check


def same_organization(user: User, app: Application) -> bool:
    return user.organization_id is not None and user.organization_id == app.organization_id


def any_of(*preds: Predicate) -> Predicate:
    return lambda user, obj: any(p(user, obj) for p in preds)


def all_of(*preds: Predicate) -> Predicate:
    return lambda user, obj: all(p(user, obj) for p in preds)


# Who may read an application: its organisation's applicants and unit admin, and
# the bureau's staff. Experts reach applications only through their assignments.
can_read_application = any_of(
    has_role("officer", "leader", "auditor", "admin"),
    all_of(has_role("applicant", "org_admin"), same_organization),
)
