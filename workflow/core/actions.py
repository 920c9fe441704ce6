"""What a person may do on a row now, as the pages read it: the triggers of its lifecycle
(``engine.options``) and the feature's own actions that are not transitions (edit a
draft, score, upload, judge a milestone), each decided by the view from the permission
predicates. Templates test ``"withdraw" in may`` or ``("judge_milestone", m.id) in may``
and never compare a state."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflow.core import engine
from workflow.core.engine import Option
from workflow.core.entities import entity_of


@dataclass
class Actions:
    options: list[Option] = field(default_factory=list)
    # The non-transition actions the person may take here, and their labels when the
    # page shows one.
    named: set[Hashable] = field(default_factory=set)
    labels: dict[Hashable, str] = field(default_factory=dict)
    # Triggers the page offers in a form of its own (the formal review with its checklist,
    # the withdrawal, the edit page's submission): never a second time in the generic one.
    handled: set[str] = field(default_factory=set)

    def __contains__(self, name: object) -> bool:
        if name in self.named:
            return True
        return any(o.trigger == name and o.allowed for o in self.options)

    def option(self, trigger: str) -> Option | None:
        return next((o for o in self.options if o.trigger == trigger), None)

    def permitted(self, trigger: str) -> bool:
        """The person may fire ``trigger`` here by role and ownership (its guards may
        still wait for something: what the page is for)."""
        found = self.option(trigger)
        return found is not None and found.permitted

    def label(self, name: Hashable) -> str:
        found = self.option(name) if isinstance(name, str) else None
        return self.labels.get(name) or (found.label if found else str(name))

    def _generic(self, o: Option) -> bool:
        return not o.dedicated and o.trigger not in self.handled

    @property
    def buttons(self) -> list[Option]:
        """The triggers the generic transition form offers: allowed, not dedicated, not
        offered by a form of the page's own."""
        return [o for o in self.options if o.allowed and self._generic(o)]

    @property
    def blocked(self) -> list[Option]:
        """The generic triggers refused here, with their reasons: only those the person
        holds a role for (whom an officer's action is reserved to is not theirs to read)."""
        return [o for o in self.options if not o.allowed and self._generic(o)
                and not any(r.code == "role_not_allowed" for r in o.reasons)]

    def handle(self, *triggers: str) -> None:
        """The page's own forms offer ``triggers``."""
        self.handled.update(triggers)

    def add(self, name: Hashable, when: bool = True, label: str | None = None) -> None:
        if when:
            self.named.add(name)
            if label:
                self.labels[name] = label


def actions(row: Any, user: Any, named: Iterable[Hashable] | Mapping[Hashable, str] = (), *,
            answered: Collection[str] = ()) -> Actions:
    """The triggers ``user`` may fire on ``row`` and the ``named`` actions the caller
    decided."""
    out = Actions(engine.options(row, user, answered=answered))
    if isinstance(named, Mapping):
        for name, label in named.items():
            out.add(name, label=label)
    else:
        for name in named:
            out.add(name)
    return out


def leaves(row: Any, trigger: str) -> bool:
    """The row's lifecycle has ``trigger`` from the row's current state (whoever fires
    it): for the actions that go with a stage rather than with a transition."""
    entity = entity_of(row)
    return entity.lifecycle.resolve(row.state, trigger, entity.steps(row)) is not None
