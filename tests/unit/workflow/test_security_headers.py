"""What every answer tells the browser: HTTPS only in production, forms and <base> kept to
this site, and personal data never cached."""

import pytest

from tests.conftest import api_token
from tests.factories import PASSWORD, UserFactory
from workflow.core.models import db


@pytest.fixture
def bearer(client, app):
    UserFactory(username="li", roles=("applicant",))
    db.session.commit()
    return {"Authorization": "Bearer " + api_token(client, "li", PASSWORD)}


@pytest.fixture
def production(app):
    app.config["PRODUCTION"] = True
    yield
    app.config["PRODUCTION"] = False


def test_hsts_in_production_only(client, app):
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_hsts_in_production(client, production):
    for path in ("/login", "/api/openapi.json", "/verify"):
        assert client.get(path).headers["Strict-Transport-Security"] == \
            "max-age=31536000; includeSubDomains"


def test_forms_post_and_base_resolve_only_to_this_site(client, app):
    policy = client.get("/login").headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert directives["form-action"] == ["'self'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_personal_data_from_the_api_is_never_stored(client, bearer):
    me = client.get("/api/v1/me", headers=bearer)
    assert me.status_code == 200 and me.headers["Cache-Control"] == "no-store"
    listed = client.get("/api/v1/applications", headers=bearer)
    assert listed.headers["Cache-Control"] == "no-store"
    # Refusals too, and the token itself.
    assert client.get("/api/v1/me").headers["Cache-Control"] == "no-store"
    issued = client.post("/api/v1/auth/token", json={"username": "li", "password": PASSWORD})
    assert issued.status_code == 200 and issued.headers["Cache-Control"] == "no-store"


def test_public_api_answers_may_be_cached(client, app):
    assert "no-store" not in client.get("/api/openapi.json").headers.get("Cache-Control", "")
    resp = client.get("/api/v1/verify?sha256=" + "ab" * 32)
    assert resp.status_code == 200
    assert "no-store" not in resp.headers.get("Cache-Control", "")
