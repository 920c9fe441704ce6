"""The permission predicates, and the one refusal rule across pages and the API: 404 for
an object the person may not know exists, 403 for one they see but may not act on (or
a page that addresses no object), 200 when they may."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from states import ApplicationState, CallState, ReviewState
from tests.conftest import api_token, client_for
from tests.factories import (
    PASSWORD,
    ApplicationFactory,
    CallFactory,
    ChallengeFactory,
    OrganizationFactory,
    ReviewFactory,
    UserFactory,
)
from workflow import permissions as perm
from workflow.core.errors import Forbidden, NotFound
from workflow.core.models import db


class Person(SimpleNamespace):
    def has_role(self, *roles: str) -> bool:
        return bool(set(roles) & set(self.roles))


def person(*roles: str, id: int = 1, org: int | None = 10) -> Person:
    return Person(id=id, roles=roles, organization_id=org)


# ---- the predicates, on rows taken duck-typed ---------------------------------------------

def test_demand_side_reads_an_application_or_a_challenge():
    challenge = SimpleNamespace(demand_org_id=10)
    app = SimpleNamespace(challenge=challenge, applicant_id=2, organization_id=20)
    assert perm.demand_side(person("demand"), app)
    assert perm.demand_side(person("demand"), challenge)
    assert not perm.demand_side(person("demand", org=11), app)
    assert not perm.demand_side(person("applicant"), app)  # the organisation alone is not it
    assert not perm.demand_side(person("demand"), SimpleNamespace(challenge=None))
    assert not perm.demand_side(person("demand", org=None), challenge)
    assert not perm.demand_side(None, app)


def test_principal_investigator_and_organization_member():
    app = SimpleNamespace(applicant_id=1, organization_id=10, challenge=None)
    assert perm.principal_investigator(person("applicant"), app)
    assert not perm.principal_investigator(person("applicant", id=2), app)
    assert not perm.principal_investigator(person("org_admin"), app)
    assert perm.organization_member(person("org_admin", id=5), app)
    assert not perm.organization_member(person("org_admin", org=11), app)
    assert not perm.organization_member(person("officer"), app)


def test_live_review_ends_with_the_invitation():
    for state in ReviewState:
        review = SimpleNamespace(expert_id=1, state=state)
        assert perm.own_review(person("expert"), review)
        assert perm.live_review(person("expert"), review) is (
            state.value in ("invited", "accepted", "submitted")), state
    assert not perm.live_review(person("expert", id=2),
                                SimpleNamespace(expert_id=1, state=ReviewState.accepted))


def test_predicates_compose():
    yes = perm.has_role("officer")
    assert perm.any_of(perm.has_role("finance"), yes)(person("officer"))
    assert not perm.all_of(perm.has_role("finance"), yes)(person("officer"))
    assert perm.money_reader(person("auditor")) and not perm.money_reader(person("admin"))
    assert perm.bank_account_reader(person("org_admin"), SimpleNamespace(id=10))
    assert not perm.bank_account_keeper(person("finance"), SimpleNamespace(id=10))
    assert not perm.has_role("officer")(None)


def test_the_refusal_rule_in_one_place():
    row = object()
    assert perm.found(row, person("officer"), perm.officer) is row
    with pytest.raises(NotFound):
        perm.found(None, person("officer"), perm.officer)
    with pytest.raises(NotFound):
        perm.found(row, person("applicant"), perm.officer)
    perm.allow(True)
    with pytest.raises(Forbidden):
        perm.allow(False, "不行")


def test_templates_read_the_same_predicates(app):
    rendered = app.jinja_env.from_string(
        "{{ perm.money_reader(u) }} {{ perm.demand_side(u, row) }}").render(
        u=person("finance"), row=SimpleNamespace(challenge=None))
    assert rendered == "True False"


# ---- (role, object, action) -> 404 / 403 / 200 --------------------------------------------

@pytest.fixture
def world(app):
    org, other_org = OrganizationFactory(), OrganizationFactory()
    people = {
        "officer": UserFactory(roles=("officer",)),
        "leader": UserFactory(roles=("leader",)),
        "finance": UserFactory(roles=("finance",)),
        "auditor": UserFactory(roles=("auditor",)),
        "pi": UserFactory(roles=("applicant",), organization=org),
        "colleague": UserFactory(roles=("applicant",), organization=org),
        "stranger": UserFactory(roles=("applicant",), organization=other_org),
        "expert": UserFactory(roles=("expert",), organization=other_org),
        "demand": UserFactory(roles=("demand",)),
    }
    reviewing = CallFactory(state=CallState.reviewing)
    challenge = ChallengeFactory(demand_org=people["demand"].organization)
    objects = {
        "draft": CallFactory(state=CallState.draft),
        "published": CallFactory(state=CallState.published),
        "reviewing": reviewing,
        "app": ApplicationFactory(call=reviewing, applicant=people["pi"],
                                  state=ApplicationState.expert_review),
        "taken": ApplicationFactory(call=challenge.call, challenge=challenge,
                                    applicant=people["stranger"],
                                    state=ApplicationState.formal_review),
    }
    objects["review"] = ReviewFactory(application=objects["app"], expert=people["expert"],
                                      state=ReviewState.accepted)
    db.session.commit()
    ids = {k: v.id for k, v in objects.items()}
    return people, ids


# (who, method, path, status); {name} is the object's id.
TABLE = [
    # An application: hidden from whoever may not see it, refused to whoever sees it.
    ("stranger", "GET", "/applications/{app}", 404),
    ("colleague", "GET", "/applications/{app}", 200),
    ("pi", "GET", "/applications/{app}", 200),
    ("officer", "GET", "/applications/{app}", 200),
    ("demand", "GET", "/applications/{taken}", 200),
    ("demand", "GET", "/applications/{app}", 404),
    ("colleague", "POST", "/api/v1/applications/{app}/submit", 403),
    ("stranger", "POST", "/api/v1/applications/{app}/submit", 404),
    ("stranger", "GET", "/api/v1/applications/{app}", 404),
    ("pi", "POST", "/api/v1/applications/{app}/transitions", 403),
    ("stranger", "POST", "/api/v1/applications/{app}/transitions", 404),
    # A call: drafts stay with the bureau; what is behind a call someone sees is refused.
    ("stranger", "GET", "/calls/{draft}", 404),
    ("stranger", "GET", "/calls/{draft}/edit", 404),
    ("stranger", "GET", "/calls/{published}/edit", 403),
    ("officer", "GET", "/calls/{published}/edit", 200),
    ("pi", "GET", "/calls/{reviewing}/assign", 403),
    ("officer", "GET", "/calls/{reviewing}/assign", 200),
    ("pi", "GET", "/calls/{reviewing}/ranking", 403),
    ("leader", "GET", "/calls/{reviewing}/ranking", 200),
    ("pi", "GET", "/api/v1/calls/{reviewing}/ranking", 403),
    ("pi", "GET", "/api/v1/calls/{draft}/ranking", 404),
    ("auditor", "GET", "/api/v1/calls/{reviewing}/ranking", 200),
    ("pi", "GET", "/calls/{reviewing}/decision", 403),
    ("leader", "GET", "/calls/{reviewing}/decision", 200),
    ("pi", "GET", "/api/v1/calls/{reviewing}/decision", 403),
    ("pi", "GET", "/api/v1/calls/{draft}/decision", 404),
    ("pi", "GET", "/calls/{reviewing}/defence", 403),
    ("pi", "GET", "/calls/{reviewing}/ledger", 403),
    ("finance", "GET", "/calls/{reviewing}/ledger", 200),
    ("finance", "GET", "/calls/{draft}/ledger", 404),
    ("pi", "GET", "/api/v1/budgets/{reviewing}/ledger", 403),
    ("finance", "GET", "/api/v1/budgets/{reviewing}/ledger", 200),
    # A review: its expert acts on it; the bureau sees it and may not score it.
    ("expert", "GET", "/reviews/{review}/score", 200),
    ("officer", "GET", "/reviews/{review}/score", 403),
    ("pi", "GET", "/reviews/{review}/score", 404),
    ("pi", "GET", "/reviews/{review}", 404),
    ("officer", "GET", "/reviews/{review}", 200),
    ("expert", "PUT", "/api/v1/reviews/{review}/scores", 200),
    ("officer", "PUT", "/api/v1/reviews/{review}/scores", 403),
    ("pi", "PUT", "/api/v1/reviews/{review}/scores", 404),
    ("officer", "POST", "/api/v1/reviews/{review}/decline", 403),
    # Pages that address no object: no secret, refused.
    ("pi", "GET", "/finance", 403),
    ("finance", "GET", "/finance", 200),
    ("pi", "GET", "/finance/reconcile", 403),
    ("pi", "GET", "/api/v1/finance/reconciliation", 403),
    ("finance", "GET", "/api/v1/finance/reconciliation", 200),
    ("pi", "GET", "/experts", 403),
    ("officer", "GET", "/experts", 200),
    ("pi", "GET", "/reviews", 403),
    ("expert", "GET", "/reviews", 200),
    ("pi", "GET", "/integrity", 403),
    ("pi", "GET", "/calls/new", 403),
    ("pi", "GET", "/notifications", 403),
    ("pi", "GET", "/mail", 403),
    ("pi", "GET", "/organization/bank", 403),
]
JSON_BODIES = {"/transitions": {"trigger": "finish_review"}, "/scores": {"scores": {}},
               "/decline": {"reason": "有事"}}


def test_who_gets_404_403_or_200(app, world):
    people, ids = world
    pages = {who: client_for(app, people[who].username, PASSWORD) for who in people}
    api = app.test_client()
    tokens = {who: {"Authorization": "Bearer " + api_token(api, people[who].username,
                                                           PASSWORD)} for who in people}
    wrong = []
    for who, method, path, status in TABLE:
        url = path.format(**ids)
        if url.startswith("/api/"):
            body = next((b for end, b in JSON_BODIES.items() if url.endswith(end)), None)
            resp = api.open(url, method=method, headers=tokens[who], json=body)
        else:
            resp = pages[who].open(url, method=method)
        if resp.status_code != status:
            wrong.append(f"{who} {method} {url}: {resp.status_code}, expected {status}")
    assert not wrong, "\n".join(wrong)
