"""The ranking and the decision proposal of a large call on PostgreSQL (issue 19): the same
few statements with the same few bound parameters for 30 as for 20,000 applications (an
``IN`` of every id broke at 65,535), the JSON amounts read by PostgreSQL's operators."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import api_token
from tests.factories import PASSWORD
from tests.unit.workflow.test_ranking_scale import (
    _measure,
    _totals,
    check_the_database_ranks_as_the_pure_rank,
    make_call,
)
from tests.unit.workflow.test_ranking_scale import people as people
from workflow.decisions import operations as decisions
from workflow.review import ranking, results


def test_a_large_calls_ranking_and_proposal_in_a_few_bounded_statements(app, people):
    small, _ = make_call(people, 30)
    large, ids = make_call(people, 20000)
    for what in (results.call_results, decisions.draft):
        # (its time is bench/pages.py's to measure, at 100,000)
        small_params, _ = _measure(small, what)
        large_params, _ = _measure(large, what)
        assert large_params == small_params and len(large_params) <= 5
        assert max(large_params) < 40  # the call and its states, twice in one statement
    res = results.call_results(large)
    assert len(res.rows) == 20000
    # The best score; among equals the earliest submission (the later made, the earlier
    # submitted: ``make_call`` dates the i-th i minutes ago).
    _, top = max((ranking.aggregate(_totals(i), "trimmed"), i) for i in range(len(ids)))
    assert res.rows[0].app.id == ids[top] and res.rows[0].ranked.rank == 1
    assert all(r.app.requested > 0 for r in res.rows)  # data->'amount' on JSONB


@pytest.mark.parametrize(("seed", "challenged"), [(1, True), (2, True), (3, False)])
def test_postgresql_ranks_as_the_pure_rank(app, people, seed, challenged):
    check_the_database_ranks_as_the_pure_rank(people, seed, 2000, challenged)


def test_the_api_pages_a_large_ranking(app, people):
    call, _ = make_call(people, 250)
    client = app.test_client()
    headers = {"Authorization": "Bearer " + api_token(client, "officer", PASSWORD)}
    body: dict[str, Any] = client.get(f"/api/v1/calls/{call.id}/ranking?page=3&per_page=100",
                                      headers=headers).get_json()
    assert (body["total"], body["page"], body["pages"], len(body["items"])) == (250, 3, 3, 50)


pytestmark = pytest.mark.integration
