"""The ranking of a large call (issue 19): its results are read in a fixed number of
statements with a fixed number of bound parameters, whatever the number of applications
(PostgreSQL takes at most 65,535 parameters in one statement: an ``IN`` of every
application id broke the ranking of a call of 100,000); the page and the API list are
paginated while the funding line runs over the whole call."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from states import ApplicationState, CallState, ReviewState
from tests.conftest import api_token, login
from tests.factories import (
    PASSWORD,
    CallFactory,
    ChallengeFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.statements import Statements
from workflow.applying.models import Application
from workflow.calls.models import Scheme
from workflow.core.models import db, utcnow
from workflow.decisions import operations as decisions
from workflow.review import ranking, results
from workflow.review.models import ReviewAssignment

EXPERTS = 5


@pytest.fixture
def people(app):
    org = OrganizationFactory(name="赣南科技大学")
    return {
        "officer": UserFactory(username="officer", roles=("officer",), organization=None),
        "pi": UserFactory(username="pi", roles=("applicant",), organization=org),
        "experts": [UserFactory(roles=("expert",)) for _ in range(EXPERTS)],
    }


def _totals(i: int) -> list[Decimal]:
    """Two to five totals; every seventh application's experts disagree widely."""
    count = 2 + i % 4
    base = Decimal(50 + i % 37)
    wide = Decimal(35) if i % 7 == 0 else Decimal(0)
    return [base + Decimal(k) - (wide if k == 0 else 0) for k in range(count)]


def make_call(people, n: int):
    """A call under review with ``n`` reviewed applications (inserted in bulk)."""
    call = CallFactory(state=CallState.reviewing, budget=Decimal("5000000.00"),
                       opens_at=utcnow() - timedelta(days=30),
                       closes_at=utcnow() - timedelta(days=1))
    db.session.flush()
    pi = people["pi"]
    now = utcnow()
    db.session.execute(sa.insert(Application), [{
        "call_id": call.id, "applicant_id": pi.id, "organization_id": pi.organization_id,
        "title": f"规模测试项目{i:04d}号", "state": ApplicationState.reviewed,
        "data": {"summary": "x", "amount": f"{100000 + 1000 * (i % 50)}.00"},
        "submitted_at": now - timedelta(minutes=i)} for i in range(n)])
    ids = list(db.session.scalars(sa.select(Application.id).where(
        Application.call_id == call.id).order_by(Application.id)))
    db.session.execute(sa.insert(ReviewAssignment), [{
        "application_id": app_id, "expert_id": people["experts"][k].id,
        "state": ReviewState.submitted, "total": total, "submitted_at": now,
        "scores": {"innovation": str(total), "feasibility": str(total)}}
        for i, app_id in enumerate(ids) for k, total in enumerate(_totals(i))])
    results.rescore(call)  # written in bulk: their sums kept as an import keeps them
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # As autovacuum would after a call's reviews: the planner's estimates of the
        # bulk-inserted rows (without them it loops over every application).
        db.session.execute(sa.text("ANALYZE application"))
        db.session.execute(sa.text("ANALYZE review_assignment"))
        db.session.commit()
    return call, ids


def _measure(call, what):
    db.session.expire_all()
    call = db.session.get(type(call), call.id)
    with Statements() as seen:
        out = what(call)
    return seen.params, out


@pytest.mark.parametrize("what", [
    lambda call: results.call_results(call),
    lambda call: results.call_results(call, criteria=True),
    lambda call: decisions.draft(call),
], ids=["ranking", "score_sheet", "decision_proposal"])
def test_the_results_sql_does_not_grow_with_the_call(people, what):
    small, _ = make_call(people, 30)
    large, _ = make_call(people, 300)
    small_params, _ = _measure(small, what)
    large_params, _ = _measure(large, what)
    # The same statements, with the same parameters, for 30 as for 300 applications.
    assert len(large_params) == len(small_params) <= 5
    assert large_params == small_params
    assert max(large_params) < 40  # one statement: the call and its states, twice


