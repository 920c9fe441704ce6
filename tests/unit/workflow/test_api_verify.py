"""公文真伪验证 through the public API, as on the public page ``/verify/<code>``: the
document a code names (kind, title, number, date), and whether a file is the original."""

import hashlib

import pytest

from tests.factories import ApplicationFactory
from workflow.core.models import db
from workflow.documents import official
from workflow.documents.models import Document

PDF = b"%PDF-1.7 the stored original"
CODE = "K7Q2MX9DF4HTB3NR"


@pytest.fixture
def doc(app):
    row = ApplicationFactory(title="稀土永磁项目")
    d = Document(application_id=row.id, kind="notice", round=1,
                 title="关于稀土永磁项目立项的通知", doc_number="赣市科字〔2026〕15号",
                 code=CODE, sha256=hashlib.sha256(PDF).hexdigest(), size=len(PDF), pages=2)
    db.session.add(d)
    db.session.commit()
    return d


def test_a_code_names_its_document_without_an_account(client, doc):
    resp = client.get("/api/v1/verify/K7Q2-MX9D-F4HT-B3NR")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {
        "valid": True, "outcome": "found", "code": "K7Q2-MX9D-F4HT-B3NR",
        "document": {"kind": "notice", "kind_label": "立项通知书",
                     "title": "关于稀土永磁项目立项的通知", "doc_number": "赣市科字〔2026〕15号",
                     "created_at": doc.created_at.isoformat(), "pages": 2, "size": len(PDF),
                     "sha256": doc.sha256}}
    # The code as printed, as typed or as scanned: the same answer.
    for typed in (CODE, CODE.lower(), "k7q2 mx9d f4ht b3nr"):
        assert client.get(f"/api/v1/verify/{typed}").get_json()["code"] == \
            "K7Q2-MX9D-F4HT-B3NR"
    # What the page shows for the same code.
    page = client.get(f"/verify/{CODE}").get_data(as_text=True)
    for shown in ("关于稀土永磁项目立项的通知", "赣市科字〔2026〕15号", doc.sha256):
        assert shown in page


def test_a_file_is_checked_against_the_stored_original(client, doc):
    digest = hashlib.sha256(PDF).hexdigest()
    genuine = client.get(f"/api/v1/verify/{CODE}?sha256={digest.upper()}").get_json()
    assert (genuine["valid"], genuine["outcome"]) == (True, "genuine")
    altered = hashlib.sha256(PDF + b"%").hexdigest()
    different = client.get(f"/api/v1/verify/{CODE}?sha256={altered}").get_json()
    assert (different["valid"], different["outcome"]) == (False, "different")
    assert different["document"]["sha256"] == digest  # the original's, to compare
    # By the file's hash alone, as the page's form without a code.
    by_hash = client.get(f"/api/v1/verify?sha256={digest}").get_json()
    assert (by_hash["valid"], by_hash["outcome"], by_hash["code"]) == (
        True, "genuine", "K7Q2-MX9D-F4HT-B3NR")
    unknown = client.get(f"/api/v1/verify?sha256={altered}")
    assert unknown.status_code == 200 and unknown.get_json() == {
        "valid": False, "outcome": "unknown", "code": None, "document": None}


@pytest.mark.parametrize("url", [
    f"/api/v1/verify/{CODE}?sha256=abc",
    f"/api/v1/verify/{CODE}?sha256=" + "g" * 64,
    "/api/v1/verify",
    "/api/v1/verify?sha256=",
    "/api/v1/verify?sha256=" + "0" * 63,
])
def test_a_malformed_hash_is_refused_naming_it(client, doc, url):
    resp = client.get(url)
    assert resp.status_code == 422 and "sha256" in resp.get_json()["error"]["details"]


@pytest.mark.parametrize("code", ["AAAA-BBBB-CCCC-DDDD", "x" * 500, "K7Q2"])
def test_an_unknown_code_is_not_found_as_on_the_page(client, doc, code):
    resp = client.get(f"/api/v1/verify/{code}")
    assert resp.status_code == 404
    assert resp.get_json()["error"]["message"] == "未找到该验证码对应的文件"
    assert client.get(f"/verify/{code}").status_code == 404


def test_the_spec_says_verification_is_public_and_the_code_is_a_string(client, app):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    by_code = paths["/api/v1/verify/{code}"]["get"]
    assert "security" not in by_code and "公开" in by_code["summary"]
    params = {p["name"]: p for p in by_code["parameters"]}
    assert params["code"]["schema"]["type"] == "string" and params["code"]["in"] == "path"
    assert params["sha256"]["required"] is False
    schema = by_code["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"]["outcome"]["enum"] == ["found", "genuine", "different",
                                                       "unknown"]
    assert schema["properties"]["document"]["properties"]["kind"]["enum"] == list(
        official.KINDS)
    by_hash = paths["/api/v1/verify"]["get"]
    assert "security" not in by_hash
    assert [(p["name"], p["required"]) for p in by_hash["parameters"]] == [("sha256", True)]
    # A path parameter that is not an id is a string (it was said to be an integer).
    attachment = paths["/api/v1/applications/{app_id}/attachments/{sha256}"]["get"]
    kinds = {p["name"]: p["schema"]["type"] for p in attachment["parameters"]}
    assert kinds == {"app_id": "integer", "sha256": "string"}
