"""Lifecycle diagrams: Mermaid text, Graphviz DOT, and SVG when graphviz is installed."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

from states.base import Lifecycle, StateEnum


def _edges(lifecycle: Lifecycle) -> list[tuple[StateEnum, StateEnum, str]]:
    seen: dict[tuple[str, str], list[str]] = {}
    for spec in lifecycle.transitions:
        for source in spec.sources:
            label = spec.label + (f"［{spec.step}］" if spec.step else "")
            seen.setdefault((source.value, spec.dest.value), []).append(label)
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
    lines = [
        f'digraph "{lifecycle.name}" {{',
        '  rankdir=LR; bgcolor="transparent";',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", '
        'fontname="WenQuanYi Micro Hei,Noto Sans CJK SC,sans-serif", fontsize=11];',
        '  edge [fontname="WenQuanYi Micro Hei,Noto Sans CJK SC,sans-serif", fontsize=9, '
        'color="#777777"];',
    ]
    for state in lifecycle.states:
        attrs = [f'label="{state.label}\\n{state.value}"', f'id="state_{state.value}"']
        if state is current:
            attrs += ['fillcolor="#b71c1c"', 'fontcolor="#ffffff"', "penwidth=2"]
        elif state in lifecycle.final:
            attrs.append('fillcolor="#eeeeee"')
        lines.append(f'  {state.value} [{", ".join(attrs)}];')
    for a, b, label in _edges(lifecycle):
        lines.append(f'  {a.value} -> {b.value} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def graphviz_available() -> bool:
    return shutil.which("dot") is not None


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
    return _svg_of(dot(lifecycle, current))