@pytest.mark.parametrize("rule", ["trimmed", "mean", "median"])
def test_a_large_calls_ranking_is_the_pure_rankings(people, rule):
    """The database aggregates the totals (issue 19); each rule gives what the pure
    ``ranking.aggregate`` gives on the same totals, to the cent."""
    call, ids = make_call(people, 300)
    call.aggregation = rule
    db.session.commit()
    results.rescore(call)
    db.session.commit()
    res = results.call_results(call)
    assert len(res.rows) == 300
    totals = {app_id: _totals(i) for i, app_id in enumerate(ids)}
    submitted = {app_id: utcnow() - timedelta(minutes=i) for i, app_id in enumerate(ids)}
    expected = ranking.rank([ranking.Entry(
        id=app_id, group=None, score=ranking.aggregate(totals[app_id], rule),
        requested=Decimal(f"{100000 + 1000 * (i % 50)}.00"), submitted_at=submitted[app_id])
        for i, app_id in enumerate(ids)])
    assert [(r.app.id, r.ranked.rank, r.aggregate) for r in res.rows] == [
        (e.id, e.rank, e.score) for e in expected]
    assert [r.count for r in res.rows] == [len(totals[e.id]) for e in expected]
    # Rows are built when read, once each: a page holds the whole list's rows.
    assert res.rows[-1] is res.rows[299] is list(res.rows)[-1]
    assert res.rows[100:200] == list(res.rows)[100:200]
    with pytest.raises(IndexError):
        res.rows[300]
    # A page's totals are read for its rows only; the score sheet reads every row's.
    page, _ = results.page_of(res.rows, 2)
    assert page[0] is res.rows[100]
    assert all(not r.totals for r in page)
    results.with_totals(res, page)
    for r in page:
        assert r.totals == totals[r.app.id]
        assert r.spread == ranking.spread(totals[r.app.id], call.spread_stdev_limit)
    sheet = results.call_results(call, criteria=True)
    assert {r.app.id: r.totals for r in sheet.rows} == totals
    assert sum(r.spread.flagged for r in sheet.rows) == len(range(0, 300, 7))
    assert res.line.total_funded <= call.budget and res.line.funded


def check_the_database_ranks_as_the_pure_rank(people, seed: int, n: int,
                                              challenged: bool = True) -> None:
    """The database ranks (``results._ranking``) as ``ranking.rank`` does and the funding
    line runs in the order it gives: challenges whose ids sort differently as text and as
    numbers, scores that tie once rounded, equal and missing submission times, applications
    without a score, team limits, both kinds of line; and a call without challenges (one
    group, which the database orders once)."""
    rnd = random.Random(seed)
    call = CallFactory(state=CallState.reviewing,
                       scheme=Scheme.jiebang if challenged else Scheme.baogan,
                       budget=Decimal(rnd.randrange(10, 60) * 100000))
    db.session.flush()
    challenges = [ChallengeFactory(call=call, max_teams=rnd.randint(1, 3))
                  for _ in range(11 if challenged else 0)]
    db.session.flush()
    pi, now = people["pi"], utcnow()
    times = [now - timedelta(minutes=m) for m in range(5)] + [None]
    rows = []
    for i in range(n):
        count = rnd.choice([0, 1, 2, 3, 5, 6])
        kept = count - 2 if count >= 5 else count
        rows.append({
            "call_id": call.id, "applicant_id": pi.id, "organization_id": pi.organization_id,
            "challenge_id": rnd.choice([None, *(c.id for c in challenges)]),
            "title": f"排名{i}", "state": ApplicationState.reviewed,
            "data": {"amount": f"{rnd.randrange(1, 20) * 50000}.00"},
            "submitted_at": rnd.choice(times), "review_count": count,
            "review_kept": kept or None,
            "review_cents": rnd.randrange(7000, 7010) * kept if kept else None})
    db.session.execute(sa.insert(Application), rows)
    db.session.commit()
    apps = db.session.execute(sa.select(
        Application.id, Application.challenge_id, Application.submitted_at,
        Application.review_count, Application.review_kept, Application.review_cents,
        Application.data).where(Application.call_id == call.id)).all()
    entries = [ranking.Entry(
        id=a.id, group=str(a.challenge_id) if a.challenge_id else None,
        score=ranking.from_cents(a.review_cents, a.review_kept) if a.review_count else None,
        requested=Decimal(a.data["amount"]),
        submitted_at=None if a.submitted_at is None else a.submitted_at.replace(tzinfo=None))
        for a in apps]
    assert len({e.score for e in entries}) < n // 4  # ties aplenty
    expected = ranking.rank(entries)
    limits = {str(c.id): c.max_teams for c in challenges}
    for skip in (False, True):
        res = results.call_results(call, skip_unaffordable=skip)
        assert [r.ranked for r in res.rows] == expected
        assert [r.aggregate for r in res.rows] == [e.score for e in expected]
        assert res.line == ranking.funding_line(expected, call.budget, per_group_limit=limits,
                                                skip_unaffordable=skip)
        assert res.line.funded and res.line.stopped_at
        # a team limit met
        assert "group_full" in res.line.status.values() or not skip or not challenged


