"""The post-award lists and the other lists at scale (issue 19): each page and API list
costs the same few statements however many rows it lists (no lazy load per row), as each
role that sees it, and is paginated with its total."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from itertools import count

import pytest

from states import (
    AcceptanceState,
    ApplicationState,
    ChangeState,
    EvaluationState,
    MidtermState,
    ObjectionState,
)
from tests.conftest import api_token, login
from tests.factories import (
    PASSWORD,
    AnnualReportFactory,
    ApplicationFactory,
    ChangeRequestFactory,
    IssuedNumberFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.statements import flat
from workflow.acceptance.models import Acceptance, AcceptanceMember
from workflow.accounts.models import Sanction
from workflow.core.models import db, utcnow
from workflow.decisions.models import Objection
from workflow.evaluation.models import DIMENSIONS, Evaluation, Grade
from workflow.midterm.models import MidtermReport, MidtermScore
from workflow.notify.models import Notification

SERIAL = count(1)


@pytest.fixture
def people(app):
    org = OrganizationFactory(name="赣南科技大学")
    return {
        "officer": UserFactory(username="officer", roles=("officer",), organization=None),
        "leader": UserFactory(username="leader", roles=("leader",), organization=None),
        "auditor": UserFactory(username="auditor", roles=("auditor",), organization=None),
        "pi": UserFactory(username="pi", roles=("applicant",), organization=org),
        "unit": UserFactory(username="unit", roles=("org_admin",), organization=org),
        "expert": UserFactory(username="expert", roles=("expert",)),
    }


def _project(people, i: int, state=ApplicationState.in_progress):
    """A running project: every other one the PI's (of the PI's organisation), the others
    each of a new applicant and organisation; each of its own call."""
    n = next(SERIAL)
    kw = {"applicant": people["pi"]} if i % 2 else {}
    return ApplicationFactory(state=state, project_number=f"GZKJ-2026-BG-{n:05d}",
                              granted_amount=Decimal("500000.00"), approved_at=utcnow(),
                              doc_number=f"赣市科字〔2026〕{n}号", **kw)


def changes(people, n):
    for i in range(n):
        ChangeRequestFactory(application=_project(people, i), state=ChangeState.submitted,
                             submitted_at=utcnow())


def midterms(people, n):
    for i in range(n):
        report = MidtermReport(application=_project(people, i), seq=1,
                               state=MidtermState.reviewing, due_on=date(2026, 6, 30))
        db.session.add(report)
        db.session.flush()
        db.session.add(MidtermScore(midterm_id=report.id, seq=1, expert_id=people["expert"].id,
                                    assigned_at=utcnow()))


def acceptances(people, n):
    for i in range(n):
        db.session.add(Acceptance(
            application=_project(people, i, ApplicationState.acceptance),
            state=AcceptanceState.panel_review, submitted_at=utcnow(),
            submitted_by_id=people["pi"].id,
            members=[AcceptanceMember(seq=1, role="expert", user_id=people["expert"].id,
                                      scores={})]))


def evaluations(people, n):
    for i in range(n):
        db.session.add(Evaluation(
            application=_project(people, i, ApplicationState.completed),
            state=EvaluationState.proposed, closure="completed", closed_on=date(2026, 11, 1),
            proposed={d: 20 for d in DIMENSIONS}, proposed_grade=Grade.good, grade=Grade.good,
            proposed_total=80, total=80))


def annual_reports(people, n):
    for i in range(n):
        AnnualReportFactory(application=_project(people, i))


def numbers(people, n):
    for i in range(n):
        IssuedNumberFactory(application=_project(people, i))


def notifications(people, n):
    for i in range(n):
        user = people["pi"] if i % 2 else UserFactory()
        db.session.add(Notification(key=f"scale:{next(SERIAL)}", user_id=user.id,
                                    topic="test", title=f"消息{i}", body="正文",
                                    channel="email", address=user.email))


def inbox(people, n):
    for i in range(n):
        db.session.add(Notification(key=f"scale:{next(SERIAL)}", user_id=people["pi"].id,
                                    topic="test", title=f"消息{i}", body="正文"))


def sanctions(people, n):
    today = utcnow().date()
    for i in range(n):
        db.session.add(Sanction(subject="person", name=f"失信人员{next(SERIAL)}",
                                id_number=f"36210119800101{next(SERIAL):04d}", reason="抄袭",
                                starts_on=today - timedelta(days=i + 1),
                                ends_on=today + timedelta(days=300)))


def objections(people, n):
    for i in range(n):
        app = _project(people, i, ApplicationState.objection)
        db.session.add(Objection(application_id=app.id, name="赵六", contact="13900000000",
                                 organization="某研究所", text="申报材料中的中试数据与实际不符",
                                 state=ObjectionState.open))


def on_notice(people, n):
    for i in range(n):
        _project(people, i, ApplicationState.public_notice).notice_started_at = utcnow()


LISTS: list[tuple[str, Callable[..., None], tuple[str, ...]]] = [
    ("/changes", changes, ("officer", "pi", "unit", "auditor")),
    ("/api/v1/changes", changes, ("officer", "pi", "unit")),
    ("/midterms", midterms, ("officer", "pi", "unit", "expert")),
    ("/api/v1/midterms", midterms, ("officer", "pi", "expert")),
    ("/acceptances", acceptances, ("officer", "pi", "unit", "expert")),
    ("/api/v1/acceptances", acceptances, ("officer", "pi", "expert")),
    ("/evaluations", evaluations, ("officer", "leader", "pi")),
    ("/api/v1/evaluations", evaluations, ("officer", "pi")),
    ("/annual-reports", annual_reports, ("officer", "unit", "auditor")),
    ("/api/v1/annual-reports", annual_reports, ("officer", "pi")),
    ("/admin/numbering/documents", numbers, ("officer",)),
    ("/api/v1/doc-numbers", numbers, ("officer",)),
    ("/notifications", notifications, ("officer",)),
    ("/api/v1/notifications", notifications, ("officer",)),
    ("/inbox", inbox, ("pi",)),
    ("/api/v1/me/inbox", inbox, ("pi",)),
    ("/integrity", sanctions, ("officer", "auditor")),
    ("/api/v1/integrity", sanctions, ("officer",)),
    ("/objections", objections, ("officer", "leader")),
    ("/public/notices", on_notice, ("",)),
    ("/api/v1/notices", on_notice, ("",)),
]
CASES = [(url, make, who) for url, make, roles in LISTS for who in roles]


@pytest.mark.parametrize("url,make,who", CASES,
                         ids=[f"{url}-{who or 'public'}" for url, _, who in CASES])
def test_the_list_is_flat(client, people, url, make, who):
    make(people, 3)
    db.session.commit()
    headers = {}
    if who and url.startswith("/api/"):
        headers = {"Authorization": "Bearer " + api_token(client, who, PASSWORD)}
        client.get(url, headers=headers)  # the token's first use is recorded once
    elif who:
        login(client, who, PASSWORD)
    flat(client, url, lambda: make(people, 4), headers=headers)
