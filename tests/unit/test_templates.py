"""Templates only read what the views decided: no template compares a state (what a
person may do comes from ``engine.options`` and the views' actions) or checks a role by
hand (the predicates of ``workflow.permissions`` are the Jinja global ``perm``)."""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
TAG = re.compile(r"{[{%](.*?)[%}]}", re.S)
STATE_TESTS = [
    re.compile(r"\bstate\.value\b"),                                  # x.state.value == "…"
    re.compile(r"\bstate\s*(==|!=|\bis\b|\bin\b|\bnot\s+in\b)"),       # x.state is / in (…)
    re.compile(r"(==|!=|\bis\b)\s*[\w.]*\bstate\b"),                    # s == row.state
]


def _tags():
    for path in sorted(TEMPLATES.rglob("*")):
        if path.suffix not in (".html", ".txt") or "static" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for found in TAG.finditer(text):
            line = text.count("\n", 0, found.start()) + 1
            yield f"{path.relative_to(TEMPLATES)}:{line}", found.group(1)


def test_no_template_compares_a_state():
    found = [f"{where}: {tag.strip()[:80]}" for where, tag in _tags()
             if any(p.search(tag) for p in STATE_TESTS)]
    assert not found, "templates comparing a state:\n" + "\n".join(found)


def test_no_template_checks_a_role_by_hand():
    found = [f"{where}: {tag.strip()[:80]}" for where, tag in _tags() if "has_role(" in tag]
    assert not found, "use the perm.* predicates instead:\n" + "\n".join(found)


def test_the_scan_sees_a_comparison():
    samples = ['{% if row.state.value == "draft" %}', "{% if a.state in states %}",
               "{{ 'x' if s == row.state }}", "{% if r.state is sameas x %}"]
    for sample in samples:
        tag = TAG.search(sample)
        assert tag and any(p.search(tag.group(1)) for p in STATE_TESTS), sample


STACKED_TABLE = re.compile(r"<table\b[^>]*\btable-stack\b.*?</table>", re.S)
DATA_CELL = re.compile(r"<td\b[^>]*>")


def test_a_table_that_turns_into_cards_names_each_cell():
    """On a phone a ``table-stack`` is a card per row, each cell beside its column's name
    (``data-label``): a cell without one would be a bare value nobody can place. Only a
    row's actions and a cell across the whole row (a form) stand on their own."""
    found, tables = [], 0
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for table in STACKED_TABLE.finditer(text):
            tables += 1
            body = table.group(0).split("</thead>", 1)[-1]
            for cell in DATA_CELL.findall(body):
                if not re.search(r'\bdata-label=|\bcolspan=|class="[^"]*\bactions\b', cell):
                    line = text.count("\n", 0, table.start()) + 1
                    found.append(f"{path.relative_to(TEMPLATES)}:{line}: {cell}")
    assert tables >= 10, tables  # the scan sees the tables it is about
    assert not found, "cells without data-label in a table-stack:\n" + "\n".join(found)
