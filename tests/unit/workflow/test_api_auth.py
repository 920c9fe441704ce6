from tests.conftest import api_token
from tests.factories import PASSWORD, UserFactory
from workflow.core.models import db


def error_of(resp):
    body = resp.get_json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    return body["error"]


def test_token_then_me(client):
    UserFactory(username="li", name="李明", roles=("applicant",))
    db.session.commit()
    token = api_token(client, "li", PASSWORD)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    body = me.get_json()
    assert body["username"] == "li" and body["name"] == "李明" and body["roles"] == ["applicant"]
    assert body["organization"]["uscc"]


def test_wrong_password_is_401_json(client):
    UserFactory(username="li")
    db.session.commit()
    resp = client.post("/api/v1/auth/token", json={"username": "li", "password": "nope-nope"})
    assert resp.status_code == 401
    assert error_of(resp)["message"] == "用户名或密码错误"


def test_malformed_json_is_400_with_a_message(client):
    resp = client.post("/api/v1/auth/token", data="{not json",
                       content_type="application/json")
    assert resp.status_code == 400
    assert "JSON" in error_of(resp)["message"]


def test_form_body_is_415(client):
    resp = client.post("/api/v1/auth/token", data={"username": "a"})
    assert resp.status_code == 415


def test_missing_fields_are_422_with_details(client):
    resp = client.post("/api/v1/auth/token", json={"username": 5})
    assert resp.status_code == 422
    assert set(error_of(resp)["details"]) == {"username", "password"}


def test_me_without_or_with_a_bad_token_is_401(client):
    assert error_of(client.get("/api/v1/me"))["code"] == "unauthenticated"
    resp = client.get("/api/v1/me", headers={"Authorization": "Bearer forged.token.here"})
    assert resp.status_code == 401 and error_of(resp)["message"] == "令牌无效"


def test_password_change_invalidates_tokens(client):
    from workflow.accounts import operations as accounts

    user = UserFactory(username="li")
    db.session.commit()
    token = api_token(client, "li", PASSWORD)
    accounts.set_password(user, "another-long-secret")
    db.session.commit()
    resp = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401


def test_unknown_api_path_is_json_404(client):
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and error_of(resp)["code"] == "not_found"


def test_wrong_method_is_json_405(client):
    resp = client.get("/api/v1/auth/token")
    assert resp.status_code == 405 and error_of(resp)["code"] == "method_not_allowed"


def test_openapi_lists_the_routes(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "post" in spec["paths"]["/api/v1/auth/token"]
    assert spec["paths"]["/api/v1/me"]["get"]["security"] == [{"bearer": []}]
