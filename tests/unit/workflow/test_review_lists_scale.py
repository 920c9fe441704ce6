"""The review lists at scale (issue 19): the expert's queue, the bureau's view of every
review and the midterm panel seats cost a fixed number of statements whatever the
number of rows, and are paginated with a total."""

from __future__ import annotations

from datetime import date

import pytest

from states import ApplicationState, MidtermState, ReviewState
from tests.conftest import api_token, login
from tests.factories import PASSWORD, ApplicationFactory, CallFactory, ReviewFactory, UserFactory
from tests.statements import flat
from workflow.core.models import db, utcnow
from workflow.midterm.models import MidtermReport, MidtermScore


@pytest.fixture
def people(app):
    return {
        "officer": UserFactory(username="officer", roles=("officer",), organization=None),
        "expert": UserFactory(username="expert", roles=("expert",)),
    }


def _reviews(expert, n: int) -> None:
    states = list(ReviewState)
    for i in range(n):
        call = CallFactory(hide_applicant=bool(i % 2))
        app = ApplicationFactory(call=call, state=ApplicationState.expert_review)
        ReviewFactory(application=app, expert=expert, state=states[i % len(states)])
    db.session.commit()


def _seats(expert, n: int) -> None:
    """``n`` midterm checks under review with the expert on the panel (every other one
    scored)."""
    for i in range(n):
        app = ApplicationFactory(state=ApplicationState.in_progress,
                                 project_number=f"GZKJ-2026-BG-{i:04d}-{utcnow().timestamp()}")
        report = MidtermReport(application=app, seq=1, state=MidtermState.reviewing,
                               due_on=date(2026, 6, 30))
        db.session.add(report)
        db.session.flush()
        db.session.add(MidtermScore(midterm_id=report.id, seq=1, expert_id=expert.id,
                                    assigned_at=utcnow(), score=80 if i % 2 else None,
                                    submitted_at=utcnow() if i % 2 else None))
    db.session.commit()


@pytest.mark.parametrize("url,who", [
    ("/reviews", "expert"), ("/reviews?state=submitted", "expert"),
    ("/reviews/all", "officer"),
])
def test_review_pages_are_flat(client, people, url, who):
    _reviews(people["expert"], 3)
    login(client, who, PASSWORD)
    flat(client, url, lambda: _reviews(people["expert"], 4))


@pytest.mark.parametrize("url", ["/midterm-scores", "/midterm-scores?scored=open",
                                 "/api/v1/midterm-scores"])
def test_midterm_seats_are_flat(client, people, url):
    _seats(people["expert"], 3)
    headers = {}
    if url.startswith("/api/"):
        headers = {"Authorization": "Bearer " + api_token(client, "expert", PASSWORD)}
        client.get(url, headers=headers)
    else:
        login(client, "expert", PASSWORD)
    flat(client, url, lambda: _seats(people["expert"], 4), headers=headers)


def test_the_queues_are_paginated_with_their_totals(client, people):
    _reviews(people["expert"], 12)
    _seats(people["expert"], 12)
    headers = {"Authorization": "Bearer " + api_token(client, "expert", PASSWORD)}
    first = client.get("/api/v1/reviews?per_page=5", headers=headers).get_json()
    assert (first["total"], first["pages"], len(first["items"])) == (12, 3, 5)
    assert sum(first["counts"].values()) <= 12
    # What waits on the expert comes first.
    states = [i["state"] for i in first["items"]]
    assert states[0] == "invited"
    last = client.get("/api/v1/reviews?per_page=5&page=3", headers=headers).get_json()
    assert len(last["items"]) == 2
    seats = client.get("/api/v1/midterm-scores?per_page=5", headers=headers).get_json()
    assert (seats["total"], seats["pages"]) == (12, 3)
    assert [i["scored"] for i in seats["items"]] == [False] * 5
    done = client.get("/api/v1/midterm-scores?scored=done", headers=headers).get_json()
    assert done["total"] == 6 and all(i["scored"] for i in done["items"])
    login(client, "expert", PASSWORD)
    page = client.get("/midterm-scores?per_page=10").get_data(as_text=True)
    assert "共 <strong>12</strong> 条，第 1–10 条" in page
    page = client.get("/reviews?per_page=10").get_data(as_text=True)
    assert "共 <strong>12</strong> 条，第 1–10 条" in page


@pytest.mark.parametrize("url,who", [("/api/v1/reviews", "expert")])
def test_review_api_is_flat(client, people, url, who):
    _reviews(people["expert"], 3)
    headers = {"Authorization": "Bearer " + api_token(client, who, PASSWORD)}
    client.get(url, headers=headers)  # the token's first use is recorded once
    flat(client, url, lambda: _reviews(people["expert"], 4), headers=headers)
