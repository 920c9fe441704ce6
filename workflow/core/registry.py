"""The names in ``states/`` bound to what implements them.

Each feature lists what it implements in one ``Rules`` value (its ``rules.py``); the app
factory installs the features' rules in one explicit list. Nothing registers itself by
being imported. ``unbound()`` and ``unnamed()`` say which names of ``states/`` have no
implementation and which implementations no row names: a test keeps both empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from states import EVENTS, LIFECYCLES, OPERATIONS
from workflow.core import entities, jobs, outbox
from workflow.core.entities import Entity, Reader, Visible
from workflow.core.jobs import JobFunction
from workflow.core.models import OutboxEvent
from workflow.core.rules import Effect, FollowUp, Guard, comment_given

# A message rule: whom an event tells, and how (a list of the notify feature's Message).
MessageRule = Callable[[OutboxEvent], list[Any]]
# A document renderer: renders (idempotently) the document an event calls for.
Renderer = Callable[[OutboxEvent], None]


@dataclass(frozen=True)
class Consumer:
    """An outbox consumer: the topics it takes (prefixes; "" takes all), its handler, and
    optionally the form that takes a whole batch."""

    topics: tuple[str, ...]
    handler: outbox.Handler
    batch: outbox.BatchHandler | None = None


@dataclass(frozen=True)
class Rules:
    """What one feature implements of the names in ``states/``."""

    guards: Mapping[str, Guard] = field(default_factory=dict)
    effects: Mapping[str, Effect] = field(default_factory=dict)
    follow_ups: Mapping[str, FollowUp] = field(default_factory=dict)
    messages: Mapping[str, MessageRule] = field(default_factory=dict)
    documents: Mapping[str, Renderer] = field(default_factory=dict)
    consumers: Mapping[str, Consumer] = field(default_factory=dict)
    entities: tuple[Entity, ...] = ()
    visible: Mapping[type[Any], Visible] = field(default_factory=dict)
    readers: Mapping[type[Any], Reader] = field(default_factory=dict)
    # Long work the worker runs with progress (``workflow/core/jobs.py``), by kind.
    jobs: Mapping[str, JobFunction] = field(default_factory=dict)


CORE = Rules(guards={"comment_given": comment_given})

GUARDS: dict[str, Guard] = {}
EFFECTS: dict[str, Effect] = {}
FOLLOW_UPS: dict[str, FollowUp] = {}
MESSAGES: dict[str, MessageRule] = {}
DOCUMENTS: dict[str, Renderer] = {}


def install(features: Iterable[Rules]) -> None:
    """Bind the features' implementations (the core's own first); a name given twice is
    a mistake. Installing the same rules again (a second app in one process) is a no-op."""
    for rules in (CORE, *features):
        for table, given in ((GUARDS, rules.guards), (EFFECTS, rules.effects),
                             (FOLLOW_UPS, rules.follow_ups), (MESSAGES, rules.messages),
                             (DOCUMENTS, rules.documents)):
            for name, fn in given.items():
                if table.get(name, fn) is not fn:
                    raise RuntimeError(f"{name} is implemented twice")
                table[name] = fn  # type: ignore[assignment]
        for name, consumer in rules.consumers.items():
            outbox.install_consumer(name, consumer.topics, consumer.handler, consumer.batch)
        entities.install(rules.entities, dict(rules.visible), dict(rules.readers))
        jobs.install(rules.jobs)
    outbox.install_consumer(jobs.CONSUMER, (jobs.TOPIC,), jobs.run_event)
    for name in DOCUMENTS:
        outbox.install_consumer(f"render_{name}", topics_naming("documents", name),
                                _renderer(name), read_first=True)


def _renderer(name: str) -> outbox.Handler:
    def render(event: OutboxEvent) -> None:
        DOCUMENTS[name](event)

    render.__name__ = f"render_{name}"
    return render


# ---- what an event sets going ----------------------------------------------------------

def named(topic: str, payload: Mapping[str, Any], what: str) -> tuple[str, ...]:
    """The ``messages`` or ``documents`` named by the row (or event) behind an outbox event:
    the transition it recorded (by its source and destination) or the declared event."""
    declared = EVENTS.get(topic)
    if declared is not None:
        return tuple(getattr(declared, what))
    kind, _, trigger = topic.partition(".")
    lifecycle = LIFECYCLES.get(kind)
    spec = lifecycle.taken(trigger, payload.get("from"), payload.get("to")) if lifecycle else None
    return tuple(getattr(spec, what)) if spec is not None else ()


def topics_naming(what: str, name: str | None = None) -> tuple[str, ...]:
    """Every topic whose row or event names ``name`` (any, when None) among ``what``."""
    found: list[str] = []
    for lifecycle in LIFECYCLES.values():
        for spec in lifecycle.transitions:
            names = getattr(spec, what)
            if names and (name is None or name in names):
                found.append(f"{lifecycle.name}.{spec.trigger}")
    for topic, event in EVENTS.items():
        names = getattr(event, what)
        if names and (name is None or name in names):
            found.append(topic)
    return tuple(dict.fromkeys(found))


# ---- the check ------------------------------------------------------------------------

def _declared() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {k: set() for k in
                                ("guards", "effects", "follow_ups", "messages", "documents")}
    for lifecycle in LIFECYCLES.values():
        for spec in lifecycle.transitions:
            out["guards"].update(spec.guards)
            if spec.effect:
                out["effects"].add(spec.effect)
            out["follow_ups"].update(spec.follow_ups)
            out["messages"].update(spec.messages)
            out["documents"].update(spec.documents)
    for event in EVENTS.values():
        out["messages"].update(event.messages)
        out["documents"].update(event.documents)
    return out


def _bound() -> dict[str, set[str]]:
    return {"guards": set(GUARDS), "effects": set(EFFECTS), "follow_ups": set(FOLLOW_UPS),
            "messages": set(MESSAGES), "documents": set(DOCUMENTS)}


def unbound() -> dict[str, set[str]]:
    """Names in ``states/`` that nothing implements."""
    bound = _bound()
    return {k: v - bound[k] for k, v in _declared().items() if v - bound[k]}


def unnamed() -> dict[str, set[str]]:
    """Implementations that no row or event of ``states/`` names."""
    declared = _declared()
    return {k: v - declared[k] for k, v in _bound().items() if v - declared[k]}


def unreachable_via() -> set[str]:
    """``via`` names that carry nothing out: not an operation of ``states.OPERATIONS``
    and not a transition with a follow-up (and operations that no row names)."""
    named: set[str] = set()
    out: set[str] = set()
    for lifecycle in LIFECYCLES.values():
        for spec in lifecycle.transitions:
            named.update(spec.via)
    for name in named - set(OPERATIONS):
        kind, _, trigger = name.partition(".")
        parent = LIFECYCLES.get(kind)
        if parent is None or not any(s.follow_ups for s in parent.transitions_for(trigger)):
            out.add(name)
    return out | (set(OPERATIONS) - named)


def lifecycles_without_entity() -> set[str]:
    return set(LIFECYCLES) - set(entities.ENTITIES)
