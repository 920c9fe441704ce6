"""Where a row stands on its lifecycle's main path (the step bar), and when it reached
each stage: pure, from the row's state and its recorded moves (the audit trail's
``(from_state, to_state, at)``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from states.base import Lifecycle, StateEnum

# A stage's status on the bar.
DONE = "done"            # passed
CURRENT = "current"      # the row is in it now
STOPPED = "stopped"      # the row ended here, off the path (不予受理, 撤回, 终止, …)
UPCOMING = "upcoming"    # still ahead
NOT_REACHED = "not_reached"  # will not be reached: the row ended before it

STATUS_LABELS = {DONE: "已完成", CURRENT: "当前", STOPPED: "已终结", UPCOMING: "未开始",
                 NOT_REACHED: "未进行"}

Move = tuple[str | None, str | None, datetime]


@dataclass(frozen=True)
class StageMark:
    """One stage as a person reads it on a row."""

    label: str
    status: str
    reached_at: datetime | None = None
    # The row's own state when it is not just the stage's name (单位审核, 退回修改, 结题).
    note: str = ""
    # The stage the row is at: in it now, ended in it, or finished the path with it.
    here: bool = False

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def _code(state: StateEnum | str | None) -> str | None:
    return state.value if isinstance(state, StateEnum) else state


def progress(lifecycle: Lifecycle, state: StateEnum, moves: Iterable[Move]) -> list[StageMark]:
    """The main path of ``lifecycle`` for a row now in ``state``, oldest move first in
    ``moves``: each stage passed, the one it is at, those ahead, with the time each
    stage was last entered (None when no move records it, e.g. rows seeded in a state)."""
    stages = lifecycle.path
    index = {s.value: i for i, stage in enumerate(stages) for s in stage.states}
    moved = [(_code(a), _code(b), at) for a, b, at in moves if _code(a) != _code(b)]
    here = index.get(state.value)
    if here is None:
        # Off the path: where it was last on it.
        here = next((index[code] for a, b, _at in reversed(moved) for code in (b, a)
                     if code is not None and code in index), 0)
    on_path = state.value in index
    final = state in lifecycle.final
    last = len(stages) - 1
    reached: dict[int, datetime] = {}
    for a, b, at in moved:
        target = index.get(b) if b is not None else None
        if target is not None and (a is None or index.get(a) != target):
            reached[target] = at  # entered from outside the stage: the latest entry counts
    marks: list[StageMark] = []
    for i, stage in enumerate(stages):
        note = ""
        if i < here:
            status = DONE
        elif i > here:
            status = NOT_REACHED if final else UPCOMING
        elif not on_path:
            status = STOPPED if final else CURRENT
            note = state.label
        elif final and i == last:
            status = DONE
            note = state.label if state.label != stage.label else ""
        else:
            status = STOPPED if final else CURRENT
            note = state.label if state.label != stage.label else ""
        marks.append(StageMark(stage.label, status, reached.get(i) if i <= here else None,
                               note, here=i == here))
    return marks