@pytest.mark.parametrize(("seed", "challenged"), [(1, True), (2, True), (3, False)])
def test_the_database_ranks_as_the_pure_rank(people, seed, challenged):
    check_the_database_ranks_as_the_pure_rank(people, seed, 400, challenged)


@pytest.mark.parametrize("rule", ["trimmed", "mean", "median"])
def test_the_database_rounds_as_the_pure_aggregate(people, rule):
    """Half cents in every rule: 1 to 7 scores ending in .xx whose means land on and
    around half a cent."""
    call = CallFactory(state=CallState.reviewing, aggregation=rule)
    db.session.flush()
    pi = people["pi"]
    cases = [[Decimal("80.01"), Decimal("80.02")], [Decimal("70.00")] * 3 + [Decimal("70.01")],
             [Decimal("60.05"), Decimal("60.10"), Decimal("99.99"), Decimal("0.00"),
              Decimal("75.33"), Decimal("75.34")],
             [Decimal("88.88"), Decimal("12.35"), Decimal("45.67"), Decimal("45.68"),
              Decimal("45.69"), Decimal("100.00"), Decimal("0.01")], [Decimal("33.33")]]
    experts = [UserFactory(roles=("expert",)) for _ in range(7)]
    apps = []
    for n, case in enumerate(cases):
        db.session.execute(sa.insert(Application), [{
            "call_id": call.id, "applicant_id": pi.id, "organization_id": pi.organization_id,
            "title": f"舍入{n}", "state": ApplicationState.reviewed,
            "data": {"amount": "1000.00"}, "submitted_at": utcnow()}])
        app_id = db.session.scalar(sa.select(sa.func.max(Application.id)))
        apps.append(app_id)
        db.session.execute(sa.insert(ReviewAssignment), [{
            "application_id": app_id, "expert_id": experts[k].id,
            "state": ReviewState.submitted, "total": total, "submitted_at": utcnow()}
            for k, total in enumerate(case)])
    db.session.commit()
    results.rescore(call)
    db.session.commit()
    got = {r.app.id: r.aggregate for r in results.call_results(call).rows}
    assert got == {app_id: ranking.aggregate(case, rule)
                   for app_id, case in zip(apps, cases, strict=True)}


def test_the_api_ranking_is_paginated_and_the_line_runs_over_the_call(client, people):
    call, _ = make_call(people, 230)
    headers = {"Authorization": "Bearer " + api_token(client, "officer", PASSWORD)}
    whole = results.call_results(call)
    first = client.get(f"/api/v1/calls/{call.id}/ranking", headers=headers).get_json()
    assert (first["total"], first["page"], first["per_page"], first["pages"]) == (230, 1, 50, 5)
    assert [i["application_id"] for i in first["items"]] == [r.app.id for r in whole.rows[:50]]
    last = client.get(f"/api/v1/calls/{call.id}/ranking?page=3&per_page=100",
                      headers=headers).get_json()
    assert (last["page"], last["pages"], len(last["items"])) == (3, 3, 30)
    assert [i["application_id"] for i in last["items"]] == [r.app.id for r in whole.rows[200:]]
    # The funding line is the whole call's on every page.
    assert first["funded_wan"] == last["funded_wan"]
    assert [i["funded"] for i in last["items"]] == [
        whole.line.is_funded(r.app.id) for r in whole.rows[200:]]
    beyond = client.get(f"/api/v1/calls/{call.id}/ranking?page=99&per_page=100",
                        headers=headers).get_json()
    assert beyond["page"] == 3 and len(beyond["items"]) == 30
    for bad in ("page=abc", "page=-1", "per_page=0", "page=²", "per_page=" + "9" * 40):
        status = client.get(f"/api/v1/calls/{call.id}/ranking?{bad}", headers=headers).status_code
        assert status in (200, 422), bad


def test_the_ranking_page_shows_a_page_with_the_total(client, people):
    call, _ = make_call(people, 230)
    whole = results.call_results(call)
    login(client, "officer", PASSWORD)
    page = client.get(f"/calls/{call.id}/ranking").get_data(as_text=True)
    assert "共 230 项，第 1/3 页" in page and 'data-testid="ranking-pages"' in page
    assert whole.rows[99].app.title in page and whole.rows[100].app.title not in page
    second = client.get(f"/calls/{call.id}/ranking?page=2&budget=100").get_data(as_text=True)
    assert "第 2/3 页" in second and whole.rows[100].app.title in second
    assert "budget=100" in second  # the page links keep the budget tried
    for bad in ("abc", "-3", "²", "9" * 40):
        assert client.get(f"/calls/{call.id}/ranking?page={bad}").status_code == 200
