"""What the names in ``states/`` stand for: the shapes of guards, effects and follow-ups,
the context they get, and the one guard every feature shares (``comment_given``).

A guard gets a ``GuardContext`` and returns the ``Reason``s it refuses (empty when it
passes); the engine runs every guard of a transition and reports every reason. An effect
changes the row besides its state, through ``Changes.set`` so that the audit row records
each field's old and new value. A follow-up runs once the change is written, in the same
unit of work, and moves other rows through ``fire`` too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from workflow.core.models import AuditEvent


class Actor(Protocol):
    """The person who fires a trigger (``None`` stands for the system)."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def organization_id(self) -> int | None: ...

    def has_role(self, *roles: str) -> bool: ...


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    # The inputs the reason is about, each with what a form says beside it
    # (``(("summary", "请填写项目摘要"),)``): a page shows it there, the API lists it.
    fields: tuple[tuple[str, str], ...] = ()
    # 409 for a reason that says the row's basis changed under it since an earlier step
    # (the payee's account since the voucher was made): the refusal is a conflict, as a
    # stale version is, rather than input to correct (422).
    status: int = 422

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            out["fields"] = dict(self.fields)
        return out


@dataclass
class GuardContext:
    row: Any
    actor: Any  # an Actor, or None for the system
    role: str
    comment: str
    data: dict[str, Any]
    now: datetime
    steps: frozenset[str] = field(default_factory=frozenset)
    trigger: str = ""

    def text(self, key: str) -> str:
        """A text the caller sent in ``data`` (anything but a string counts as absent)."""
        value = self.data.get(key)
        return value.strip() if isinstance(value, str) else ""


def refuse(code: str, message: str, fields: Mapping[str, str] | None = None, *,
           status: int = 422) -> list[Reason]:
    """One reason; ``fields``: the inputs it is about and what to say beside each;
    ``status`` 409 for a conflict (see ``Reason.status``)."""
    return [Reason(code, message, tuple((fields or {}).items()), status)]


class Changes(dict[str, list[Any]]):
    def set(self, row: Any, name: str, value: Any) -> None:
        old = getattr(row, name)
        if old != value:
            setattr(row, name, value)
            self[name] = [_plain(old), _plain(value)]

    def note(self, name: str, old: Any, new: Any) -> None:
        """Record a change the effect made elsewhere than the row's own columns (a child
        row it added or replaced)."""
        if old != new:
            self[name] = [_plain(old), _plain(new)]


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return json.loads(json.dumps(value, default=str))


@dataclass
class FireResult:
    row: Any
    trigger: str
    from_state: str
    to_state: str
    audit_event: AuditEvent
    followed_by: FireResult | None = None
    now: datetime | None = None  # the time the change was made at (a beat may pass one)

    @property
    def final_state(self) -> str:
        return self.followed_by.final_state if self.followed_by else self.to_state


Guard = Callable[[GuardContext], list[Reason]]
Effect = Callable[[GuardContext, Changes], None]
FollowUp = Callable[[FireResult, Any, str | None], None]  # (result, actor, ip)

MIN_COMMENT = 2


def comment_given(ctx: GuardContext) -> list[Reason]:
    if len((ctx.comment or "").strip()) < MIN_COMMENT:
        return refuse("comment_required", "请填写意见或理由", {"comment": "请填写意见或理由"})
    return []
