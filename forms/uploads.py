"""Checks on an uploaded attachment by its content, and a content-addressed file store.

``inspect_upload`` decides whether a researcher's file may be kept: a clean file name, an
allowed extension, a size within the limit and content that really is what the extension
says (PDF, DOCX, XLSX, JPG, PNG). DOCX and XLSX are ZIP containers, so they are also checked
for zip bombs and unsafe member names from the central directory alone: nothing is ever
extracted. Every refusal is an ``UploadRefused`` carrying an HTTP status, a stable code and a
Chinese message for the researcher.

``FileStore`` keeps accepted files once each, named by their SHA-256, outside the web root.

Pure standard library; imports nothing of kjflow's own.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

__all__ = [
    "ALLOWED_EXTENSIONS",
    "FileStore",
    "UploadInfo",
    "UploadKind",
    "UploadRefused",
    "inspect_upload",
]

UploadKind = Literal["pdf", "docx", "xlsx", "jpg", "png"]

#: extension (lower case, without the dot) -> kind
ALLOWED_EXTENSIONS: dict[str, UploadKind] = {
    "pdf": "pdf",
    "docx": "docx",
    "xlsx": "xlsx",
    "jpg": "jpg",
    "jpeg": "jpg",
    "png": "png",
}

MIME_TYPES: dict[UploadKind, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jpg": "image/jpeg",
    "png": "image/png",
}

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_NAME_CHARS = 120
READ_CHUNK = 64 * 1024

MIB = 1024 * 1024
ZIP_MAX_TOTAL_UNCOMPRESSED = 100 * MIB
ZIP_RATIO_MIN_MEMBER_SIZE = 1 * MIB
ZIP_MAX_RATIO = 100
ZIP_MAX_MEMBERS = 10_000
CONTENT_TYPES_MAX_BYTES = 1 * MIB
CONTENT_TYPES = "[Content_Types].xml"
OOXML_MAIN_PART: dict[str, str] = {
    "docx": "word/document.xml",
    "xlsx": "xl/workbook.xml",
    "pptx": "ppt/presentation.xml",
}

MSG_TYPES = "仅支持 PDF、DOCX、XLSX、JPG、PNG 格式"
MSG_BOMB = "压缩文件异常，疑似压缩炸弹"


class UploadRefused(Exception):
    """An upload that must not be kept.

    ``status`` is the HTTP status to answer with (413 too large, 415 type not allowed or
    content not matching the extension, 422 any other refusal), ``code`` a stable machine
    name, ``message`` the Chinese text to show the researcher (also ``str(err)``).

    Codes: ``empty``, ``too_large``, ``no_filename``, ``filename_path``,
    ``filename_chars``, ``type_not_allowed``, ``content_mismatch``, ``legacy_or_encrypted``,
    ``encrypted``, ``macro``, ``corrupt``, ``zip_bomb``, ``zip_unsafe``.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"UploadRefused({self.status!r}, {self.code!r}, {self.message!r})"


@dataclass(frozen=True, slots=True)
class UploadInfo:
    sha256: str
    """hex digest of the content, 64 lower-case characters"""
    size: int
    kind: UploadKind
    mime: str
    safe_name: str
    """the cleaned base name to show and to offer on download (not a storage path)"""


# --------------------------------------------------------------------------- file name

# Bidirectional overrides let "report\u202efdp.exe" display as "reportexe.pdf".
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_DRIVE = re.compile(r"^[A-Za-z]:")
# Characters Windows cannot save in a file name; replaced in safe_name, not refused.
_WINDOWS_RESERVED_CHARS = re.compile(r'[<>:"|?*]')
_WINDOWS_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
_FALLBACK_STEM = "附件"


def _check_filename(filename: str) -> tuple[str, str]:
    """Return ``(safe_name, extension in lower case)`` or refuse the name."""
    if not isinstance(filename, str) or not filename.strip():
        raise UploadRefused(422, "no_filename", "缺少文件名，请重新选择文件上传")
    name = unicodedata.normalize("NFC", filename).strip()
    if ("/" in name or "\\" in name or name in {".", ".."} or _DRIVE.match(name)):
        raise UploadRefused(422, "filename_path", "文件名不能包含路径")
    if any(ch in _BIDI_CONTROLS or unicodedata.category(ch) in _FORBIDDEN_CATEGORIES
           for ch in name):
        raise UploadRefused(422, "filename_chars", "文件名不能包含控制字符等不可见字符")
    stem, dot, ext = name.rpartition(".")
    if not dot or ext.lower() not in ALLOWED_EXTENSIONS:
        raise UploadRefused(415, "type_not_allowed", MSG_TYPES)
    # Other invisible format characters (BOM, zero-width space) are dropped silently.
    stem = "".join(ch for ch in stem if unicodedata.category(ch) != "Cf")
    stem = _WINDOWS_RESERVED_CHARS.sub("_", stem).strip().lstrip(".").strip()
    if stem.split(".", 1)[0].upper() in _WINDOWS_DEVICE_NAMES:
        stem = "_" + stem
    stem = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(" .")
    return f"{stem or _FALLBACK_STEM}.{ext}", ext.lower()


