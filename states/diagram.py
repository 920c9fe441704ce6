"""Lifecycle diagrams: Mermaid text (for developers, with the state codes), Graphviz DOT
and SVG (for people: Chinese labels only) when graphviz is installed."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from functools import lru_cache

from states.base import Lifecycle, StateEnum, Transition
from states.lifecycles import DEMAND_SIDE, STEPS

# The optional steps a transition depends on, as a condition a person reads.
CONDITIONS = {**{step: f"设{label}" for step, label in STEPS.items()}, DEMAND_SIDE: "有发榜方"}
UNLESS = {**{step: f"不设{label}" for step, label in STEPS.items()}, DEMAND_SIDE: "无发榜方"}
# Points (graphviz) at the diagram's natural size, where 1 pt is 4/3 px: 12 pt states and
# 10 pt transitions are 16 px and 13.3 px on the page, never below 11 px.
STATE_PT = 12
EDGE_PT = 10
FONTS = "Noto Sans CJK SC,WenQuanYi Micro Hei,sans-serif"
CURRENT_FILL = "#1d4f91"  # the bureau's blue (white on it: 8.6:1)


def _edge_label(spec: Transition) -> str:
    """A transition's label and, when it depends on the call's optional steps, when."""
    when = ([CONDITIONS.get(spec.step, spec.step)] if spec.step else []) + [
        UNLESS.get(s, s) for s in spec.unless_steps]
    return spec.label + (f"\\n（{'、'.join(when)}时）" if when else "")


def _edges(lifecycle: Lifecycle, readable: bool = False
           ) -> list[tuple[StateEnum, StateEnum, str]]:
    seen: dict[tuple[str, str], list[str]] = {}
    for spec in lifecycle.transitions:
        for source in spec.sources:
            label = (_edge_label(spec) if readable
                     else spec.label + (f"［{spec.step}］" if spec.step else ""))
            found = seen.setdefault((source.value, spec.dest.value), [])
            if label not in found:
                found.append(label)
    return [(lifecycle.state_of(a), lifecycle.state_of(b), " / ".join(labels))
            for (a, b), labels in seen.items()]


def mermaid(lifecycle: Lifecycle, current: StateEnum | None = None) -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {lifecycle.initial.value}"]
    for state in lifecycle.states:
        lines.append(f"    {state.value} : {state.label}")
    for a, b, label in _edges(lifecycle):
        lines.append(f"    {a.value} --> {b.value} : {label}")
    for state in sorted(lifecycle.final, key=lambda s: s.value):
        lines.append(f"    {state.value} --> [*]")
    if current is not None:
        lines.append("    classDef current fill:#b71c1c,color:#fff,font-weight:bold")
        lines.append(f"    class {current.value} current")
    return "\n".join(lines) + "\n"


def dot(lifecycle: Lifecycle, current: StateEnum | None = None) -> str:
    """The diagram as people read it: every label in Chinese (the state codes stay only
    in the ids the page and tests address), the current state in the bureau's blue."""
    lines = [
        f'digraph "{lifecycle.name}" {{',
        '  rankdir=LR; bgcolor="transparent"; nodesep=0.35; ranksep=0.55;',
        f'  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#5a6472", '
        f'fontname="{FONTS}", fontsize={STATE_PT}, fontcolor="#212529", margin="0.15,0.06"];',
        f'  edge [fontname="{FONTS}", fontsize={EDGE_PT}, fontcolor="#3d4652", '
        'color="#6c757d", arrowsize=0.7];',
    ]
    for state in lifecycle.states:
        attrs = [f'label="{state.label}"', f'id="state_{state.value}"']
        if state is current:
            attrs += [f'fillcolor="{CURRENT_FILL}"', 'fontcolor="#ffffff"', "penwidth=2",
                      'class="current"']
        elif state in lifecycle.final:
            attrs.append('fillcolor="#e9ecef"')
        lines.append(f'  {state.value} [{", ".join(attrs)}];')
    for a, b, label in _edges(lifecycle, readable=True):
        lines.append(f'  {a.value} -> {b.value} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def graphviz_available() -> bool:
    return shutil.which("dot") is not None


_TITLE = re.compile(r"<title>([^<]*)</title>")
_COMMENT = re.compile(r"<!--.*?-->\n?", re.S)


def _readable_titles(svg: str, lifecycle: Lifecycle) -> str:
    """Graphviz titles each node and edge (the browser's tooltip) by its DOT name, the
    state code: in Chinese instead."""
    labels = {s.value: s.label for s in lifecycle.states}

    def title(found: re.Match[str]) -> str:
        text = html.unescape(found.group(1))
        if "->" in text:
            a, b = text.split("->", 1)
            text = f"{labels.get(a, '')} → {labels.get(b, '')}"
        else:
            text = labels.get(text, "")
        return f"<title>{html.escape(text)}</title>"

    svg = _COMMENT.sub("", _TITLE.sub(title, svg))  # the comments name the codes too
    name = html.escape(lifecycle.label)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{name}流程图" ', 1)


@lru_cache(maxsize=256)
def _svg_of(source: str) -> str:
    out = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True,
                         check=True, timeout=30)
    svg = out.stdout.decode()
    return svg[svg.index("<svg"):]  # drop the XML prolog and doctype for inline use


def svg(lifecycle: Lifecycle, current: StateEnum | None = None) -> str | None:
    """Inline SVG, or None when graphviz is not installed."""
    if not graphviz_available():
        return None
    return _readable_titles(_svg_of(dot(lifecycle, current)), lifecycle)
