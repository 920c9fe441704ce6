"""Every issued document is signed by the bureau's certificate (PAdES) and is PDF/A-2b with
its archival metadata; a signature validates against the bureau's CA only, and breaks when
a byte changes. The certificates are a throwaway CA's (tests/signing_ca.py)."""

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pikepdf
import pytest
import weasyprint
from pyhanko.keys import load_certs_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from tests import signing_ca
from workflow import config
from workflow.core.models import utcnow
from workflow.documents import archive, pdf, signing

LH = pdf.Letterhead(authority="赣州市科学技术局", doc_number="赣市科字〔2026〕15号",
                    title="关于下达2026年度赣州市科技计划项目立项的通知",
                    issued_on=date(2026, 11, 28),
                    verify_url="http://testserver/verify/K7Q2MX9DF4HTB3NR",
                    verify_code="K7Q2-MX9D-F4HT-B3NR")
LINE = pdf.ProjectLine(project_number="GZKJ-2026-BG-0001", title="离子型稀土矿绿色浸萃研究",
                       organization="赣州䶮堃稀土新材料有限公司", leader="王喆堃",
                       amount=Decimal("1234500.00"))


def contexts():
    """One context of each issued kind, as official.py builds them."""
    return {
        "立项通知书": (pdf.render_notice, pdf.NoticeContext(
            letterhead=LH, project=LINE, call_title="2026年度赣州市科技计划",
            scheme_label="包干制", challenge_title=None, approval_file_number=None)),
        "立项文件": (pdf.render_approval_file, pdf.ApprovalFileContext(
            letterhead=LH, call_title="2026年度赣州市科技计划", scheme_label="包干制",
            year=2026, projects=[LINE] * 40)),
        "任务书": (pdf.render_task_book, pdf.TaskBookContext(
            letterhead=LH, project=LINE, call_title="2026年度揭榜挂帅", scheme_label="揭榜挂帅",
            challenge_title="稀土永磁电机", demand_org="赣州喆䶮电机有限公司",
            indicators=["样机2台"],
            milestones=[pdf.Milestone("样机", date(2027, 3, 31), Decimal("1234500"), "")],
            signatures=[pdf.Signature("甲方：赣州市科学技术局", "张三", "2026-12-01 10:00")])),
        "拨付通知": (pdf.render_payment_notice, pdf.PaymentNoticeContext(
            letterhead=LH, project=LINE, tranche_label="首期", amount=Decimal("600000.00"),
            amount_capital="陆拾万元整", bank_name="中国银行赣州分行",
            bank_account="1234567890", payment_ref="ZF-2026-0001",
            released_on=date(2026, 12, 1), disbursed_total=Decimal("600000.00"),
            remaining=Decimal("634500.00"))),
    }


def bureau_roots():
    return tuple(load_certs_from_pemder([str(signing_ca.bureau().ca_pem)]))