# --------------------------------------------------------------------------- reading


def _limit_text(max_bytes: int) -> str:
    if max_bytes >= MIB:
        return f"{max_bytes / MIB:.2f}".rstrip("0").rstrip(".") + "MB"
    if max_bytes >= 1024:
        return f"{max_bytes / 1024:.2f}".rstrip("0").rstrip(".") + "KB"
    return f"{max_bytes}字节"


def _too_large(max_bytes: int) -> UploadRefused:
    return UploadRefused(413, "too_large", f"文件超过{_limit_text(max_bytes)}上限")


def _read_limited(data: bytes | bytearray | memoryview | IO[bytes], max_bytes: int) -> bytes:
    """The whole content, reading a stream in chunks and never more than max_bytes + 1."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        size = data.nbytes if isinstance(data, memoryview) else len(data)
        if size > max_bytes:
            raise _too_large(max_bytes)
        return bytes(data)
    buf = bytearray()
    while True:
        chunk = data.read(min(READ_CHUNK, max_bytes + 1 - len(buf)))
        if not chunk:
            break
        buf += chunk
        if len(buf) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(buf)


# --------------------------------------------------------------------------- content

# Leading signatures that decide the type whatever follows.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty archive
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (b"MZ", "exe"),
    (b"\x7fELF", "elf"),
    (b"Rar!\x1a\x07", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x1f\x8b", "gzip"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"{\\rtf", "rtf"),
)

_LABELS: dict[str, str] = {
    "pdf": "PDF文档",
    "png": "PNG图片",
    "jpg": "JPEG图片",
    "docx": "DOCX文档",
    "xlsx": "XLSX表格",
    "pptx": "PPTX演示文稿",
    "zip": "ZIP压缩包",
    "gif": "GIF图片",
    "bmp": "BMP图片",
    "webp": "WEBP图片",
    "tiff": "TIFF图片",
    "ole": "旧版Office文档（DOC/XLS）或加密文档",
    "exe": "可执行程序",
    "elf": "可执行程序",
    "rar": "RAR压缩包",
    "7z": "7z压缩包",
    "gzip": "GZIP压缩包",
    "rtf": "RTF文档",
    "html": "HTML网页",
    "text": "文本文件",
}


def _looks_like_text(sample: bytes) -> bool:
    if not sample or b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut by the end of the sample is still text.
        return err.start >= len(sample) - 3 and err.reason == "unexpected end of data"
    return True


def _detect(content: bytes) -> str | None:
    """Best guess of what the content is, as a key of ``_LABELS``; None when unknown."""
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return kind
    # PDF readers accept the header anywhere in the first 1024 bytes (ISO 32000 note).
    if content.find(b"%PDF-", 0, 1024) >= 0:
        return "pdf"
    if content.startswith(b"RIFF") and content[8:12] == b"WEBP":
        return "webp"
    if content.startswith(b"BM") and len(content) >= 26:
        return "bmp"
    sample = content[:4096]
    if _looks_like_text(sample):
        head = sample.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if head.startswith((b"<!doctype html", b"<html")):
            return "html"
        return "text"
    return None


def _zip_flavour(content: bytes) -> str:
    """For messages only: which OOXML a ZIP probably is, from the names in its headers."""
    for kind, main in OOXML_MAIN_PART.items():
        if main.encode() in content:
            return kind
    return "zip"


def _mismatch(detected: str | None) -> UploadRefused:
    if detected is None:
        return UploadRefused(415, "content_mismatch", "文件内容与扩展名不符（无法识别的文件类型）")
    return UploadRefused(
        415, "content_mismatch", f"文件内容与扩展名不符（实际为{_LABELS[detected]}）")


def _corrupt() -> UploadRefused:
    return UploadRefused(422, "corrupt", "文件已损坏，无法读取，请重新导出后上传")


def _unsafe_member_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or "\x00" in name:
        return True
    return ".." in re.split(r"[/\\]", name)


def _check_ooxml(content: bytes, expected: str) -> None:
    """DOCX/XLSX: a sane ZIP holding ``[Content_Types].xml`` and the expected main part.

    Only the central directory is trusted for sizes, and only ``[Content_Types].xml`` is
    decompressed, at most 1 MB of it: a lying or bombed archive is refused, never unpacked.
    """
    # ZipFile builds an object per central-directory entry; count entries first so that a
    # 20 MB upload of hundreds of thousands of empty entries is refused before parsing.
    if content.count(b"PK\x01\x02") > ZIP_MAX_MEMBERS:
        raise UploadRefused(422, "zip_bomb", MSG_BOMB)
    # zipfile raises a wide variety of exceptions on hostile input (BadZipFile, OSError,
    # EOFError, ValueError, NotImplementedError, zlib.error, struct.error, ...); at this
    # trust boundary every one of them means the same thing to the researcher.
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            _check_archive(archive, expected, content)
    except UploadRefused:
        raise
    except Exception as err:
        raise _corrupt() from err


def _check_archive(archive: zipfile.ZipFile, expected: str, content: bytes) -> None:
    infos = archive.infolist()
    if len(infos) > ZIP_MAX_MEMBERS:
        raise UploadRefused(422, "zip_bomb", MSG_BOMB)
    names = [info.filename for info in infos]
    if len(set(names)) != len(names) or any(_unsafe_member_name(n) for n in names):
        raise UploadRefused(422, "zip_unsafe", "压缩文件异常，包含不安全的成员路径")
    total = 0
    for info in infos:
        total += info.file_size
        if (info.file_size > ZIP_RATIO_MIN_MEMBER_SIZE
                and info.file_size > ZIP_MAX_RATIO * info.compress_size):
            raise UploadRefused(422, "zip_bomb", MSG_BOMB)
    if total > ZIP_MAX_TOTAL_UNCOMPRESSED:
        raise UploadRefused(422, "zip_bomb", MSG_BOMB)
    if any(info.flag_bits & 0x1 for info in infos):
        raise UploadRefused(
            415, "encrypted", "文件已加密，请去除密码保护后重新上传")
    present = set(names)
    if CONTENT_TYPES not in present:
        raise _mismatch(_zip_flavour(content))
    if OOXML_MAIN_PART[expected] not in present:
        found = next((k for k, main in OOXML_MAIN_PART.items() if main in present), "zip")
        raise _mismatch(found)
    with archive.open(CONTENT_TYPES) as member:
        types = member.read(CONTENT_TYPES_MAX_BYTES + 1)
    if len(types) > CONTENT_TYPES_MAX_BYTES:
        raise UploadRefused(422, "zip_bomb", MSG_BOMB)
    if b"macroenabled" in types.lower():
        raise UploadRefused(
            415, "macro", "文件包含宏（.docm/.xlsm），请另存为不含宏的 .docx/.xlsx 后上传")


def _check_content(content: bytes, expected: UploadKind) -> None:
    detected = _detect(content)
    if expected in ("docx", "xlsx"):
        if detected == "ole":
            raise UploadRefused(
                415, "legacy_or_encrypted",
                "文件可能已加密或为旧版 Word/Excel 格式（.doc/.xls），"
                "请去除密码并另存为 .docx/.xlsx 后重新上传")
        if detected != "zip":
            raise _mismatch(detected)
        _check_ooxml(content, expected)
        return
    if detected != expected:
        if detected == "zip":
            detected = _zip_flavour(content)
        raise _mismatch(detected)


def inspect_upload(
    filename: str,
    data: bytes | bytearray | memoryview | IO[bytes],
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> UploadInfo:
    """Check an upload by its name and content; return what to record or raise UploadRefused.

    ``data`` is the content or a binary stream positioned at its start; a stream is read in
    chunks and never beyond ``max_bytes + 1`` bytes. Nothing is written anywhere.
    """
    if max_bytes < 1:
        raise ValueError("max_bytes must be positive")
    safe_name, ext = _check_filename(filename)
    kind = ALLOWED_EXTENSIONS[ext]
    content = _read_limited(data, max_bytes)
    if not content:
        raise UploadRefused(422, "empty", "文件为空")
    _check_content(content, kind)
    return UploadInfo(
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        kind=kind,
        mime=MIME_TYPES[kind],
        safe_name=safe_name,
    )


# --------------------------------------------------------------------------- storage

_SHA256 = re.compile(r"[0-9a-f]{64}")


class FileStore:
    """Files kept once each under ``root/ab/cd/<sha256>`` (root outside the web root).

    Writes are atomic (a temporary file in the target folder, then ``os.replace``) and
    idempotent. Every method taking a digest checks it is 64 lower-case hex characters, so
    no path can be smuggled in through it.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @staticmethod
    def _checked(sha256: str) -> str:
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise ValueError("sha256 must be 64 lower-case hexadecimal characters")
        return sha256

    def path(self, sha256: str) -> Path:
        sha = self._checked(sha256)
        return self.root / sha[:2] / sha[2:4] / sha

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> IO[bytes]:
        """The stored content for reading; FileNotFoundError when it was never stored."""
        return self.path(sha256).open("rb")

    def store(self, data: bytes | bytearray | memoryview) -> str:
        """Keep ``data`` and return its SHA-256; storing the same content again is a no-op."""
        content = bytes(data)
        sha = hashlib.sha256(content).hexdigest()
        target = self.path(sha)
        if target.is_file():
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
                dir=target.parent, prefix=f".{sha[:8]}-", suffix=".tmp", delete=False) as tmp:
            temp = Path(tmp.name)
            try:
                tmp.write(content)
                tmp.flush()
                os.fsync(tmp.fileno())
            except BaseException:
                tmp.close()
                temp.unlink(missing_ok=True)
                raise
        try:
            temp.replace(target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return sha
