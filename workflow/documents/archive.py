"""PDF/A-2b for the issued documents: the archival metadata (XMP) and a check of the
structures PDF/A-2b requires.

WeasyPrint writes the PDF/A-2b base (``pdf_variant="pdf/a-2b"`` in ``pdf.html_to_pdf``): PDF
1.7, every font embedded and subset, an sRGB ICC OutputIntent, a trailer /ID and an XMP
packet naming the part and conformance. ``with_metadata`` adds what an archive files a
document by, in Dublin Core and XMP Basic properties (predefined schemas of PDF/A, so no
extension schema is needed), and writes the same values into the document information
dictionary, as PDF/A requires both to agree:

- ``dc:title`` / Title: the document's title;
- ``dc:identifier``: the 发文字号 (omitted when the document has none);
- ``dc:creator`` / Author and ``dc:publisher``: the issuer (发文机关);
- ``xmp:CreateDate`` / CreationDate: the 成文日期;
- ``dc:type``: the kind (立项通知书, 立项文件, 任务书, 拨付通知);
- ``xmp:CreatorTool`` / Creator and ``pdf:Producer`` / Producer.

Producer is pyHanko's own name because the signature is the last writer: pyHanko sets
``pdf:Producer`` to its name and appends its name to an Info /Producer that lacks it, so
with any other value the two would disagree after signing. Info /ModDate is left out for
the same reason: pyHanko writes ``xmp:ModifyDate`` and only updates an Info /ModDate that
exists, from a clock read twice.

No validator of PDF/A (veraPDF) can be installed from the registries this project uses
(PyPI, Debian, npm); ``pdfa_problems`` checks the structures the issued documents depend
on instead, and the tests run it on every kind after signing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pikepdf
import weasyprint
from pikepdf.models.metadata import decode_pdf_date
from pyhanko.pdf_utils.metadata.model import VENDOR as PRODUCER

CREATOR_TOOL = f"kjflow（WeasyPrint {weasyprint.__version__}）"


@dataclass(frozen=True)
class Record:
    """What an archive files an issued document by."""

    title: str
    doc_number: str | None    # 发文字号
    issuer: str               # 发文机关
    issued_on: date           # 成文日期
    kind: str                 # 立项通知书, 立项文件, ...


def with_metadata(data: bytes, record: Record) -> bytes:
    """``data`` (a PDF/A-2b from WeasyPrint) with ``record`` in its XMP and Info."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=True) as xmp:
            xmp["dc:title"] = record.title
            xmp["dc:creator"] = [record.issuer]
            xmp["dc:publisher"] = {record.issuer}
            xmp["dc:type"] = {record.kind}
            if record.doc_number:
                xmp["dc:identifier"] = record.doc_number
            xmp["xmp:CreateDate"] = record.issued_on.isoformat()
            xmp["xmp:CreatorTool"] = CREATOR_TOOL
            xmp["pdf:Producer"] = PRODUCER
            if "xmp:ModifyDate" in xmp:
                del xmp["xmp:ModifyDate"]
        if "/ModDate" in pdf.docinfo:
            del pdf.docinfo["/ModDate"]
        out = io.BytesIO()
        pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.preserve)
    return out.getvalue()


# ---- the structures PDF/A-2b requires --------------------------------------------------

# Info entry -> the XMP property it must equal (ISO 19005-2, 6.6.2.3.1).
INFO_XMP = {"/Title": "dc:title", "/Author": "dc:creator", "/Subject": "dc:description",
            "/Keywords": "pdf:Keywords", "/Creator": "xmp:CreatorTool",
            "/Producer": "pdf:Producer", "/CreationDate": "xmp:CreateDate",
            "/ModDate": "xmp:ModifyDate"}
FORBIDDEN_ACTIONS = {"/JavaScript", "/Launch", "/Sound", "/Movie", "/ResetForm",
                     "/ImportData", "/Hide", "/SetOCGState", "/Rendition", "/Trans",
                     "/GoTo3DView"}
# Fonts that must have a descriptor with an embedded font file (not Type0, nor Type3).
SIMPLE_OR_CID_FONTS = ("/Type1", "/TrueType", "/CIDFontType0", "/CIDFontType2", "/MMType1")
_XPACKET = re.compile(rb"<\?xpacket begin=[^?]*\?>")


def pdfa_problems(data: bytes) -> list[str]:
    """What keeps ``data`` from being PDF/A-2b, as far as these checks see: [] if nothing.

    Checked: the header; no encryption; XMP with pdfaid:part 2 and conformance B and no
    ``bytes``/``encoding`` in its packet header; Info entries equal to their XMP
    properties; an OutputIntent GTS_PDFA1 with an RGB ICC profile; a trailer /ID; every
    font embedded; no JavaScript, no forbidden action, no additional actions; printable
    annotations, with an appearance unless of zero size; no embedded file.
    """
    problems: list[str] = []
    if not re.match(rb"%PDF-1\.[0-7]\r?\n%[\x80-\xff]{4}", data[:20]):
        problems.append("header: %PDF-1.x then a comment of four bytes above 127")
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PdfError as err:
        return [*problems, f"unreadable: {err}"]
    with pdf:
        if pdf.is_encrypted or "/Encrypt" in pdf.trailer:
            problems.append("encrypted")
        if "/ID" not in pdf.trailer:
            problems.append("no trailer /ID")
        problems += _metadata_problems(pdf)
        problems += _intent_problems(pdf)
        problems += _object_problems(pdf)
    return problems


