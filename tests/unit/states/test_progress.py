"""The step bar's model: where a row stands on its lifecycle's main path, and when it
reached each stage (pure: the state and the recorded moves)."""

from datetime import UTC, datetime

import pytest

from states import APPLICATION, LIFECYCLES, REVIEW, TRANCHE, ApplicationState, ReviewState
from states.progress import progress

A = ApplicationState


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


SUBMITTED = [(None, "draft", at(1)), ("draft", "submitted", at(2)),
             ("submitted", "formal_review", at(2, 10))]


def shown(marks):
    return [(m.label, m.status, m.reached_at, m.note, m.here) for m in marks]


def test_the_application_path_is_the_eight_stages_people_know():
    assert [m.label for m in progress(APPLICATION, A.draft, [])] == [
        "申报", "形式审查", "专家评审", "立项公示", "立项", "合同", "执行", "验收"]


def test_stages_passed_have_the_date_they_were_reached_and_the_current_one_is_marked():
    marks = progress(APPLICATION, A.formal_review, SUBMITTED)
    assert shown(marks)[:3] == [
        ("申报", "done", at(1), "", False),
        ("形式审查", "current", at(2, 10), "", True),
        ("专家评审", "upcoming", None, "", False),
    ]
    assert [m.here for m in marks].count(True) == 1
    assert all(m.reached_at is None for m in marks[2:])


def test_a_state_within_a_stage_is_named_beside_it():
    marks = progress(APPLICATION, A.unit_review,
                     [*SUBMITTED[:2], ("submitted", "unit_review", at(2, 10))])
    assert (marks[0].status, marks[0].note, marks[0].reached_at) == ("current", "单位审核", at(1))


def test_a_return_goes_back_to_the_first_stage_and_resubmission_counts_anew():
    returned = [*SUBMITTED, ("formal_review", "returned", at(5))]
    marks = progress(APPLICATION, A.returned, returned)
    assert shown(marks)[:2] == [("申报", "current", at(5), "退回修改", True),
                                ("形式审查", "upcoming", None, "", False)]
    again = [*returned, ("returned", "submitted", at(6)), ("submitted", "formal_review", at(6))]
    marks = progress(APPLICATION, A.formal_review, again)
    assert (marks[1].status, marks[1].reached_at) == ("current", at(6))


def test_an_ending_off_the_path_stops_the_bar_where_it_happened():
    rejected = [*SUBMITTED, ("formal_review", "rejected", at(4))]
    marks = progress(APPLICATION, A.rejected, rejected)
    assert shown(marks)[:3] == [("申报", "done", at(1), "", False),
                                ("形式审查", "stopped", at(2, 10), "不予受理", True),
                                ("专家评审", "not_reached", None, "", False)]
    assert {m.status for m in marks[2:]} == {"not_reached"}
    withdrawn = progress(APPLICATION, A.withdrawn, [(None, "draft", at(1)),
                                                   ("draft", "withdrawn", at(2))])
    assert (withdrawn[0].status, withdrawn[0].note) == ("stopped", "已撤回")


def test_a_finished_path_is_all_done_with_its_ending_named():
    marks = progress(APPLICATION, A.completed, [(None, "acceptance", at(9)),
                                                ("acceptance", "completed", at(20))])
    assert {m.status for m in marks} == {"done"}
    assert (marks[-1].note, marks[-1].here, marks[-1].reached_at) == ("结题", True, at(9))


def test_rows_seeded_in_a_state_have_no_dates_for_what_no_move_records():
    marks = progress(APPLICATION, A.contracted, [(None, "public_notice", at(1)),
                                                 ("public_notice", "approved", at(2)),
                                                 ("approved", "contracted", at(3))])
    assert [m.reached_at for m in marks[:6]] == [None, None, None, at(1), at(2), at(3)]
    assert marks[5].here and marks[5].status == "current"


def test_a_pause_off_the_path_is_shown_at_the_stage_it_paused():
    from states import TrancheState as T

    marks = progress(TRANCHE, T.on_hold, [(None, "planned", at(1)), ("planned", "due", at(2)),
                                          ("due", "prepared", at(3)),
                                          ("prepared", "on_hold", at(4))])
    assert [(m.label, m.status, m.note) for m in marks[1:4]] == [
        ("应付", "done", ""), ("制单", "current", "暂停"), ("审核", "upcoming", "")]


def test_the_review_path_for_the_expert():
    marks = progress(REVIEW, ReviewState.accepted, [(None, "invited", at(1)),
                                                    ("invited", "accepted", at(2))])
    assert shown(marks) == [("收到邀请", "done", at(1), "", False),
                            ("评分", "current", at(2), "已接受", True),
                            ("提交评分", "upcoming", None, "", False)]


@pytest.mark.parametrize("name", sorted(LIFECYCLES))
def test_every_state_of_every_lifecycle_has_a_place_on_its_bar(name):
    lifecycle = LIFECYCLES[name]
    on_path = {s for stage in lifecycle.path for s in stage.states}
    for state in lifecycle.states:
        marks = progress(lifecycle, state, [])
        assert [m.here for m in marks].count(True) == 1, state
        # A state on no stage is an ending or a pause off the path.
        assert state in on_path or state in lifecycle.final or state.value == "on_hold", state
