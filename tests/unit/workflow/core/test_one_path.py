"""The one path of every state change: nothing in ``workflow/`` outside the core sets a
state column by hand; services fire the row's transition (``engine.fire``)."""

from __future__ import annotations

import ast
from pathlib import Path

from workflow.core import entities

ROOT = Path(__file__).resolve().parents[4]

EXEMPT = {
    # A notification's delivery status (pending, sent, dead) belongs to the delivery log:
    # the deliver task writes it in one autocommit statement per message, so that a
    # killed worker repeats at most the message in flight. It is no lifecycle of the
    # design and has no audit chain of its own.
    "workflow/notify/notifications.py",
    # The demo seeds its rows in the states it shows (recorded as "seed").
    "workflow/demo.py",
}


def state_writes(source: str, models: set[str]) -> list[str]:
    """Where ``source`` sets a state: ``row.state = …`` (or ``+=``, annotated),
    ``setattr(row, "state", …)``, ``update(…).values(state=…)``, or a stateful model
    built in a state of its choosing (``Objection(state=…)``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Attribute) and part.attr == "state":
                    found.append(f"{node.lineno}: {ast.unparse(target)} =")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "setattr" and len(node.args) > 1 and \
                    isinstance(node.args[1], ast.Constant) and node.args[1].value == "state":
                found.append(f"{node.lineno}: setattr(…, 'state', …)")
            if (name == "values" or name in models) and \
                    any(k.arg == "state" for k in node.keywords):
                found.append(f"{node.lineno}: {name}(state=…)")
    return found


def test_no_state_is_set_by_hand_outside_the_core(app):
    models = {entity.model.__name__ for entity in entities.ENTITIES.values()}
    assert {"Milestone", "FundingDecision", "Objection"} <= models
    offenders = {}
    for path in sorted((ROOT / "workflow").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("workflow/core/") or rel in EXEMPT:
            continue
        found = state_writes(path.read_text(), models)
        if found:
            offenders[rel] = found
    assert offenders == {}


def test_the_check_finds_each_way_of_setting_a_state(app):
    models = {"Objection"}
    source = """
m.state = MilestoneState.cancelled
decision.state: DecisionState = DecisionState.returned
setattr(objection, "state", ObjectionState.upheld)
db.session.execute(sa.update(Milestone).values(state="accepted"))
Objection(application_id=1, state=ObjectionState.not_accepted)
Objection(application_id=1)
m.report = "完成"
"""
    assert sorted(line.split(":")[0] for line in state_writes(source, models)) == [
        "2", "3", "4", "5", "6"]
