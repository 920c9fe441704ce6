"""The stateful entities: each binds a model to its lifecycle, with who owns a row and
who may see it. The features declare theirs (``workflow/<feature>/rules.py``); the app
factory installs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from states import Lifecycle

# Ownership: may ``user`` (None: the system), acting in ``role``, act on ``row``?
Owner = Callable[[Any, str, Any], bool]
# May ``user`` see ``row`` at all? (A row one may not see is reported as not found.)
Visible = Callable[[Any, Any], bool]
# The rows ``user`` owns when acting in ``role``, as a condition on the model (``owner`` as
# a query, for lists such as the 工作台); None when the role owns none.
Owned = Callable[[Any, str], Any]
# What a person who may not see the whole row reads of it through another feature (an
# expert reads an application through their review), or None.
Reader = Callable[[Any, Any], dict[str, Any] | None]


def _no_steps(_row: Any) -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True)
class Entity:
    kind: str
    model: type[Any]
    lifecycle: Lifecycle
    owner: Owner
    visible: Visible
    label: str
    collection: str  # its path under /api/v1 and on the pages: /<collection>/<id>
    # The call's optional steps that apply to a row.
    steps: Callable[[Any], frozenset[str]] = _no_steps
    # Locked before the row itself: money moves under the project's lock, so a release
    # and the project's termination never lock in opposite orders.
    parent: tuple[str, str] | None = None
    # Selected with the row when fire locks it: the call's optional steps (so that the
    # lock need not load the call), and the options of that load.
    locked_steps: Any = None
    lock_options: tuple[Any, ...] = field(default=())
    # ``owner`` as a query; an entity without one has its rows checked one by one.
    owned: Owned | None = None
    # The row as a message names it ("GZKJ-2026-BG-0003 合同签订后拨付 56.00万元"): after
    # a transition the row often leaves the list it was done on, and the message says
    # which one moved. None: the entity's label.
    name: Callable[[Any], str] | None = None
    # Who reads what is in a row and its audit trail, beside seeing that it exists (an
    # application's colleagues see its heading only). None: whoever sees it.
    readable: Visible | None = None

    def describe(self, row: Any) -> str:
        return self.name(row) if self.name is not None else self.label


ENTITIES: dict[str, Entity] = {}
BY_MODEL: dict[type[Any], Entity] = {}
# Who may see rows that have no lifecycle of their own (documents).
VISIBLE: dict[type[Any], Visible] = {}
READERS: dict[type[Any], list[Reader]] = {}


def install(entities: tuple[Entity, ...], visible: dict[type[Any], Visible],
            readers: dict[type[Any], Reader]) -> None:
    for entity in entities:
        if ENTITIES.get(entity.kind, entity) is not entity:
            raise RuntimeError(f"entity {entity.kind} declared twice")
        ENTITIES[entity.kind] = entity
        BY_MODEL[entity.model] = entity
    VISIBLE.update(visible)
    for model, reader in readers.items():
        if reader not in READERS.setdefault(model, []):
            READERS[model].append(reader)


def entity_of(row: Any) -> Entity:
    return BY_MODEL[type(row)]


def describe(row: Any) -> str:
    """``row`` as a message names it (``Entity.name``)."""
    return entity_of(row).describe(row)


def can_view(user: Any, row: Any) -> bool:
    """May ``user`` see ``row``: the predicate its feature declared (none: no)."""
    entity = BY_MODEL.get(type(row))
    if entity is not None:
        return entity.visible(user, row)
    visible = VISIBLE.get(type(row))
    return visible is not None and visible(user, row)


def can_read(user: Any, row: Any) -> bool:
    """May ``user`` read what is in ``row`` and its trail (``Entity.readable``), beside
    seeing it."""
    entity = BY_MODEL.get(type(row))
    if entity is not None and entity.readable is not None:
        return entity.readable(user, row)
    return can_view(user, row)


def partial_reading(user: Any, row: Any) -> dict[str, Any] | None:
    """What ``user`` may read of ``row`` through another feature, when not all of it."""
    for reader in READERS.get(type(row), ()):
        found = reader(user, row)
        if found is not None:
            return found
    return None
