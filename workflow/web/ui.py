"""The design system's vocabulary for templates: the tone of a state (its badge's and
its button's colour), and whether an action asks for confirmation, with the words that
name its consequence. Presentation only: the rules stay in ``states/`` and the engine."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from states import StateEnum

# A state's tone, by its code (the same code means the same in every lifecycle).
TONES: dict[str, str] = {
    # ended well
    "accepted": "success", "approved": "success", "archived": "secondary",
    "completed": "success", "decided": "success", "dismissed": "success",
    "released": "success", "submitted": "success", "contracted": "success",
    # ended badly, or refused
    "cancelled": "danger", "declined": "danger", "expired": "danger", "failed": "danger",
    "not_accepted": "danger", "not_funded": "danger", "rejected": "danger",
    "terminated": "danger", "upheld": "danger", "overdue": "danger", "withdrawn": "secondary",
    "recused": "secondary",
    # waiting on someone, or held
    "due": "warning", "objection": "warning", "on_hold": "warning", "returned": "warning",
    "open": "warning", "proposed": "warning", "reported": "warning",
    "demand_accepted": "warning", "officer_accepted": "warning",
    # not started
    "draft": "secondary", "planned": "secondary",
    # 追回 and the review of a sanction
    "repaid": "success", "continued": "success", "written_off": "secondary",
    "revoked": "danger", "partly_repaid": "warning",
}


def tone(state: StateEnum | str | None) -> str:
    """``primary`` (in hand) unless the state is one of ``TONES``."""
    code = state.value if isinstance(state, StateEnum) else (state or "")
    return TONES.get(code, "primary")


def badge(state: StateEnum | None, label: str | None = None) -> Markup:
    """A status badge with the state's Chinese label (``data-state`` keeps the code for
    tests and scripts, never shown)."""
    if state is None:
        return Markup("")
    shade = tone(state)
    text = "text-bg-warning" if shade == "warning" else f"text-bg-{shade}"
    return Markup('<span class="badge {} state" data-state="{}">{}</span>').format(
        text, escape(state.value), escape(label or state.label))


def button_class(option: Any) -> str:
    """A transition's button: danger when it ends the row badly, primary otherwise."""
    return "btn btn-danger" if tone(option.dest) == "danger" else "btn btn-primary"


def confirm(option: Any, what: str) -> str:
    """The confirmation an action asks for, naming its consequence ("" for none): every
    transition into a final state is irreversible."""
    if not getattr(option, "final", False):
        return ""
    return (f"确定要“{option.label}”吗？{what}将变为“{option.dest_label}”，"
            f"此操作不可撤销。")
