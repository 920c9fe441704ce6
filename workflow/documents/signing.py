"""The bureau's digital signature on every issued official PDF, and its check on /verify.

``issue`` turns a rendered 立项通知书, 立项文件, 任务书 or 拨付通知 into the file the bureau
issues: PDF/A-2b archival metadata (archive.py), then a PAdES signature (pyHanko,
ETSI.CAdES.detached, an invisible field, reason and location from the settings) by the
certificate of ``SIGNING_PKCS12``. The signature is an incremental update over the whole
file, so the PDF/A structures stay as they were and any reader shows who issued the
document and that nothing changed since. Documents render once (official.py), so the
signing time in the signature, the only thing that differs between two signings, never
makes two versions of one document.

Without ``SIGNING_PKCS12`` (development, the demo, the tests of other parts) a self-signed
demo certificate is made on first use under ``instance/`` and reused; its name says what
it is ("kjflow 演示证书 – 不具法律效力"). Production refuses to start without a real one
(workflow/config.py).

``check`` validates the signature of an uploaded PDF against the trust roots
(``SIGNING_TRUST``, else the top of the PKCS#12's own chain: its CA, or the certificate
itself): who signed, when (as the signer says: no timestamp authority is used, and the
certificate is judged at that time, so a document outlives its certificate), whether the
file is intact and the signature covers all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import pikepdf
from asn1crypto import parser as asn1_parser
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from flask import current_app

from workflow.documents import archive, pdf

with warnings.catch_warnings():
    # pyHanko imports cryptography's DSA names, which cryptography 51 deprecates.
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.keys import load_certs_from_pemder
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.general import SigningError, get_pyca_cryptography_hash
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

# A chain that does not reach the trust roots is an answer for the person checking a file
# ("signed by someone else"), not a warning with a traceback for the operators.
logging.getLogger("pyhanko.sign.validation.generic_cms").setLevel(logging.ERROR)

DEMO_NAME = "kjflow 演示证书 – 不具法律效力"
DEMO_YEARS = 10
FIELD = "发文机关签名"
T = TypeVar("T")


class _KeyedSigner(signers.SimpleSigner):
    """pyHanko's signer with the private key loaded once: pyHanko loads it from DER at
    every signature, and loading an RSA key checks it (40 ms, more than the rest of a
    signature). Mechanisms other than RSA PKCS#1 v1.5 and ECDSA go the usual way."""

    private_key: Any = None

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        try:
            algorithm = self.get_signature_mechanism_for_digest(
                digest_algorithm).signature_algo
        except ValueError:
            return super().sign_raw(data, digest_algorithm)
        digest = get_pyca_cryptography_hash(digest_algorithm)
        key = self.private_key
        if algorithm == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), digest)
        if algorithm == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(digest))
        return super().sign_raw(data, digest_algorithm)


@dataclass(frozen=True)
class Identity:
    """A loaded signing certificate and the roots a signature by it chains to."""

    signer: signers.SimpleSigner
    roots: tuple[asn1_x509.Certificate, ...]
    name: str
    # What its signature container takes (hexadecimal digits), learnt from a signature of
    # a blank page before the first document: told to pyHanko, it spares a trial signature
    # each time and leaves no more room than the container needs (pyHanko's own estimate
    # leaves half as much again, 1.5 KB of zeros).
    reserve: dict[str, int] = field(default_factory=dict, compare=False, hash=False)


# ---- the certificate --------------------------------------------------------------------

def make_demo_pkcs12(path: Path) -> Path:
    """The demo certificate at ``path``, made if absent (self-signed, RSA 2048, no
    password, readable by its owner only). Made in a temporary file and linked into
    place, so that two processes starting together keep the same one."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEMO_NAME),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kjflow 演示")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * DEMO_YEARS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    data = pkcs12.serialize_key_and_certificates(
        b"kjflow-demo", key, cert, None, serialization.NoEncryption())
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".signing-demo-")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        tmp.chmod(0o600)
        # Another process may have made one first: that one is kept.
        with contextlib.suppress(FileExistsError):
            path.hardlink_to(tmp)
    finally:
        tmp.unlink()
    return path


def load_identity(path: Path, password: str = "", trust: Path | None = None) -> Identity:
    """The certificate of the PKCS#12 at ``path`` (cached while the files are unchanged)."""
    stamp = (path.stat().st_mtime_ns, trust.stat().st_mtime_ns if trust else 0)
    return _load(path, password, trust, stamp)


