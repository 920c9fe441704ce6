"""Official documents (GB/T 9704-2012 layout), rendered by the worker after commit.

- 立项文件: one per call, listing all its approved projects, issued once the last project
  of the call has left public notice, when it has its 发文字号 (``call.approval_file``).
- 立项通知书: one per approved project, issued after the 立项文件, which it cites, when it
  has its 发文字号 (``application.notice``); the applicant is told with a link.
- 拨付通知: one per released tranche, when it has its 发文字号 (``tranche.payment_notice``).
- 任务书: when the contract is signed by every party (``application.sign_contract``).

发文字号 are the office's (``workflow.core.numbering``): taken from its sequence in the
transaction that issues the document, or entered by the office, never here. A task
retried, run twice or killed midway renders the same document and never takes a second
number; the ``document`` row's unique key makes the second run find the first one's row.
What is printed depends only on stored data (the number's date of issue, not the
render's), so rendering the same version again yields the same text. Each PDF is stored
by SHA-256 and carries a QR code to the public verification page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from forms import format_wan
from workflow.applying.models import Application, SignedDocument, SigningParty
from workflow.calls.models import Call, Scheme
from workflow.core import numbering, throttle
from workflow.core.files import store
from workflow.core.models import db
from workflow.decisions.notices import approved_projects
from workflow.documents import pdf
from workflow.documents.models import Document
from workflow.notify import notifications
from workflow.timeutil import SHANGHAI, local_time

KINDS = {"application": "申报书", "notice": "立项通知书", "approval_file": "立项文件",
         "task_book": "任务书", "payment_notice": "拨付通知"}


def doc_code(kind: str, owner: str, round_no: int) -> str:
    """The document's public code: derived from what it is (so a re-render prints the
    same one) and the secret key (so codes cannot be guessed)."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"{kind}:{owner}:{round_no}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode()


