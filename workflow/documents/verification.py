"""公文真伪验证 of an uploaded file, for the public page and the API alike: is it the
stored original (by its SHA-256, against the document its code names or any issued one),
and is its digital signature the bureau's, intact and over the whole file?"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO

from flask import current_app

from workflow.core.errors import Invalid, NotFound, TooLarge, UnsupportedMedia
from workflow.documents import official, signing
from workflow.documents.models import Document

# Where a PDF's header may be (ISO 32000: within the first 1024 bytes).
HEADER_WITHIN = 1024


@dataclass(frozen=True)
class Verification:
    sha256: str
    doc: Document | None
    outcome: str                  # genuine | different | unknown
    signature: signing.SignatureCheck

    @property
    def valid(self) -> bool:
        """The file is the stored original of an issued document."""
        return self.outcome == "genuine"

    @property
    def message(self) -> str:
        """The conclusion in one sentence (the signature's own message says more)."""
        sig = self.signature
        if self.outcome == "genuine" and sig.status == "valid":
            return "该文件与存档文件一致，数字签名有效：是本局签发的真实文件。"
        if self.outcome == "genuine":
            return "该文件与存档文件一致。" + sig.message
        if self.outcome == "different":
            return "该文件与验证码对应的存档文件不一致，可能被改动，请以存档文件为准。" + (
                "" if sig.status == "valid" else sig.message)
        if sig.status == "valid":
            return ("数字签名有效，但本系统未找到与之一致的存档文件：不是本系统出具的文件，"
                    "请向发文机关核实。")
        return "本系统未找到与之一致的存档文件：不是本系统出具的文件。" + sig.message


def read_pdf(stream: IO[bytes]) -> bytes:
    """The uploaded file, refused when too large, empty or not a PDF."""
    limit = int(current_app.config["UPLOAD_MAX_BYTES"])
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"文件过大（不超过 {limit // (1024 * 1024)} MB）",
                       details={"file": "文件过大"})
    if not data:
        raise Invalid("文件为空", details={"file": "文件为空"})
    if b"%PDF-" not in data[:HEADER_WITHIN]:
        raise UnsupportedMedia("只能核验 PDF 文件", details={"file": "不是 PDF 文件"})
    return data


def verify_file(data: bytes, code: str | None = None) -> Verification:
    """``data`` against the document ``code`` names (NotFound when none), or against every
    issued document; and its signature."""
    digest = hashlib.sha256(data).hexdigest()
    if code:
        doc = official.by_code(code)
        if doc is None:
            raise NotFound("未找到该验证码对应的文件")
        outcome = "genuine" if official.matches(doc, digest) else "different"
    else:
        doc = official.by_hash(digest)
        outcome = "genuine" if doc is not None else "unknown"
    return Verification(sha256=digest, doc=doc, outcome=outcome,
                        signature=signing.check_issued(data))
