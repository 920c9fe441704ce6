"""Small predicates ``(user, obj) -> bool`` shared by guards, visibility, pages, the API
and templates. They read attributes only (no query, no model import), so every layer
may use them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Predicate = Callable[[Any, Any], bool]

# Bureau staff who read everything (the finance staff read approved projects only).
BUREAU_READERS = ("officer", "leader", "auditor", "admin")


def has_role(*roles: str) -> Predicate:
    def check(user: Any, _obj: Any = None) -> bool:
        return user is not None and bool(user.has_role(*roles))

    return check


def same_organization(user: Any, row: Any) -> bool:
    """``row`` (an application, a tranche's project…) belongs to the user's organisation."""
    org_id = getattr(user, "organization_id", None)
    return org_id is not None and org_id == row.organization_id


def demand_side(user: Any, app: Any) -> bool:
    """The user's organisation published the challenge that ``app`` takes (揭榜挂帅)."""
    challenge = app.challenge
    return (challenge is not None and user is not None and user.has_role("demand")
            and user.organization_id is not None
            and challenge.demand_org_id == user.organization_id)


is_bureau_reader = has_role(*BUREAU_READERS)
