"""The API as people use it in the integration walks: each person with their own Bearer
token, checking each answer's status, and the helpers the walks share."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from flask.testing import FlaskClient
from pypdf import PdfReader

from tests.conftest import api_token
from tests.factories import PASSWORD
from tests.integration.conftest import wait_for
from workflow.accounts import operations as accounts
from workflow.accounts.models import Organization, User
from workflow.core.models import db
from workflow.timeutil import SHANGHAI


class Person:
    """One person at the API: their own Bearer token on the shared test client."""

    def __init__(self, client: FlaskClient, username: str, name: str) -> None:
        self.client, self.username, self.name = client, username, name
        self.headers = {"Authorization": f"Bearer {api_token(client, username, PASSWORD)}"}

    def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        resp = self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)
        body = resp.get_json(silent=True) if resp.is_json else resp.data
        assert resp.status_code == status, (
            f"{self.name}: {method} {path} -> {resp.status_code}, expected {status}: {body}")
        return body

    def get(self, path: str, status: int = 200, **kwargs: Any) -> Any:
        return self.call("GET", path, status, **kwargs)

    def post(self, path: str, json: Any = None, status: int = 200, **kwargs: Any) -> Any:
        return self.call("POST", path, status, json=json, **kwargs)

    def fire(self, collection: str, entity_id: int, trigger: str, status: int = 200,
             **body: Any) -> Any:
        """``POST /{collection}/{id}/transitions``: fire ``trigger`` (comment, data)."""
        return self.post(f"/{collection}/{entity_id}/transitions",
                         {"trigger": trigger, **body}, status=status)

    def refused(self, method: str, path: str, status: int, code: str, **kwargs: Any
                ) -> dict[str, Any]:
        """A refusal in the API's one error shape, with its code; the error returned."""
        body = self.call(method, path, status, **kwargs)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == code, body
        error: dict[str, Any] = body["error"]
        return error


def local(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def user(username: str, name: str, roles: list[str], org_id: int | None = None) -> User:
    """A user account: the one thing the API does not make (people come from the bureau's
    account administration)."""
    org = db.session.get(Organization, org_id) if org_id is not None else None
    return accounts.create_user(username, PASSWORD, roles, name=name,
                                email=f"{username}@example.cn", organization=org)


def history(person: Person, collection: str, entity_id: int) -> list[tuple[str, str, str]]:
    """The audit trail as (trigger, to state, role)."""
    trail = person.get(f"/{collection}/{entity_id}/history")["history"]
    return [(e["trigger"], e["to"], e["role"]) for e in trail]


def pdf_text(person: Person, doc: dict[str, Any]) -> str:
    data = person.get(doc["url"].removeprefix("/api/v1"))
    assert data.startswith(b"%PDF")
    return "".join(p.extract_text().replace("\n", "") for p in PdfReader(io.BytesIO(data)).pages)


def rendered(person: Person, app_id: int, kind: str) -> dict[str, Any]:
    """The document of ``kind`` the worker renders for the application, once it is listed."""
    def listed() -> dict[str, Any] | None:
        docs = person.get(f"/applications/{app_id}/documents")["items"]
        return next((d for d in docs if d["kind"] == kind), None)

    found: dict[str, Any] = wait_for(listed, timeout=120, interval=0.5,
                                     what=f"the worker to render the {kind}")
    return found
