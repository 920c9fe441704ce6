"""Every name in ``states/`` has its implementation, and every implementation a name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from states import APPLICATION, EVENTS, LIFECYCLES, TRANCHE
from workflow.core import engine, entities, outbox, registry
from workflow.core.errors import Invalid

ROOT = Path(__file__).resolve().parents[4]


def test_every_name_in_states_is_bound_and_every_implementation_named(app):
    assert registry.unbound() == {}
    assert registry.unnamed() == {}
    assert registry.lifecycles_without_entity() == set()
    assert registry.unreachable_via() == set()


def test_a_via_that_carries_nothing_out_is_found(app, monkeypatch):
    from states import OPERATIONS, Operation

    monkeypatch.setitem(OPERATIONS, "stray_operation", Operation("stray_operation", "无", ""))
    monkeypatch.delitem(OPERATIONS, "select_teams")
    assert registry.unreachable_via() == {"stray_operation", "select_teams"}


def test_the_check_fails_for_a_missing_and_for_an_unnamed_implementation(app, monkeypatch):
    monkeypatch.delitem(registry.GUARDS, "within_grant")
    monkeypatch.setitem(registry.EFFECTS, "stray_effect", lambda ctx, ch: None)
    assert registry.unbound() == {"guards": {"within_grant"}}
    assert registry.unnamed() == {"effects": {"stray_effect"}}


def test_a_name_implemented_twice_is_refused(app):
    with pytest.raises(RuntimeError, match="within_grant"):
        registry.install([registry.Rules(guards={"within_grant": lambda ctx: []})])


def test_each_document_a_row_names_has_its_consumer_on_the_rows_topic(app):
    # The 拨付通知 is rendered once it has its 发文字号 (its own event), not on the release.
    release = TRANCHE.transitions_for("release")[0]
    assert release.documents == ()
    assert EVENTS["tranche.payment_notice"].documents == ("payment_notice",)
    assert "render_payment_notice" in outbox.consumers_for("tranche.payment_notice")
    assert "render_payment_notice" not in outbox.consumers_for("tranche.release")
    assert "render_notice" in outbox.consumers_for("application.notice")
    assert "render_notice" not in outbox.consumers_for("application.approve")
    assert "render_application" in outbox.consumers_for("application.round_submitted")
    # A transition that names no message reaches no notify consumer.
    assert "notify" not in outbox.consumers_for("application.start")
    assert "notify" in outbox.consumers_for("application.reject")


def test_an_event_finds_the_messages_of_the_row_it_recorded(app):
    assert registry.named("application.reject", {"from": "formal_review",
                                                 "to": "rejected"}, "messages") == ("rejected",)
    assert registry.named("review.invited", {}, "messages") == EVENTS["review.invited"].messages
    assert registry.named("application.start", {}, "messages") == ()


def test_a_milestones_verdicts_are_messages_of_its_own_rows(app):
    """No longer events recorded beside the transition: the rows that complete or reject
    a milestone name the message, the first of two acceptances none."""
    assert not {"milestone.accepted", "milestone.rejected"} & set(EVENTS)
    assert registry.named("milestone.officer_accept", {"from": "demand_accepted",
                                                       "to": "accepted"}, "messages") == (
        "milestone_decided",)
    assert registry.named("milestone.demand_accept", {"from": "reported",
                                                      "to": "demand_accepted"}, "messages") == ()
    assert registry.named("milestone.reject", {"from": "reported", "to": "rejected"},
                          "messages") == ("milestone_decided",)
    assert "notify" in outbox.consumers_for("milestone.reject")


def test_the_system_routes_a_submitted_application_by_the_auto_row(app):
    auto = APPLICATION.automatic(APPLICATION.state_of("submitted"), frozenset())
    assert auto is not None and auto.trigger == "forward" and auto.dest.value == "formal_review"
    assert APPLICATION.automatic(APPLICATION.state_of("formal_review"), frozenset()) is None


def test_an_input_the_transition_does_not_declare_is_refused_by_name(app):
    spec = TRANCHE.transitions_for("release")[0]
    with pytest.raises(Invalid) as refused:
        engine._check_fields(spec, {"payment_ref": "ZF1", "amount": "9999"})
    assert refused.value.status == 422 and refused.value.details == {"amount": "不接受该字段"}


def test_every_lifecycle_has_an_entity_with_a_collection(app):
    for name in LIFECYCLES:
        entity = entities.ENTITIES[name]
        assert entity.lifecycle is LIFECYCLES[name] and entity.collection


def test_nothing_registers_itself_by_being_imported():
    """The factory installs the features' rules; no module fills a registry with a
    decorator (the old ``@guard``, ``@effect``, ``@follow_up``, ``@rule`` and
    ``@outbox.consumer``)."""
    registering = {"guard", "effect", "follow_up", "rule", "consumer", "batch_consumer"}
    found = []
    for path in (ROOT / "workflow").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for deco in node.decorator_list:
                    call = deco.func if isinstance(deco, ast.Call) else deco
                    name = call.attr if isinstance(call, ast.Attribute) else getattr(
                        call, "id", "")
                    if name in registering:
                        found.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert found == []
