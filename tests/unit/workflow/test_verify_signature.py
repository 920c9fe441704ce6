"""公文真伪验证 of an uploaded file, on the public page and through POST /api/v1/verify:
the stored original and the digital signature, for a genuine file, a tampered one, an
unsigned one and one signed by someone else."""

import io
from decimal import Decimal

import pytest

from tests import signing_ca
from tests.conftest import csrf_of
from workflow.core.models import utcnow
from workflow.documents import official, pdf, signing
from workflow.timeutil import local_time


@pytest.fixture
def issued(app):
    """A 立项通知书 issued the way the worker issues it."""
    return signing_ca.issue_notice("GZKJ-2026-BG-0009", "赣市科字〔2026〕23号")


def tampered(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(data) // 3] ^= 0x01
    return bytes(changed)


def unsigned() -> bytes:
    lh = pdf.Letterhead(authority="赣州市科学技术局", doc_number="赣市科字〔2026〕23号",
                        title="关于稀土永磁项目立项的通知", issued_on=utcnow().date(),
                        verify_url="http://testserver/verify/X", verify_code="X")
    return pdf.render_notice(pdf.NoticeContext(
        letterhead=lh, project=pdf.ProjectLine("GZKJ-2026-BG-0009", "稀土永磁项目", "某单位",
                                               "某人", Decimal("500000.00")),
        call_title="2026年度科技计划", scheme_label="包干制", challenge_title=None,
        approval_file_number=None)).data


def foreign() -> bytes:
    stranger = signing.load_identity(signing_ca.stranger().pkcs12, signing_ca.PASSWORD)
    return signing.sign(unsigned(), stranger, "发文", "赣州")


def upload(client, data, code=None, name="通知.pdf", **extra):
    form = {"file": (io.BytesIO(data), name), **extra}
    if code:
        form["code"] = code
    return client.post("/api/v1/verify", data=form, content_type="multipart/form-data")


def test_a_genuine_file_is_the_original_and_signed_by_the_bureau(client, issued):
    doc, data = issued
    resp = upload(client, data)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["valid"], body["outcome"], body["code"]) == (
        True, "genuine", official.format_code(doc.code))
    assert body["document"]["doc_number"] == "赣市科字〔2026〕23号"
    sig = body["signature"]
    assert (sig["status"], sig["signer"], sig["intact"], sig["trusted"], sig["whole_file"]) == (
        "valid", signing_ca.BUREAU_CN, True, True, True)
    assert (sig["reason"], sig["location"]) == ("发文", "赣州") and sig["signed_at"]
    assert "真实文件" in body["message"] and body["sha256"] == doc.sha256
    # With the code printed on it: the same.
    assert upload(client, data, code=doc.code).get_json()["outcome"] == "genuine"


def test_a_tampered_file_is_neither_the_original_nor_validly_signed(client, issued):
    doc, data = issued
    body = upload(client, tampered(data), code=doc.code).get_json()
    assert (body["valid"], body["outcome"]) == (False, "different")
    assert body["signature"]["status"] == "broken" and not body["signature"]["intact"]
    assert "签名无效" in body["signature"]["message"] and "不一致" in body["message"]
    alone = upload(client, tampered(data)).get_json()
    assert (alone["outcome"], alone["document"], alone["signature"]["status"]) == (
        "unknown", None, "broken")


def test_an_unsigned_file_is_an_unknown_document(client, issued):
    body = upload(client, unsigned()).get_json()
    assert (body["valid"], body["outcome"], body["signature"]["status"]) == (
        False, "unknown", "unsigned")
    assert body["signature"]["signer"] is None
    assert "未找到" in body["message"] and "没有数字签名" in body["message"]


def test_a_file_signed_by_someone_else_names_them(client, issued):
    body = upload(client, foreign()).get_json()
    sig = body["signature"]
    assert (body["valid"], sig["status"], sig["signer"], sig["intact"], sig["trusted"]) == (
        False, "foreign", signing_ca.STRANGER_CN, True, False)
    assert signing_ca.STRANGER_CN in sig["message"] and "不是本局" in sig["message"]


