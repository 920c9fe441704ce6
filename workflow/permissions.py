"""Small predicates ``(user, obj) -> bool`` shared by pages, the API and guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workflow.accounts.models import User
from workflow.applying.models import Application

Predicate = Callable[[User, Any], bool]


def has_role(*roles: str) -> Predicate:
    def check(user: User, _obj: Any = None) -> bool:
        return user.has_role(*roles)

    return check


def same_organization(user: User, app: Application) -> bool:
    return user.organization_id is not None and user.organization_id == app.organization_id