@lru_cache(maxsize=8)
def _load(path: Path, password: str, trust: Path | None, _stamp: tuple[int, int]) -> Identity:
    data = path.read_bytes()
    secret = password.encode() if password else None
    key, cert, chain = pkcs12.load_key_and_certificates(data, secret)
    if key is None or cert is None:
        raise ValueError(f"{path}: no key and certificate")
    loaded = signers.SimpleSigner.load_pkcs12_data(data, [], passphrase=secret)
    if loaded is None:
        raise ValueError(f"{path}: pyHanko cannot load it")
    # The signing certificate and the CAs under the root: a root certificate in the file
    # proves nothing (a reader trusts only the roots it already has) and costs 1 KB or so
    # in every document. A self-signed certificate is always embedded.
    signer = _KeyedSigner(signing_cert=loaded.signing_cert, signing_key=loaded.signing_key,
                          cert_registry=loaded.cert_registry, embed_roots=False)
    signer.private_key = key
    if trust is not None:
        roots = tuple(load_certs_from_pemder([str(trust)]))
    else:
        roots = tuple(asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                      for c in [_top_of(cert, chain)])
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return Identity(signer=signer, roots=roots,
                    name=str(names[0].value) if names else cert.subject.rfc4514_string())


def _top_of(cert: x509.Certificate, chain: list[x509.Certificate]) -> x509.Certificate:
    """The root of ``cert``'s chain as far as the PKCS#12 holds it."""
    by_subject = {c.subject: c for c in chain}
    top, seen = cert, 0
    while top.issuer != top.subject and top.issuer in by_subject and seen < 10:
        top, seen = by_subject[top.issuer], seen + 1
    return top


def bureau() -> Identity:
    """The configured signing certificate, or the demo one outside production."""
    config = current_app.config
    trust = Path(config["SIGNING_TRUST"]) if config.get("SIGNING_TRUST") else None
    if config.get("SIGNING_PKCS12"):
        return load_identity(Path(config["SIGNING_PKCS12"]), config.get("SIGNING_PASSWORD")
                             or "", trust)
    if config.get("PRODUCTION"):
        raise RuntimeError("生产环境须配置发文机关的签名证书（KJFLOW_SIGNING_PKCS12）")
    return load_identity(make_demo_pkcs12(Path(config["SIGNING_DEMO_PKCS12"])), "", trust)


# ---- signing ----------------------------------------------------------------------------

def sign(data: bytes, identity: Identity, reason: str, location: str) -> bytes:
    """``data`` signed by ``identity``: PAdES baseline B, an invisible field, SHA-256."""
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD, reason=reason, location=location, md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES)
    if "bytes" not in identity.reserve:
        probe = _signed(_blank_page(), meta, identity, None)
        identity.reserve["bytes"] = _container_size(probe) + RESERVE_MARGIN
    try:
        signed = _signed(data, meta, identity, identity.reserve["bytes"])
    except SigningError:  # outgrew the room learnt: let pyHanko estimate it again
        signed = _signed(data, meta, identity, None)
        identity.reserve["bytes"] = _container_size(signed) + RESERVE_MARGIN
    return signed


def _signed(data: bytes, meta: signers.PdfSignatureMetadata, identity: Identity,
            reserved: int | None) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    out = outside_event_loop(signers.sign_pdf, writer, meta, signer=identity.signer,
                             bytes_reserved=reserved)
    return bytes(out.getvalue())