def flipped(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


@pytest.fixture
def issued(app):
    """A 立项通知书 issued the way the worker issues it."""
    return signing_ca.issue_notice("GZKJ-2026-BG-0007", "赣市科字〔2026〕21号")


def test_an_issued_notice_validates_with_the_test_ca_as_trust_root(issued):
    doc, data = issued
    # pyHanko itself, with nothing of kjflow's: the throwaway CA as the only trust root.
    sig = PdfFileReader(io.BytesIO(data)).embedded_signatures
    assert len(sig) == 1
    status = signing.outside_event_loop(
        validate_pdf_signature, sig[0], ValidationContext(trust_roots=list(bureau_roots())))
    assert status.bottom_line and status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.signing_cert.subject.native["common_name"] == signing_ca.BUREAU_CN
    assert sig[0].sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    # What the verification reads from it.
    found = signing.check(data, bureau_roots())
    assert (found.status, found.signer, found.reason, found.location) == (
        "valid", signing_ca.BUREAU_CN, "发文", "赣州")
    assert found.intact and found.trusted and found.whole_file
    assert abs(found.signed_at - utcnow()) < timedelta(minutes=5)
    # The stored digest is the signed file's.
    assert doc.size == len(data)


def test_the_signature_carries_the_bureau_certificate_not_the_root_and_little_room(issued):
    _, data = issued
    sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    # The CA's root is the reader's to trust, not the file's to carry.
    assert [c.chosen.subject.native["common_name"] for c in sig.signed_data["certificates"]
            ] == [signing_ca.BUREAU_CN]
    # /Contents: the container, then no more zeros than the margin (hexadecimal digits).
    contents = data[sig.sig_object["/ByteRange"][1]:sig.sig_object["/ByteRange"][2]]
    spare = len(contents) - 2 - signing._container_size(data)
    # (an ECDSA value is a few bytes shorter or longer from one signature to the next,
    # the blank page's that set the room included)
    assert 0 < spare <= signing.RESERVE_MARGIN + 16
    assert contents[1:-1].endswith(b"0" * spare)


def test_a_byte_flipped_anywhere_in_the_signed_file_breaks_the_signature(issued):
    _, data = issued
    sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    _, signed_head, signed_tail, _ = sig.sig_object["/ByteRange"]
    # A page's content, the first objects, the signature's own value, the cross-reference
    # stream the signature's revision ends with.
    for at in (len(data) // 3, 200, signed_head + 100, signed_tail + 300, len(data) - 60):
        assert signing.check(flipped(data, at), bureau_roots()).status == "broken", at
    assert "被改动" in signing.MESSAGES["broken"]


def test_a_signature_by_another_ca_is_someone_elses(app):
    stranger = signing.load_identity(signing_ca.stranger().pkcs12, signing_ca.PASSWORD)
    data = signing.sign(pdf.render_notice(contexts()["立项通知书"][1]).data, stranger,
                        "发文", "赣州")
    assert signing.check(data, stranger.roots).status == "valid"
    found = signing.check(data, bureau_roots())
    assert (found.status, found.signer, found.intact) == ("foreign", signing_ca.STRANGER_CN,
                                                          True)
    assert signing_ca.STRANGER_CN in found.message


def test_unsigned_appended_and_unreadable_files_are_named_as_such(issued):
    _, data = issued
    unsigned = signing.check(pdf.render_notice(contexts()["立项通知书"][1]).data, bureau_roots())
    assert unsigned.status == "unsigned" and "没有数字签名" in unsigned.message
    # An incremental update after the signature: the signed revision is intact, not all.
    out = io.BytesIO(data)
    later = IncrementalPdfFileWriter(out)
    later.document_meta.title = "篡改后的标题"
    later.write_in_place()
    assert len(out.getvalue()) > len(data)
    appended = signing.check(out.getvalue(), bureau_roots())
    assert (appended.status, appended.intact, appended.whole_file) == ("modified", True, False)
    assert signing.check(b"%PDF-1.7 nothing else", bureau_roots()).status in (
        "unreadable", "unsigned")
    assert signing.check(b"not a pdf", bureau_roots()).status == "unreadable"


@pytest.mark.parametrize("kind", ["立项通知书", "立项文件", "任务书", "拨付通知"])
def test_each_issued_kind_is_pdfa_2b_with_its_metadata_after_signing(app, kind):
    render, ctx = contexts()[kind]
    rendered = render(ctx)
    issued = signing.issue(rendered, ctx.letterhead, kind)
    assert issued.pages == rendered.pages
    assert archive.pdfa_problems(issued.data) == []
    with pikepdf.open(io.BytesIO(issued.data)) as doc:
        xmp = doc.open_metadata()
        assert xmp.pdfa_status == "2B"
        assert xmp["dc:title"] == LH.title and xmp["dc:identifier"] == LH.doc_number
        assert xmp["dc:publisher"] == {"赣州市科学技术局"} and xmp["dc:type"] == {kind}
        assert xmp["dc:creator"] == ["赣州市科学技术局"]
        assert xmp["xmp:CreateDate"] == "2026-11-28"
        assert str(doc.docinfo["/Title"]) == LH.title
        assert str(doc.docinfo["/CreationDate"]).startswith("D:20261128")
        intent = doc.Root.OutputIntents[0]
        assert intent.S == "/GTS_PDFA1" and "sRGB" in str(intent.OutputConditionIdentifier)
        assert intent.DestOutputProfile.read_bytes() == pdf.SRGB_ICC
        assert doc.pdf_version == "1.7" and not doc.is_encrypted
    assert signing.check(issued.data, bureau_roots()).status == "valid"


def test_the_pdfa_check_finds_what_is_missing(app):
    ctx = contexts()["立项通知书"][1]
    plain = weasyprint.HTML(string=pdf.notice_html(ctx), url_fetcher=pdf.refuse_fetch)
    problems = archive.pdfa_problems(plain.write_pdf())
    assert any("pdfaid" in p or "XMP" in p for p in problems)
    assert any("OutputIntent" in p for p in problems)
    issued = signing.issue(pdf.render_notice(ctx), ctx.letterhead, "立项通知书").data
    with pikepdf.open(io.BytesIO(issued)) as doc:
        doc.docinfo["/Title"] = "另一个标题"
        doc.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS="app.alert(1)")
        out = io.BytesIO()
        doc.save(out)
    problems = archive.pdfa_problems(out.getvalue())
    assert any("/Title" in p for p in problems) and any("JavaScript" in p for p in problems)


# ---- the certificate --------------------------------------------------------------------

def test_without_a_certificate_a_demo_one_is_made_once_and_reused(app, tmp_path):
    demo = tmp_path / "instance" / "signing-demo.p12"
    saved = {k: app.config[k] for k in ("SIGNING_PKCS12", "SIGNING_TRUST",
                                         "SIGNING_DEMO_PKCS12")}
    app.config.update(SIGNING_PKCS12=None, SIGNING_TRUST=None, SIGNING_DEMO_PKCS12=str(demo))
    try:
        ctx = contexts()["立项通知书"][1]
        first = signing.issue(pdf.render_notice(ctx), LH, "立项通知书").data
        made = demo.read_bytes()
        assert demo.stat().st_mode & 0o077 == 0  # the key is its owner's only
        second = signing.issue(pdf.render_notice(ctx), LH, "立项通知书").data
        assert demo.read_bytes() == made  # reused, not made again
        found = signing.check_issued(first)
        assert (found.status, found.signer) == ("valid", signing.DEMO_NAME)
        assert "不具法律效力" in found.signer
        assert signing.check_issued(second).status == "valid"
        # The real certificate's verification does not take the demo one for the bureau's.
        assert signing.check(first, bureau_roots()).status == "foreign"
    finally:
        app.config.update(saved)


def test_a_second_process_keeps_the_demo_certificate_the_first_made(tmp_path):
    path = tmp_path / "demo.p12"
    signing.make_demo_pkcs12(path)
    made = path.read_bytes()
    assert signing.make_demo_pkcs12(path) == path and path.read_bytes() == made
    assert [p.name for p in tmp_path.iterdir()] == ["demo.p12"]  # no temporary left


@pytest.fixture
def production(monkeypatch):
    for name in ("KJFLOW_SIGNING_PKCS12", "KJFLOW_SIGNING_PASSWORD", "KJFLOW_SIGNING_TRUST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KJFLOW_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    return monkeypatch


def test_production_refuses_to_start_without_a_certificate(production, tmp_path):
    with pytest.raises(RuntimeError, match="KJFLOW_SIGNING_PKCS12"):
        config.load(tmp_path)
    assert not (tmp_path / "signing-demo.p12").exists()
    production.setenv("KJFLOW_SIGNING_PKCS12", str(tmp_path / "missing.p12"))
    with pytest.raises(RuntimeError, match="找不到文件"):
        config.load(tmp_path)
    production.setenv("KJFLOW_SIGNING_PKCS12", str(signing_ca.bureau().pkcs12))
    production.setenv("KJFLOW_SIGNING_PASSWORD", "wrong")
    with pytest.raises(RuntimeError, match="无法用 KJFLOW_SIGNING_PASSWORD 打开"):
        config.load(tmp_path)
    production.setenv("KJFLOW_SIGNING_PASSWORD", signing_ca.PASSWORD)
    settings = config.load(tmp_path)
    assert settings["SIGNING_PKCS12"] == str(signing_ca.bureau().pkcs12)


def test_development_without_a_certificate_starts_with_the_demo(monkeypatch, tmp_path):
    monkeypatch.delenv("KJFLOW_SIGNING_PKCS12", raising=False)
    monkeypatch.setenv("KJFLOW_ENV", "development")
    settings = config.load(tmp_path)
    assert settings["SIGNING_PKCS12"] is None
    assert Path(settings["SIGNING_DEMO_PKCS12"]).parent == tmp_path


def test_a_signature_outgrowing_the_room_learnt_is_made_all_the_same(app):
    identity = signing.load_identity(signing_ca.bureau().pkcs12, signing_ca.PASSWORD)
    data = pdf.render_notice(contexts()["立项通知书"][1]).data
    signing.sign(data, identity, "发文", "赣州")
    learnt = identity.reserve["bytes"]
    identity.reserve["bytes"] = 64  # far too small: pyHanko refuses, then estimates
    try:
        signed = signing.sign(data, identity, "发文", "赣州")
        assert signing.check(signed, bureau_roots()).status == "valid"
        assert identity.reserve["bytes"] >= learnt - signing.RESERVE_MARGIN
    finally:
        identity.reserve["bytes"] = learnt


def test_signing_and_checking_work_where_an_event_loop_already_runs(app):
    """pyHanko starts its own asyncio loop; where one already runs (an asynchronous
    server, Playwright's synchronous API earlier in the same test process) it used to
    refuse, so a document could not be issued and a genuine file was called broken."""
    stranger = signing.load_identity(signing_ca.stranger().pkcs12, signing_ca.PASSWORD)
    rendered = pdf.render_notice(contexts()["立项通知书"][1]).data

    async def inside_a_loop() -> signing.SignatureCheck:
        return signing.check(signing.sign(rendered, stranger, "发文", "赣州"), stranger.roots)

    # asyncio.run in a thread of its own: the test process may run a loop already.
    with ThreadPoolExecutor(max_workers=1) as pool:
        found = pool.submit(asyncio.run, inside_a_loop()).result()
    assert (found.status, found.signer, found.intact) == ("valid", signing_ca.STRANGER_CN, True)
