"""Throwaway certificate authorities for the tests: the bureau's CA with the bureau's
signing certificate (what the app under test signs with and trusts), and a stranger's CA
with its own certificate (a signature by someone else). Made once per process, with
cryptography, in a temporary folder; EC P-256 keys, quick to make."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

PASSWORD = "p12-test-password"
BUREAU_CN = "赣州市科学技术局（测试签名证书）"
STRANGER_CN = "某某伪造公章有限公司"


@dataclass(frozen=True)
class Authority:
    pkcs12: Path        # the signing certificate with its key and CA, PASSWORD
    ca_pem: Path        # the CA's certificate alone
    signer_cn: str


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not ca, content_commitment=not ca,
                         key_encipherment=False, data_encipherment=False,
                         key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def make_authority(folder: Path, ca_cn: str, signer_cn: str) -> Authority:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(ca_cn)).issuer_name(_name(ca_cn))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_usage(ca=True), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(signer_cn)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    p12 = folder / "signer.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"signer", key, cert, [ca], serialization.BestAvailableEncryption(PASSWORD.encode())))
    pem = folder / "ca.pem"
    pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return Authority(pkcs12=p12, ca_pem=pem, signer_cn=signer_cn)


@cache
def _folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="kjflow-test-ca-"))


@cache
def bureau() -> Authority:
    return make_authority(_folder() / "bureau", "测试根证书（可丢弃）", BUREAU_CN)


@cache
def stranger() -> Authority:
    return make_authority(_folder() / "stranger", "陌生根证书", STRANGER_CN)


def signing_config() -> dict[str, str]:
    """The app settings that make it sign with, and trust, the bureau's test CA."""
    ca = bureau()
    return {"SIGNING_PKCS12": str(ca.pkcs12), "SIGNING_PASSWORD": PASSWORD,
            "SIGNING_TRUST": str(ca.ca_pem)}


def signing_env() -> dict[str, str]:
    """The same for a process the tests start (a worker), as the environment says it."""
    ca = bureau()
    return {"KJFLOW_SIGNING_PKCS12": str(ca.pkcs12), "KJFLOW_SIGNING_PASSWORD": PASSWORD,
            "KJFLOW_SIGNING_TRUST": str(ca.ca_pem)}


def issue_notice(project_number: str, doc_number: str) -> tuple[Any, bytes]:
    """A 立项通知书 issued the way the worker issues it (after its call's 立项文件, 20号),
    and the stored file's bytes."""
    from decimal import Decimal

    from tests.factories import ApplicationFactory, CallFactory, IssuedNumberFactory
    from workflow.core import files
    from workflow.core.models import db, utcnow
    from workflow.documents import official

    row = ApplicationFactory(title="稀土永磁项目", project_number=project_number,
                             doc_number=doc_number, approved_at=utcnow(),
                             granted_amount=Decimal("500000.00"),
                             call=CallFactory(doc_number="赣市科字〔2026〕20号"))
    IssuedNumberFactory(application=row)
    db.session.commit()
    doc = official.render_notice(row.id)
    db.session.commit()
    with files.store().open(doc.sha256) as fh:
        return doc, fh.read()