def test_the_page_shows_who_signed_when_and_whether_the_file_is_intact(app, client, issued):
    doc, data = issued
    page = client.get(f"/verify/{doc.code}").get_data(as_text=True)
    token = csrf_of(page)

    def post(content, code=""):
        resp = client.post(f"/verify/{code}" if code else "/verify", data={
            "csrf_token": token, "file": (io.BytesIO(content), "通知.pdf")},
            content_type="multipart/form-data")
        return resp.status_code, resp.get_data(as_text=True)

    status, good = post(data, doc.code)
    assert status == 200
    for shown in ("与存档文件一致", "数字签名有效", signing_ca.BUREAU_CN,
                  local_time(signing.check_issued(data).signed_at), "签名后文件完整</dt><dd>是"):
        assert shown in good, shown
    _, broken = post(tampered(data), doc.code)
    assert "不一致" in broken and "数字签名无效" in broken and "签名后文件完整</dt><dd>否" in broken
    _, bare = post(unsigned())
    assert "该文件没有数字签名" in bare and "未找到与之一致的存档文件" in bare
    _, stranger = post(foreign())
    assert signing_ca.STRANGER_CN in stranger and "不是本局的签名证书" in stranger
    assert "本局证书</dt><dd>否" in stranger


@pytest.mark.parametrize(("content", "status", "said"), [
    (b"", 422, "文件为空"),
    (b"PK\x03\x04 a zip, not a pdf", 415, "只能核验 PDF 文件"),
])
def test_an_upload_that_is_no_pdf_is_refused(app, client, issued, content, status, said):
    resp = upload(client, content)
    assert resp.status_code == status and resp.get_json()["error"]["message"] == said
    page = client.get("/verify").get_data(as_text=True)
    resp = client.post("/verify", data={"csrf_token": csrf_of(page),
                                        "file": (io.BytesIO(content), "x.pdf")},
                       content_type="multipart/form-data")
    assert resp.status_code == status and said in resp.get_data(as_text=True)


def test_an_upload_over_the_limit_is_refused(app, client, issued):
    _, data = issued
    saved = app.config["UPLOAD_MAX_BYTES"]
    app.config["UPLOAD_MAX_BYTES"] = len(data) - 1
    try:
        resp = upload(client, data)
        assert resp.status_code == 413 and "文件过大" in resp.get_json()["error"]["message"]
    finally:
        app.config["UPLOAD_MAX_BYTES"] = saved


def test_a_missing_file_an_unknown_field_or_code_is_refused(client, issued):
    resp = client.post("/api/v1/verify", data={"code": "AAAA"},
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "file" in resp.get_json()["error"]["details"]
    _, data = issued
    resp = upload(client, data, note="附言")
    assert resp.status_code == 422 and "note" in resp.get_json()["error"]["details"]
    resp = upload(client, data, code="AAAA-BBBB-CCCC-DDDD")
    assert resp.status_code == 404


def test_the_spec_describes_the_upload_and_the_signature(client, app):
    op = client.get("/api/openapi.json").get_json()["paths"]["/api/v1/verify"]["post"]
    assert "security" not in op and "公开" in op["summary"]
    form = op["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"]["format"] == "binary" and form["required"] == ["file"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    sig = schema["properties"]["signature"]
    assert sig["properties"]["status"]["enum"] == list(signing.STATUSES)
    assert set(sig["required"]) == set(sig["properties"])
    assert {"413", "415", "422", "429"} <= set(op["responses"])


def test_no_damaged_file_makes_the_check_fail(client, issued):
    """Truncated, garbled or hand-made PDFs: each answered (documented), none a 500."""
    _, data = issued
    cut = [data[:n] for n in range(16, len(data), len(data) // 12)]
    garbled = [data.replace(b"/ByteRange", b"/ByteRangX"),
               data.replace(b"/Contents <", b"/Contents ("),
               b"%PDF-1.7\n" + bytes(range(256)) * 8,
               b"%PDF-1.7\n1 0 obj << /ByteRange [0 1 2 3] >>"]
    for content in [*cut, *garbled]:
        resp = upload(client, content)
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["signature"]["status"] in signing.STATUSES
        assert not resp.get_json()["valid"]