def format_code(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def _letterhead(kind: str, owner: str, doc_number: str, title: str, issued: datetime,
                round_no: int = 1) -> pdf.Letterhead:
    code = doc_code(kind, owner, round_no)
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return pdf.Letterhead(authority=current_app.config["BUREAU_NAME"], doc_number=doc_number,
                          title=title, issued_on=issued.astimezone(SHANGHAI).date(),
                          verify_url=f"{base}/verify/{code}", verify_code=format_code(code))


def _line(app: Application) -> pdf.ProjectLine:
    return pdf.ProjectLine(project_number=app.project_number or "", title=app.title,
                           organization=app.organization.name, leader=app.applicant.name,
                           amount=app.granted_amount or Decimal("0.00"))


def _store(rendered: pdf.RenderedPdf, lh: pdf.Letterhead, kind: str, round_no: int = 1,
           **owner: int) -> Document:
    sha = store().store(rendered.data)
    doc = Document(kind=kind, round=round_no, sha256=sha, size=len(rendered.data),
                   pages=rendered.pages, title=lh.title, doc_number=lh.doc_number,
                   code=lh.verify_code.replace("-", ""), **owner)
    db.session.add(doc)
    db.session.flush()
    return doc


def _existing(kind: str, round_no: int = 1, **owner: int) -> Document | None:
    query = sa.select(Document).where(Document.kind == kind, Document.round == round_no)
    for column, value in owner.items():
        query = query.where(getattr(Document, column) == value)
    return db.session.scalar(query)


def render_notice(app_id: int) -> Document | None:
    """The 立项通知书 of an approved project (None when it is not approved)."""
    found = _existing("notice", application_id=app_id)
    if found is not None:
        return found
    app = db.session.get(Application, app_id)
    issued = numbering.issued("notice", "application", app_id)
    if app is None or app.approved_at is None or issued is None or issued.number is None \
            or issued.numbered_at is None or app.call.doc_number is None:
        return None  # not approved, or not issued: waiting for its or the 立项文件's number
    lh = _letterhead("notice", f"application:{app.id}", issued.number,
                     f"关于“{app.title}”项目立项的通知", issued.numbered_at)
    rendered = pdf.render_notice(pdf.NoticeContext(
        letterhead=lh, project=_line(app), call_title=app.call.title,
        scheme_label=app.call.scheme.label,
        challenge_title=app.challenge.title if app.challenge else None,
        approval_file_number=app.call.doc_number, notice_days=app.notice_days))
    doc = _store(rendered, lh, "notice", application_id=app.id)
    notifications.send(notifications.Message(
        app.applicant_id, "approved", "decision",
        {"app": app, "amount": format_wan(app.granted_amount)}, f"/documents/{doc.id}"),
        f"document:{doc.id}")
    return doc


def render_approval_file(call_id: int) -> Document | None:
    """The call's 立项文件, once it has its 发文字号."""
    found = _existing("approval_file", call_id=call_id)
    if found is not None:
        return found
    call = db.session.get(Call, call_id)
    issued = numbering.issued("approval_file", "call", call_id)
    if call is None or issued is None or issued.number is None or issued.numbered_at is None:
        return None
    projects = approved_projects(call)
    lh = _letterhead("approval_file", f"call:{call.id}", issued.number,
                     f"关于下达{call.title}立项项目的通知", issued.numbered_at)
    periods = {a.notice_days for a in projects}
    rendered = pdf.render_approval_file(pdf.ApprovalFileContext(
        letterhead=lh, call_title=call.title, scheme_label=call.scheme.label, year=call.year,
        projects=[_line(a) for a in projects],
        notice_days=periods.pop() if len(periods) == 1 else None))
    return _store(rendered, lh, "approval_file", call_id=call.id)


def _months_after(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)


def render_task_book(app_id: int) -> Document | None:
    """The 任务书 of a contracted project, with every party's signature."""
    found = _existing("task_book", application_id=app_id)
    if found is not None:
        return found
    app = db.session.get(Application, app_id)
    bureau = app.signature(SignedDocument.task_book, SigningParty.bureau) if app else None
    if app is None or app.approved_at is None or bureau is None:
        return None
    signed = bureau.signed_at
    lh = _letterhead("task_book", f"application:{app.id}", f"编号：{app.project_number}",
                     f"“{app.title}”项目任务书", signed)
    start = app.approved_at.astimezone(SHANGHAI).date()
    milestones = [pdf.Milestone(title=str(m.get("label", "")),
                                due=_months_after(start, int(m.get("months", 0))),
                                amount=Decimal(str(m.get("amount", "0"))), criteria="")
                  for m in (app.data or {}).get("milestones") or []]
    answers = (app.data or {}).get("indicators") or {}
    indicators = [f"{i['name']}：{answers.get(i['name']) or i.get('target', '')}"
                  for i in (app.challenge.indicators if app.challenge else [])]

    def signer(party: SigningParty, default: str = "") -> tuple[str, str]:
        sig = app.signature(SignedDocument.task_book, party)
        return (sig.signer_name, local_time(sig.signed_at)) if sig else (default, "")

    signatures = [pdf.Signature(f"甲方（委托方）：{current_app.config['BUREAU_NAME']}",
                                *signer(SigningParty.bureau))]
    demand = app.challenge.demand_org.name if app.challenge else None
    if app.call.scheme is Scheme.jiebang and demand:
        signatures.append(pdf.Signature(f"需求方（发榜方）：{demand}",
                                        *signer(SigningParty.demand)))
    signatures.append(pdf.Signature(f"乙方（承担方）：{app.organization.name}",
                                    *signer(SigningParty.team, app.applicant.name)))
    rendered = pdf.render_task_book(pdf.TaskBookContext(
        letterhead=lh, project=_line(app), call_title=app.call.title,
        scheme_label=app.call.scheme.label,
        challenge_title=app.challenge.title if app.challenge else None, demand_org=demand,
        indicators=indicators, milestones=milestones, signatures=signatures))
    doc = _store(rendered, lh, "task_book", application_id=app.id)
    return doc


def render_payment_notice(tranche_id: int) -> Document | None:
    """The 拨付通知 of a released tranche (one per tranche: its seq is the round)."""
    from workflow.finance.models import Tranche
    from workflow.finance.operations import capital, payee_of

    tranche = db.session.get(Tranche, tranche_id)
    if tranche is None or tranche.released_at is None:
        return None
    app = tranche.application
    found = _existing("payment_notice", tranche.seq, application_id=app.id)
    if found is not None:
        return found
    issued = numbering.issued("payment_notice", "tranche", tranche.id)
    if issued is None or issued.number is None or issued.numbered_at is None:
        return None  # waiting for the office's number
    # What was paid up to and including this tranche (stored data only: re-rendering the
    # same tranche later prints the same figures).
    paid = sum((t.amount for t in db.session.scalars(sa.select(Tranche).where(
        Tranche.application_id == app.id, Tranche.released_at.is_not(None),
        Tranche.seq <= tranche.seq))), Decimal("0.00"))
    grant = app.granted_amount or Decimal("0.00")
    lh = _letterhead("payment_notice", f"application:{app.id}", issued.number,
                     f"关于拨付“{app.title}”项目经费的通知", issued.numbered_at, tranche.seq)
    # The account it was paid to, as the voucher keeps it (never the organisation's
    # account as it stands when the worker renders).
    payee = payee_of(tranche)
    line = _line(app)
    rendered = pdf.render_payment_notice(pdf.PaymentNoticeContext(
        letterhead=lh, project=replace(line, organization=payee.organization or
                                       line.organization),
        tranche_label=tranche.label, amount=tranche.amount,
        amount_capital=capital(tranche.amount), bank_name=payee.bank_name,
        bank_account=payee.bank_account, payment_ref=tranche.payment_ref or "",
        released_on=tranche.released_at.astimezone(SHANGHAI).date(), disbursed_total=paid,
        remaining=max(grant - paid, Decimal("0.00"))))
    doc = _store(rendered, lh, "payment_notice", tranche.seq, application_id=app.id)
    notifications.send(notifications.Message(
        app.applicant_id, "tranche_released", "notice",
        {"app": app, "label": tranche.label, "amount": format_wan(tranche.amount),
         "payment_ref": tranche.payment_ref}, f"/documents/{doc.id}"), f"document:{doc.id}")
    return doc


# ---- public verification -----------------------------------------------------------------

def count_lookup(address: str | None) -> None:
    """One verification from ``address`` (by the page or the API alike), refused with
    429 past ``VERIFY_PER_MINUTE`` within a minute: the codes and digests cannot be
    tried in bulk, and an address sharing a NAT waits a minute at most."""
    throttle.spend("verify", address, current_app.config["VERIFY_PER_MINUTE"],
                   timedelta(minutes=1), "验证查询")


def by_code(code: str) -> Document | None:
    clean = "".join(ch for ch in (code or "").upper() if ch.isalnum())
    if len(clean) != 16:
        return None
    return db.session.scalar(sa.select(Document).where(Document.code == clean))


def matches(doc: Document, sha256: str) -> bool:
    return hmac.compare_digest(doc.sha256, (sha256 or "").strip().lower())


def by_hash(sha256: str) -> Document | None:
    value = (sha256 or "").strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        return None
    return db.session.scalar(sa.select(Document).where(
        Document.sha256 == value, Document.code.is_not(None)))
