"""forms/uploads.py: content checks on attachments and the content-addressed store.

Every sample file is built here, in memory; no binary fixture is committed.
"""

from __future__ import annotations

import hashlib
import io
import struct
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms.uploads import FileStore, UploadInfo, UploadRefused, inspect_upload

MIB = 1024 * 1024

# --------------------------------------------------------------------------- samples


def make_pdf() -> bytes:
    return (
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def make_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte + one red pixel
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def make_jpeg() -> bytes:
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


CONTENT_TYPES_DOCX = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" '
    b'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Override PartName="/word/document.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
CONTENT_TYPES_XLSX = CONTENT_TYPES_DOCX.replace(
    b"/word/document.xml", b"/xl/workbook.xml").replace(
    b"wordprocessingml.document.main", b"spreadsheetml.sheet.main")


def make_zip(members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buf.getvalue()


def docx_members() -> dict[str, bytes]:
    return {
        "[Content_Types].xml": CONTENT_TYPES_DOCX,
        "_rels/.rels": b"<Relationships/>",
        "word/document.xml": "<w:document><w:body><w:p>申报书</w:p></w:body></w:document>"
        .encode(),
    }


def xlsx_members() -> dict[str, bytes]:
    return {
        "[Content_Types].xml": CONTENT_TYPES_XLSX,
        "_rels/.rels": b"<Relationships/>",
        "xl/workbook.xml": b"<workbook><sheets/></workbook>",
        "xl/worksheets/sheet1.xml": b"<worksheet/>",
    }


def make_docx() -> bytes:
    return make_zip(docx_members())


def make_xlsx() -> bytes:
    return make_zip(xlsx_members())


def central_entries(data: bytes) -> list[tuple[int, str]]:
    """(offset, name) of every central-directory entry, found by parsing, not guessing."""
    eocd = data.rindex(b"PK\x05\x06")
    count, _size, offset = struct.unpack("<HII", data[eocd + 10:eocd + 20])
    entries = []
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack("<HHH", data[offset + 28:offset + 34])
        entries.append((offset, data[offset + 46:offset + 46 + name_len].decode()))
        offset += 46 + name_len + extra_len + comment_len
    return entries


def patch_central(data: bytes, name: str, *, flags: int | None = None,
                  crc: int | None = None, file_size: int | None = None) -> bytes:
    """Rewrite fields of one central-directory entry (what a forger would do)."""
    out = bytearray(data)
    for offset, entry in central_entries(data):
        if entry == name:
            if flags is not None:
                struct.pack_into("<H", out, offset + 8, flags)
            if crc is not None:
                struct.pack_into("<I", out, offset + 16, crc)
            if file_size is not None:
                struct.pack_into("<I", out, offset + 24, file_size)
            return bytes(out)
    raise AssertionError(name)


SAMPLES = {
    "pdf": ("申报书.pdf", make_pdf(), "application/pdf"),
    "png": ("照片.png", make_png(), "image/png"),
    "jpg": ("营业执照.jpg", make_jpeg(), "image/jpeg"),
    "docx": ("可行性报告.docx", make_docx(),
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("经费预算.xlsx", make_xlsx(),
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


def refused(filename: str, data: bytes | io.BytesIO, **kwargs: int) -> UploadRefused:
    with pytest.raises(UploadRefused) as caught:
        inspect_upload(filename, data, **kwargs)
    return caught.value


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_each_allowed_kind_is_accepted_by_content(kind):
    name, data, mime = SAMPLES[kind]
    info = inspect_upload(name, data)
    assert info == UploadInfo(sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                              kind=kind, mime=mime, safe_name=name)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_a_stream_gives_the_same_answer_as_bytes(kind):
    name, data, _ = SAMPLES[kind]
    assert inspect_upload(name, io.BytesIO(data)) == inspect_upload(name, data)


def test_extension_is_case_insensitive_and_jpeg_is_jpg():
    assert inspect_upload("扫描件.JPEG", make_jpeg()).kind == "jpg"
    info = inspect_upload("REPORT.PDF", make_pdf())
    assert (info.kind, info.safe_name) == ("pdf", "REPORT.PDF")


def test_pdf_header_may_follow_up_to_1024_bytes_of_prefix():
    assert inspect_upload("a.pdf", b"\r\n" * 400 + make_pdf()).kind == "pdf"
    assert refused("a.pdf", b" " * 1100 + make_pdf()).status == 415


# --------------------------------------------------------------------------- size


def test_empty_file_is_refused():
    err = refused("申报书.pdf", b"")
    assert (err.status, err.code, err.message) == (422, "empty", "文件为空")
    assert refused("申报书.pdf", io.BytesIO()).message == "文件为空"


def test_default_limit_is_twenty_megabytes():
    err = refused("big.pdf", make_pdf() + b"0" * (20 * MIB))
    assert (err.status, err.code, err.message) == (413, "too_large", "文件超过20MB上限")
    assert inspect_upload("fits.pdf", make_pdf().ljust(20 * MIB, b"0")).size == 20 * MIB


def test_oversize_with_a_small_limit_names_the_limit():
    data = make_pdf()
    assert inspect_upload("a.pdf", data, max_bytes=len(data)).size == len(data)
    err = refused("a.pdf", data, max_bytes=len(data) - 1)
    assert err.status == 413 and err.message.startswith("文件超过")
    assert refused("a.pdf", data + b"x" * (3 * MIB), max_bytes=2 * MIB).message == \
        "文件超过2MB上限"
    assert refused("a.pdf", data + b"x" * MIB, max_bytes=MIB // 2).message == \
        "文件超过512KB上限"


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk


def test_a_stream_is_never_read_beyond_the_limit_plus_one():
    stream = CountingStream(make_pdf() + b"0" * (5 * MIB))
    err = refused("a.pdf", stream, max_bytes=MIB)
    assert err.status == 413
    assert stream.consumed == MIB + 1


# --------------------------------------------------------------------------- file name


@pytest.mark.parametrize("name", [
    "../etc/passwd.pdf", "C:\\x\\y.pdf", "a/b.pdf", "/etc/passwd.pdf", "..\\..\\boot.pdf",
    "C:y.pdf", "..", "./a.pdf",
])
def test_a_path_in_the_file_name_is_refused(name):
    err = refused(name, make_pdf())
    assert (err.status, err.code, err.message) == (422, "filename_path", "文件名不能包含路径")


@pytest.mark.parametrize("name", [
    "a\x00.pdf", "a\n.pdf", "a\r\nX-Header: 1.pdf", "a\x1b[31m.pdf", "a\x7f.pdf",
    "報告\u202efdp.exe.pdf", "a\u2028b.pdf",
])
def test_control_characters_in_the_file_name_are_refused(name):
    err = refused(name, make_pdf())
    assert (err.status, err.code) == (422, "filename_chars")
    assert "文件名不能包含" in err.message


@pytest.mark.parametrize("name", ["", "   "])
def test_a_missing_file_name_is_refused(name):
    assert refused(name, make_pdf()).status == 422


def test_chinese_names_are_kept_and_long_names_cut_keeping_the_extension():
    assert inspect_upload("  2024年度 项目申报书（终稿）.pdf ", make_pdf()).safe_name == \
        "2024年度 项目申报书（终稿）.pdf"
    info = inspect_upload("科" * 300 + ".docx", make_docx())
    assert len(info.safe_name) == 120
    assert info.safe_name == "科" * 115 + ".docx"


def test_safe_name_is_cleaned_for_every_downloader():
    assert inspect_upload('a<b>:c"|?*.pdf', make_pdf()).safe_name == "a_b__c____.pdf"
    assert inspect_upload(".hidden.pdf", make_pdf()).safe_name == "hidden.pdf"
    assert inspect_upload(".pdf", make_pdf()).safe_name == "附件.pdf"
    assert inspect_upload("CON.pdf", make_pdf()).safe_name == "_CON.pdf"
    assert inspect_upload("\ufeff申报\u200b书.pdf", make_pdf()).safe_name == "申报书.pdf"
    # NFD (as macOS sends it) becomes NFC
    assert inspect_upload("Cafe\u0301.pdf", make_pdf()).safe_name == "Caf\u00e9.pdf"


# --------------------------------------------------------------------------- type


@pytest.mark.parametrize("name", ["setup.exe", "a.doc", "a.xls", "a.gif", "README", "a.pdf.",
                                  "a.pdf.exe", "a.docm", "a.zip"])
def test_extensions_outside_the_list_are_refused(name):
    err = refused(name, make_pdf())
    assert (err.status, err.code) == (415, "type_not_allowed")
    assert err.message == "仅支持 PDF、DOCX、XLSX、JPG、PNG 格式"


def test_a_png_named_pdf_is_refused_naming_png():
    err = refused("申报书.pdf", make_png())
    assert (err.status, err.code) == (415, "content_mismatch")
    assert err.message == "文件内容与扩展名不符（实际为PNG图片）"


def test_a_png_with_a_pdf_header_inside_is_still_a_png():
    polyglot = make_png() + make_pdf()
    assert refused("x.pdf", polyglot).status == 415
    assert inspect_upload("x.png", polyglot).kind == "png"


@pytest.mark.parametrize(("name", "data", "label"), [
    ("a.docx", "这是一个文本文件".encode(), "文本文件"),
    ("a.xlsx", b"<!DOCTYPE html><html></html>", "HTML网页"),
    ("a.jpg", make_png(), "PNG图片"),
    ("a.png", make_jpeg(), "JPEG图片"),
    ("a.pdf", make_docx(), "DOCX文档"),
    ("a.png", make_xlsx(), "XLSX表格"),
    ("a.pdf", b"MZ\x90\x00" + bytes(60), "可执行程序"),
    ("a.jpg", b"GIF89a\x01\x00\x01\x00", "GIF图片"),
    ("a.docx", b"\x1f\x8b\x08\x00" + bytes(20), "GZIP压缩包"),
    ("a.xlsx", make_pdf(), "PDF文档"),
])
def test_content_not_matching_the_extension_is_refused_naming_it(name, data, label):
    err = refused(name, data)
    assert (err.status, err.code) == (415, "content_mismatch")
    assert err.message == f"文件内容与扩展名不符（实际为{label}）"


def test_unrecognised_content_is_refused_without_a_guess():
    err = refused("a.pdf", bytes(range(256)) * 4)
    assert err.status == 415 and err.message.startswith("文件内容与扩展名不符")


def test_a_docx_lacking_word_document_is_refused():
    members = docx_members()
    del members["word/document.xml"]
    err = refused("a.docx", make_zip(members))
    assert (err.status, err.code) == (415, "content_mismatch")
    assert err.message == "文件内容与扩展名不符（实际为ZIP压缩包）"


def test_docx_and_xlsx_are_told_apart():
    assert refused("a.xlsx", make_docx()).message == "文件内容与扩展名不符（实际为DOCX文档）"
    assert refused("a.docx", make_xlsx()).message == "文件内容与扩展名不符（实际为XLSX表格）"


def test_a_zip_without_content_types_is_not_a_docx():
    members = docx_members()
    del members["[Content_Types].xml"]
    assert refused("a.docx", make_zip(members)).status == 415


def test_an_old_or_password_protected_office_file_is_explained():
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    err = refused("预算.xlsx", ole)
    assert (err.status, err.code) == (415, "legacy_or_encrypted")
    assert ".xlsx" in err.message


def test_a_macro_enabled_document_renamed_docx_is_refused():
    members = docx_members()
    members["[Content_Types].xml"] = CONTENT_TYPES_DOCX.replace(
        b"officedocument.wordprocessingml.document.main",
        b"ms-word.document.macroEnabled.main")
    assert refused("a.docx", make_zip(members)).code == "macro"


def test_an_encrypted_zip_member_is_refused():
    data = patch_central(make_docx(), "word/document.xml", flags=0x1)
    err = refused("a.docx", data)
    assert (err.status, err.code) == (415, "encrypted")


@pytest.mark.parametrize("cut", [10, 100, -10, -30])
def test_a_truncated_docx_is_refused_as_corrupt(cut):
    data = make_docx()
    err = refused("a.docx", data[:cut])
    assert (err.status, err.code) == (422, "corrupt")


def test_a_corrupt_docx_is_refused_with_a_clear_message():
    data = patch_central(make_docx(), "[Content_Types].xml", crc=0xDEADBEEF)
    err = refused("a.docx", data)
    assert (err.status, err.code) == (422, "corrupt")
    assert "损坏" in err.message


# --------------------------------------------------------------------------- zip bombs


@pytest.fixture(scope="module")
def fifty_mb_of_zeros_docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in docx_members().items():
            archive.writestr(name, body)
        with archive.open("word/media/padding.bin", "w") as member:
            zeros = bytes(MIB)
            for _ in range(50):
                member.write(zeros)
    return buf.getvalue()


def test_a_zip_bomb_disguised_as_docx_is_refused_quickly(fifty_mb_of_zeros_docx):
    data = fifty_mb_of_zeros_docx
    assert len(data) < MIB  # ~50 KB on the wire, 50 MB declared inside
    started = time.perf_counter()
    err = refused("a.docx", data)
    assert time.perf_counter() - started < 1.0
    assert (err.status, err.code, err.message) == (422, "zip_bomb", "压缩文件异常，疑似压缩炸弹")


def test_members_over_100mb_in_total_are_refused():
    # 120 members of 0.9 MB each: every ratio check is skipped (< 1 MB), the total is not.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, body in docx_members().items():
            archive.writestr(name, body)
        for i in range(120):
            archive.writestr(f"word/media/p{i}.bin", bytes(900 * 1024))
    assert refused("a.docx", buf.getvalue()).code == "zip_bomb"


def test_a_declared_total_over_100mb_is_refused_without_reading_members():
    data = patch_central(make_docx(), "_rels/.rels", file_size=101 * MIB)
    assert refused("a.docx", data).code == "zip_bomb"


def test_a_member_of_exactly_1mb_is_not_held_to_the_ratio():
    members = docx_members()
    members["word/media/blank.bin"] = bytes(MIB)
    assert inspect_upload("a.docx", make_zip(members)).kind == "docx"


def test_more_than_10000_members_are_refused():
    members = docx_members()
    members.update({f"word/m/{i}": b"" for i in range(10_001)})
    assert refused("a.docx", make_zip(members, method=zipfile.ZIP_STORED)).code == "zip_bomb"


@pytest.mark.parametrize("evil", ["../evil.xml", "/etc/cron.d/x", "word/../../x",
                                  "C:/x", "\\windows\\x", "word\\..\\..\\x"])
def test_unsafe_member_names_are_refused(evil):
    members = xlsx_members()
    members[evil] = b"x"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, body in members.items():
            info = zipfile.ZipInfo(name)
            info.filename = name  # keep it as a forger would, unnormalised
            archive.writestr(info, body)
    err = refused("a.xlsx", buf.getvalue())
    assert (err.status, err.code) == (422, "zip_unsafe")


def test_content_types_is_read_at_most_one_megabyte():
    members = docx_members()
    # Incompressible enough to pass the ratio check, too large to be a real part list.
    members["[Content_Types].xml"] = hashlib.shake_256(b"x").digest(2 * MIB)
    assert refused("a.docx", make_zip(members)).code == "zip_bomb"


def test_a_content_types_whose_declared_size_lies_is_refused_quickly():
    members = docx_members()
    members["[Content_Types].xml"] = CONTENT_TYPES_DOCX + b" " * (30 * MIB)
    # Its central-directory entry now claims 200 bytes: no ratio or total check fires.
    data = patch_central(make_zip(members), "[Content_Types].xml", file_size=200)
    started = time.perf_counter()
    err = refused("a.docx", data)
    assert time.perf_counter() - started < 1.0
    assert (err.status, err.code) == (422, "corrupt")


# --------------------------------------------------------------------------- FileStore


def test_store_is_content_addressed_and_idempotent(tmp_path: Path):
    store = FileStore(tmp_path / "files")
    data = make_pdf()
    sha = store.store(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.path(sha) == tmp_path / "files" / sha[:2] / sha[2:4] / sha
    assert store.exists(sha)
    mtime = store.path(sha).stat().st_mtime_ns
    assert store.store(data) == sha
    assert store.path(sha).stat().st_mtime_ns == mtime
    with store.open(sha) as stored:
        assert stored.read() == data
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == [store.path(sha)]


def test_store_leaves_no_temporary_files(tmp_path: Path):
    store = FileStore(tmp_path)
    shas = {store.store(body) for body in (make_pdf(), make_png(), make_jpeg(), make_pdf())}
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted(shas)
    assert not any(p.name.startswith(".") or p.suffix == ".tmp" for p in tmp_path.rglob("*"))


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    store = FileStore(tmp_path)

    def broken_replace(self: Path, target: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.store(b"content")
    monkeypatch.undo()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert not store.exists(hashlib.sha256(b"content").hexdigest())


def test_a_missing_file_is_not_found(tmp_path: Path):
    store = FileStore(tmp_path)
    sha = "0" * 64
    assert not store.exists(sha)
    with pytest.raises(FileNotFoundError):
        store.open(sha)


@pytest.mark.parametrize("bad", [
    "", "abc", "../" + "a" * 61, "A" * 64, "g" * 64, "a" * 63, "a" * 65, "a" * 64 + "\n",
    "../../etc/passwd", "/" + "a" * 63, "a" * 32 + "/" + "a" * 31, None, 123,
])
def test_a_malformed_sha256_is_a_value_error(tmp_path: Path, bad):
    store = FileStore(tmp_path)
    for method in (store.path, store.exists, store.open):
        with pytest.raises(ValueError, match="sha256"):
            method(bad)


# --------------------------------------------------------------------------- never crashes

MAGICS = [b"", b"%PDF-", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"PK\x03\x04", b"PK\x05\x06",
          b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"MZ", b"RIFF\x00\x00\x00\x00WEBP", b"BM"]
NAMES = st.one_of(
    st.text(max_size=300),
    st.builds(lambda stem, ext: stem + ext, st.text(max_size=200),
              st.sampled_from([".pdf", ".docx", ".xlsx", ".jpg", ".jpeg", ".png", ".PDF",
                               ".exe", ""])),
)


@st.composite
def contents(draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["random", "magic", "mutated", "truncated"]))
    if how == "random":
        return draw(st.binary(max_size=4096))
    if how == "magic":
        return draw(st.sampled_from(MAGICS)) + draw(st.binary(max_size=2048))
    sample = bytearray(draw(st.sampled_from([s[1] for s in SAMPLES.values()])))
    if how == "truncated":
        return bytes(sample[:draw(st.integers(0, len(sample)))])
    for _ in range(draw(st.integers(1, 8))):
        sample[draw(st.integers(0, len(sample) - 1))] = draw(st.integers(0, 255))
    return bytes(sample)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=NAMES, data=contents(), as_stream=st.booleans(),
       max_bytes=st.sampled_from([1, 100, 20 * MIB]))
def test_arbitrary_input_only_ever_raises_upload_refused(name, data, as_stream, max_bytes):
    try:
        info = inspect_upload(name, io.BytesIO(data) if as_stream else data, max_bytes)
    except UploadRefused as err:
        assert err.status in (413, 415, 422)
        assert err.code and err.message
        return
    assert info.size == len(data) <= max_bytes
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.kind in ("pdf", "docx", "xlsx", "jpg", "png")
    assert 0 < len(info.safe_name) <= 120
    assert "/" not in info.safe_name and "\\" not in info.safe_name
    assert info.safe_name.lower().endswith((".pdf", ".docx", ".xlsx", ".jpg", ".jpeg", ".png"))
