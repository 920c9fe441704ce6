"""Lifecycles declared as data, each backed by one shared ``transitions`` machine.

A lifecycle lists its states (an enum whose value is the stored name and whose
``label`` is the Chinese name), and its transitions: trigger, sources, destination,
the roles that may fire it, the names of the guards that must pass, and the optional
step (from the call's configuration) that the transition depends on.

Guards are only *named* here; ``workflow.services`` implements them, because most
of them need the database. Steps are pure: a transition with ``step="defence"`` is
taken only when the call enables that step, one with ``unless_step`` only when it
does not. When a trigger has several candidates from one state the first whose
step condition holds wins, exactly as ``transitions`` orders conditional transitions.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from transitions import EventData, Machine, MachineError


class StateEnum(enum.Enum):
    """A state: ``value`` is the stored code, ``label`` the Chinese name."""

    label: str

    def __new__(cls, value: str, label: str) -> StateEnum:
        obj = object.__new__(cls)
        obj._value_ = value
        obj.label = label
        return obj

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Field:
    """An input a transition takes in its ``data``: anything else is refused by name."""

    name: str
    label: str
    # string | line (one line: a name, a reference) | number | money | integer | choice |
    # checklist | list
    kind: str = "string"
    required: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label": self.label, "kind": self.kind,
                               "required": self.required}
        if self.choices:
            out["choices"] = list(self.choices)
        return out


@dataclass(frozen=True)
class Transition:
    """One row: everything a trigger does from its sources.

    ``guards``, ``effect``, ``follow_ups``, ``messages`` and ``documents`` are names that
    the features implement (``workflow/<feature>/rules.py``); the app factory binds them,
    and a test fails on a name without an implementation or an implementation no row
    names. ``auto``: the system fires it as soon as a source state is entered.
    ``via``: it is only ever carried out by one of these, never fired on its own: another
    transition (``"kind.trigger"``) whose follow-up fires it, or an ``Operation`` (a
    service that decides which rows it applies to, as the choice of teams by score).
    """

    trigger: str
    sources: tuple[StateEnum, ...]
    dest: StateEnum
    roles: frozenset[str]
    label: str
    guards: tuple[str, ...] = ()
    step: str | None = None
    unless_steps: tuple[str, ...] = ()
    effect: str | None = None
    follow_ups: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    auto: bool = False
    via: tuple[str, ...] = ()

    def applies(self, steps: frozenset[str]) -> bool:
        if self.step is not None and self.step not in steps:
            return False
        return not any(s in steps for s in self.unless_steps)

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)


def t(
    trigger: str,
    sources: StateEnum | Iterable[StateEnum],
    dest: StateEnum,
    roles: Iterable[str],
    label: str,
    guards: Iterable[str] = (),
    step: str | None = None,
    unless_steps: Iterable[str] = (),
    effect: str | None = None,
    follow_ups: Iterable[str] = (),
    messages: Iterable[str] = (),
    documents: Iterable[str] = (),
    fields: Iterable[Field] = (),
    auto: bool = False,
    via: Iterable[str] = (),
) -> Transition:
    srcs = (sources,) if isinstance(sources, StateEnum) else tuple(sources)
    return Transition(
        trigger, srcs, dest, frozenset(roles), label, tuple(guards), step, tuple(unless_steps),
        effect, tuple(follow_ups), tuple(messages), tuple(documents), tuple(fields), auto,
        tuple(via),
    )


@dataclass(frozen=True)
class Stage:
    """A stage of a lifecycle's main path as the people it concerns read it (申报, 形式审查,
    …): the states that belong to it. A state on no stage (an ending off the path, a pause)
    is shown at the stage the row was in when it got there."""

    label: str
    states: tuple[StateEnum, ...]


@dataclass(frozen=True)
class Operation:
    """A service that carries out transitions of rows it chooses itself (``via``), with
    where an API client does it."""

    name: str
    label: str
    api: str


@dataclass(frozen=True)
class Event:
    """A recorded event that is not a transition (an invitation sent, a receipt issued):
    the messages and documents it sets going."""

    topic: str
    label: str
    messages: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()


def _step_condition(spec: Transition) -> Callable[[EventData], bool]:
    def applies(event: EventData) -> bool:
        return spec.applies(event.kwargs.get("steps", frozenset()))

    return applies


@dataclass(frozen=True)
class Lifecycle:
    name: str
    label: str
    states: type[StateEnum]
    initial: StateEnum
    transitions: tuple[Transition, ...]
    final: frozenset[StateEnum] = field(default_factory=frozenset)
    # The main path, in order (the step bar); empty: one stage per state.
    stages: tuple[Stage, ...] = ()

    @cached_property
    def path(self) -> tuple[Stage, ...]:
        """The stages of the main path (one per state when none are declared)."""
        return self.stages or tuple(Stage(s.label, (s,)) for s in self.states)

    @cached_property
    def machine(self) -> Machine:
        """The one machine of this lifecycle in this process; rows are bound to it briefly."""
        machine = Machine(
            model=None,
            states=list(self.states),
            initial=self.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
            model_attribute="state",
        )
        for spec in self.transitions:
            # Only a transition that depends on the call's optional steps has a condition
            # (each one costs a call per firing).
            machine.add_transition(
                spec.trigger, list(spec.sources), spec.dest,
                conditions=_step_condition(spec) if spec.step or spec.unless_steps else None)
        return machine

    @cached_property
    def triggers(self) -> tuple[str, ...]:
        return tuple(self._by_trigger)

    def trigger_label(self, trigger: str, source: str | None = None,
                      dest: str | None = None) -> str:
        """The label of the transition that ``trigger`` took from ``source`` to ``dest``
        (a trigger with several destinations has a label for each)."""
        spec = self.taken(trigger, source, dest)
        return spec.label if spec else RECORD_LABELS.get(trigger, trigger)

    @cached_property
    def _by_trigger(self) -> dict[str, tuple[Transition, ...]]:
        found: dict[str, list[Transition]] = {}
        for spec in self.transitions:
            found.setdefault(spec.trigger, []).append(spec)
        return {trigger: tuple(specs) for trigger, specs in found.items()}

    def transitions_for(self, trigger: str) -> list[Transition]:
        return list(self._by_trigger.get(trigger, ()))

    def candidates(self, state: StateEnum, trigger: str) -> list[Transition]:
        return [s for s in self._by_trigger.get(trigger, ()) if state in s.sources]

    def resolve(
        self, state: StateEnum, trigger: str, steps: frozenset[str] = frozenset()
    ) -> Transition | None:
        """The transition ``trigger`` takes from ``state`` under ``steps``, or None."""
        for spec in self.candidates(state, trigger):
            if spec.applies(steps):
                return spec
        return None

    def available(self, state: StateEnum, steps: frozenset[str] = frozenset()) -> list[Transition]:
        """Transitions that leave ``state`` under ``steps``, one per trigger."""
        out: dict[str, Transition] = {}
        for spec in self.transitions:
            if state in spec.sources and spec.applies(steps) and spec.trigger not in out:
                out[spec.trigger] = spec
        return list(out.values())

    def automatic(self, state: StateEnum, steps: frozenset[str] = frozenset()
                  ) -> Transition | None:
        """The transition the system takes at once on entering ``state``, if any."""
        for spec in self.transitions:
            if spec.auto and state in spec.sources and spec.applies(steps):
                return spec
        return None

    def taken(self, trigger: str, source: str | None, dest: str | None) -> Transition | None:
        """The row by which ``trigger`` went from ``source`` to ``dest`` (as recorded)."""
        found = self.transitions_for(trigger)
        for spec in found:
            if (source is None or source in {s.value for s in spec.sources}) and \
                    (dest is None or spec.dest.value == dest):
                return spec
        return found[0] if found else None

    def apply(self, model: Any, trigger: str, steps: frozenset[str] = frozenset()) -> StateEnum:
        """Drive ``model`` through ``trigger`` on the shared machine; return the new state.

        The row is handed to the machine's event for this one call and nothing is
        attached to it: ``add_model`` would decorate the row with a callable per state
        and trigger (about 150 µs for the application lifecycle, and closures to
        clean up), while firing the event directly costs about 10 µs.

        Raises ``transitions.MachineError`` when the trigger is not valid from the
        model's state, and ``StepNotEnabled`` when no candidate's step applies.
        """
        event = self.machine.events.get(trigger)
        if event is None:
            raise MachineError(f"unknown trigger {trigger!r} in lifecycle {self.name}")
        if not event.trigger(model, steps=steps):
            raise StepNotEnabled(trigger)
        new_state: StateEnum = model.state
        return new_state

    def state_of(self, value: str | StateEnum) -> StateEnum:
        if isinstance(value, StateEnum):
            return value
        for state in self.states:
            if state.value == value:
                return state
        raise ValueError(f"{value!r} is not a state of {self.name}")

    def describe(self) -> Mapping[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "initial": self.initial.value,
            "states": [{"code": s.value, "label": s.label} for s in self.states],
            "transitions": [
                {
                    "trigger": s.trigger,
                    "label": s.label,
                    "sources": [x.value for x in s.sources],
                    "dest": s.dest.value,
                    "roles": sorted(s.roles),
                    "guards": list(s.guards),
                    "step": s.step,
                    "effect": s.effect,
                    "follow_ups": list(s.follow_ups),
                    "messages": list(s.messages),
                    "documents": list(s.documents),
                    "fields": [f.describe() for f in s.fields],
                    "auto": s.auto,
                }
                for s in self.transitions
            ],
        }


# Audit records that are not transitions.
RECORD_LABELS = {
    "create": "创建", "update": "修改", "seed": "演示数据", "sign_commitment": "签署承诺书",
    "sign_pledge": "签署军令状", "add_challenge": "发布榜单", "attach_guide": "上传指南附件",
    "invite": "发出评审邀请", "assign_reviewers": "分配评审专家", "add_reviewer": "增加评审专家",
    "schedule_defence": "安排答辩", "sign_task_book": "签署任务书",
    "propose": "拟定立项建议名单", "record_meeting": "登记集体决策会议", "receive": "收到异议",
    "register_organization": "登记单位", "update_organization": "修改单位信息",
    "change_bank_account": "变更收款账户",
    "open_annual_report": "开启年度报告", "save_annual_report": "保存年度报告",
    "apply_change": "项目变更", "attach_change_evidence": "上传变更佐证材料",
    "attach_tech_report": "上传科技报告", "score": "提交验收意见", "check_finance": "财务验收",
    "open_midterm": "开启中期检查", "save_midterm_report": "保存中期报告",
    "attach_midterm_evidence": "上传中期报告佐证材料", "assign_midterm_panel": "组织评议专家组",
    "assign_midterm_seat": "选定评议专家", "score_midterm": "提交中期检查评议",
    "set_midterm_form": "设置中期检查表",
    "open_evaluation": "开启绩效评价", "adjust_evaluation": "调整评价得分",
}


class StepNotEnabled(Exception):
    """The trigger exists from this state but none of its steps is enabled by the call."""