def _metadata_problems(pdf: pikepdf.Pdf) -> list[str]:
    if "/Metadata" not in pdf.Root:
        return ["no XMP metadata in the catalog"]
    problems = []
    raw = pdf.Root.Metadata.read_bytes()
    header = _XPACKET.search(raw)
    if header is None or b"bytes=" in header.group() or b"encoding=" in header.group():
        problems.append("XMP packet header missing or with bytes/encoding")
    xmp = pdf.open_metadata()
    if (xmp.get("pdfaid:part"), xmp.get("pdfaid:conformance")) != ("2", "B"):
        problems.append(f"XMP pdfaid {xmp.get('pdfaid:part')}{xmp.get('pdfaid:conformance')}"
                        ", not 2B")
    for key, prop in INFO_XMP.items():
        if key not in pdf.docinfo:
            continue
        info = str(pdf.docinfo[key])
        value = xmp.get(prop)
        if key.endswith("Date"):
            same = value is not None and _same_time(decode_pdf_date(info), str(value))
        elif isinstance(value, list):
            same = ", ".join(map(str, value)) == info
        else:
            same = value == info
        if not same:
            problems.append(f"Info {key} {info!r} differs from XMP {prop} {value!r}")
    return problems


def _same_time(info: datetime, xmp: str) -> bool:
    parsed = datetime.fromisoformat(xmp.replace("Z", "+00:00"))
    if (info.tzinfo is None) != (parsed.tzinfo is None):
        info, parsed = info.replace(tzinfo=None), parsed.replace(tzinfo=None)
    return info == parsed


def _intent_problems(pdf: pikepdf.Pdf) -> list[str]:
    for intent in pdf.Root.get("/OutputIntents", []):
        if intent.get("/S") != "/GTS_PDFA1" or "/DestOutputProfile" not in intent:
            continue
        profile = intent.DestOutputProfile
        icc = profile.read_bytes()
        if icc[36:40] == b"acsp" and icc[16:20] == b"RGB " and int(profile.get("/N", 0)) == 3:
            return []
        return ["OutputIntent profile is not an RGB ICC profile"]
    return ["no GTS_PDFA1 OutputIntent with an ICC profile"]


def _object_problems(pdf: pikepdf.Pdf) -> list[str]:
    problems: list[str] = []
    if "/AA" in pdf.Root or "/JavaScript" in pdf.Root.get("/Names", {}):
        problems.append("catalog has JavaScript or additional actions")
    if "/EmbeddedFiles" in pdf.Root.get("/Names", {}):
        problems.append("embedded files")
    for obj in _dictionaries(pdf):
        kind = obj.get("/Type")
        if "/JS" in obj or obj.get("/S") in FORBIDDEN_ACTIONS:
            problems.append(f"action {obj.get('/S')}")
        if "/AA" in obj:
            problems.append("additional actions")
        if kind == "/FontDescriptor" and not any(
                k in obj for k in ("/FontFile", "/FontFile2", "/FontFile3")):
            problems.append(f"font {obj.get('/FontName')} not embedded")
        if kind == "/Annot":
            flags = int(obj.get("/F", 0))
            if not flags & 4 or flags & (1 | 2 | 32 | 256):
                problems.append(f"annotation {obj.get('/Subtype')} flags {flags}")
            rect = [float(v) for v in obj.get("/Rect", [0, 0, 0, 0])]
            sized = rect[2] != rect[0] or rect[3] != rect[1]
            if sized and "/AP" not in obj and obj.get("/Subtype") not in ("/Popup", "/Link"):
                problems.append(f"annotation {obj.get('/Subtype')} without appearance")
        if kind == "/Font" and obj.get("/Subtype") in SIMPLE_OR_CID_FONTS and (
                "/FontDescriptor" not in obj):
            problems.append(f"font {obj.get('/BaseFont')} without descriptor")
    return problems


def _dictionaries(pdf: pikepdf.Pdf) -> Iterator[Any]:
    """Every dictionary of the file: each indirect object and what it holds directly."""
    for obj in pdf.objects:
        yield from _within(obj.stream_dict if isinstance(obj, pikepdf.Stream) else obj)


def _within(obj: Any) -> Iterator[Any]:
    if isinstance(obj, pikepdf.Dictionary):
        yield obj
        children: Any = obj.values()
    elif isinstance(obj, pikepdf.Array):
        children = obj
    else:
        return
    for child in children:
        if isinstance(child, pikepdf.Dictionary | pikepdf.Array) and not child.is_indirect:
            yield from _within(child)
