"""The lifecycles as declared: pure, no database."""

import pytest
from transitions import MachineError

from states import (
    APPLICATION,
    CALL,
    DECISION,
    DEMAND_SIDE,
    LIFECYCLES,
    MILESTONE,
    OBJECTION,
    REVIEW,
    TRANCHE,
    ApplicationState,
    MilestoneState,
    StepNotEnabled,
)

A = ApplicationState


class Row:
    def __init__(self, state):
        self.state = state


@pytest.mark.parametrize("steps,expected", [
    (frozenset(), A.formal_review),
    (frozenset({"unit_review"}), A.unit_review),
    (frozenset({"recommendation"}), A.recommended),
    (frozenset({"unit_review", "recommendation"}), A.unit_review),
])
def test_submitted_application_is_routed_by_the_calls_steps(steps, expected):
    row = Row(A.submitted)
    assert APPLICATION.apply(row, "forward", steps) is expected


@pytest.mark.parametrize("steps,expected", [
    (frozenset({"unit_review"}), A.formal_review),
    (frozenset({"unit_review", "recommendation"}), A.recommended),
])
def test_unit_approval_goes_to_recommendation_only_when_enabled(steps, expected):
    assert APPLICATION.apply(Row(A.unit_review), "unit_approve", steps) is expected


def test_defence_only_when_the_call_has_it():
    assert APPLICATION.apply(Row(A.expert_review), "finish_review") is A.reviewed
    assert APPLICATION.apply(Row(A.expert_review), "finish_review",
                             frozenset({"defence"})) is A.defence


def test_midterm_trigger_needs_the_step():
    with pytest.raises(StepNotEnabled):
        APPLICATION.apply(Row(A.in_progress), "start_midterm")
    assert APPLICATION.apply(Row(A.in_progress), "start_midterm",
                             frozenset({"midterm"})) is A.midterm


def test_trigger_from_the_wrong_state_is_refused_and_changes_nothing():
    row = Row(A.expert_review)
    with pytest.raises(MachineError):
        APPLICATION.apply(row, "submit")
    assert row.state is A.expert_review


def test_nothing_is_attached_to_a_row():
    row = Row(A.draft)
    APPLICATION.apply(row, "submit")
    assert set(vars(row)) == {"state"}


def test_one_shared_machine_per_lifecycle():
    assert APPLICATION.machine is APPLICATION.machine
    assert APPLICATION.machine.models == []


@pytest.mark.parametrize("lifecycle", list(LIFECYCLES.values()), ids=list(LIFECYCLES))
def test_every_state_is_reachable_and_every_non_final_state_has_a_way_out(lifecycle):
    reached = {lifecycle.initial}
    frontier = [lifecycle.initial]
    while frontier:
        state = frontier.pop()
        for spec in lifecycle.transitions:
            if state in spec.sources and spec.dest not in reached:
                reached.add(spec.dest)
                frontier.append(spec.dest)
    assert reached == set(lifecycle.states)
    for state in set(lifecycle.states) - lifecycle.final:
        assert any(state in s.sources for s in lifecycle.transitions), state


@pytest.mark.parametrize("lifecycle", list(LIFECYCLES.values()), ids=list(LIFECYCLES))
def test_every_state_and_transition_has_a_chinese_label(lifecycle):
    for state in lifecycle.states:
        assert state.label and all("\u4e00" <= ch <= "\u9fff" for ch in state.label[:1])
    for spec in lifecycle.transitions:
        assert spec.label and spec.roles


def test_the_lifecycles_of_the_design():
    assert set(LIFECYCLES) == {"call", "application", "review", "tranche", "milestone",
                               "decision", "objection", "recovery", "sanction_review",
                               "annual_report", "change", "evaluation", "acceptance",
                               "midterm"}
    # 结题验收 (DESIGN.md): submitted -> panel_review -> passed | concluded | failed, with
    # the unit's endorsement before the panel; the project's own ending is the system's.
    assert {s.value for s in LIFECYCLES["acceptance"].final} == {"passed", "concluded", "failed"}
    assert all(spec.roles == {"system"} for spec in APPLICATION.transitions
               if spec.trigger in ("request_acceptance", "pass_acceptance", "fail_acceptance"))
    # 追回: opened -> notified -> partly repaid -> closed (DESIGN.md), with the overdue
    # escalation and a leader's write-off.
    assert [s.value for s in LIFECYCLES["recovery"].states] == [
        "opened", "notified", "partly_repaid", "overdue", "repaid", "written_off"]
    assert LIFECYCLES["recovery"].resolve(
        LIFECYCLES["recovery"].state_of("partly_repaid"), "write_off").roles == {"leader"}
    assert [s.value for s in CALL.states] == [
        "draft", "published", "closed", "reviewing", "decided", "archived"]
    assert {s.value for s in REVIEW.states} == {
        "invited", "accepted", "declined", "expired", "submitted", "recused"}
    assert {s.value for s in TRANCHE.states} == {
        "planned", "due", "prepared", "approved", "released", "on_hold", "cancelled"}
    assert {s.value for s in MILESTONE.states} == {
        "planned", "reported", "demand_accepted", "officer_accepted", "accepted", "rejected",
        "cancelled"}
    assert {s.value for s in DECISION.states} == {"proposed", "approved", "returned"}
    assert {s.value for s in OBJECTION.states} == {"open", "upheld", "dismissed", "not_accepted"}


M = MilestoneState


@pytest.mark.parametrize("steps,expected", [
    (frozenset({DEMAND_SIDE}), M.officer_accepted),  # the demand side still to accept
    (frozenset(), M.accepted),                       # no demand side: the officer's is enough
])
def test_the_officers_acceptance_completes_a_milestone_only_without_a_demand_side(
        steps, expected):
    assert MILESTONE.apply(Row(M.reported), "officer_accept", steps) is expected


def test_the_demand_side_accepts_only_where_there_is_one():
    with pytest.raises(StepNotEnabled):
        MILESTONE.apply(Row(M.reported), "demand_accept")
    assert MILESTONE.apply(Row(M.officer_accepted), "demand_accept",
                           frozenset({DEMAND_SIDE})) is M.accepted