def outside_event_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` where asyncio may start a loop of its own. pyHanko's
    synchronous calls run ``asyncio.run``, which refuses to start in a thread that already
    runs an event loop (an asynchronous server, Playwright's synchronous API in the
    tests): there, the call runs in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


# Room (hexadecimal digits) left over the first signature's container. Only an ECDSA
# value differs from one signature to the next (a DER integer pair, by a byte or two);
# the signing time is a UTCTime of fixed length, the other signed attributes are digests.
RESERVE_MARGIN = 64


def _blank_page() -> bytes:
    """A PDF of one blank page, which an identity signs once to learn its reserve."""
    with pikepdf.new() as blank:
        blank.add_blank_page()
        out = io.BytesIO()
        blank.save(out)
    return out.getvalue()


def _container_size(signed: bytes) -> int:
    """The size of the signature container of ``signed`` in hexadecimal digits, as
    pyHanko's ``bytes_reserved`` counts (its /Contents holds it, then zeros)."""
    sig = PdfFileReader(io.BytesIO(signed), strict=False).embedded_signatures[-1]
    _, _, _, header, content, _ = asn1_parser.parse(bytes(sig.pkcs7_content))
    return (len(header) + len(content)) * 2


def issue(rendered: pdf.RenderedPdf, lh: pdf.Letterhead, kind_label: str) -> pdf.RenderedPdf:
    """The document as the bureau issues it: PDF/A metadata, then the signature."""
    record = archive.Record(title=lh.title, doc_number=lh.doc_number or None,
                            issuer=lh.authority, issued_on=lh.issued_on, kind=kind_label)
    config = current_app.config
    signed = sign(archive.with_metadata(rendered.data, record), bureau(),
                  config["SIGNING_REASON"], config["SIGNING_LOCATION"])
    return pdf.RenderedPdf(data=signed, pages=rendered.pages)


# ---- checking ---------------------------------------------------------------------------

# status -> what the verification page and the API say
MESSAGES = {
    "valid": "数字签名有效：文件由{signer}签发，签名后未被改动。",
    "unsigned": "该文件没有数字签名：不是本局签发的电子文件，或已被重新保存、打印后扫描。",
    "broken": "数字签名无效：签名后文件内容被改动（哪怕一个字节），该文件不可信。",
    "modified": "签名本身有效，但签名后文件又被追加修改：只有签名时的版本是本局签发的。",
    "foreign": "文件由“{signer}”签名，不是本局的签名证书：不是本局签发的文件。",
    "unreadable": "文件已损坏或不是有效的 PDF，无法核验签名。",
}
STATUSES = tuple(MESSAGES)


@dataclass(frozen=True)
class SignatureCheck:
    status: str                    # one of STATUSES
    signer: str | None = None      # the signing certificate's common name
    issuer: str | None = None      # its issuer's common name
    signed_at: datetime | None = None   # as the signer reports it
    intact: bool = False           # the signed bytes are unchanged
    trusted: bool = False          # the certificate chains to the trust roots
    whole_file: bool = False       # the signature covers the whole file
    reason: str | None = None
    location: str | None = None

    @property
    def message(self) -> str:
        return MESSAGES[self.status].format(signer=self.signer or "未知签名人")


def check(data: bytes, roots: tuple[asn1_x509.Certificate, ...]) -> SignatureCheck:
    """The last signature of ``data`` validated against ``roots``, offline."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyHanko warns about what it repairs
            sigs = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    except Exception:  # any upload: a file pyHanko cannot read is unreadable
        # ... or, when it holds a signature dictionary, a signed file damaged since.
        return SignatureCheck("broken" if b"/ByteRange" in data else "unreadable")
    if not sigs:
        return SignatureCheck("unsigned")
    sig = sigs[-1]
    try:
        return _validated(sig, roots)
    except Exception:  # a damaged signature object is a broken signature
        return SignatureCheck("broken")


def _validated(sig: Any, roots: tuple[asn1_x509.Certificate, ...]) -> SignatureCheck:
    reported = sig.self_reported_timestamp
    context = ValidationContext(trust_roots=list(roots), allow_fetching=False,
                                revocation_mode="soft-fail", moment=reported)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = outside_event_loop(validate_pdf_signature, sig, context)
    cert = status.signing_cert
    signer = _common_name(cert.subject)
    intact = bool(status.intact and status.valid)
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    found = SignatureCheck(
        "valid", signer=signer, issuer=_common_name(cert.issuer),
        signed_at=status.signer_reported_dt, intact=intact, trusted=bool(status.trusted),
        whole_file=whole, reason=_text(sig.sig_object.get("/Reason")),
        location=_text(sig.sig_object.get("/Location")))
    if not intact:
        return replace(found, status="broken")
    if not found.trusted:
        return replace(found, status="foreign")
    if not whole:
        return replace(found, status="modified")
    return found


def _common_name(name: asn1_x509.Name) -> str:
    native = name.native
    return str(native.get("common_name") or name.human_friendly)


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def check_issued(data: bytes) -> SignatureCheck:
    """``check`` against the configured trust roots."""
    return check(data, bureau().roots)
