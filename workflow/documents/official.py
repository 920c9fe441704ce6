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
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from forms import commitments, format_wan
from workflow.applying.models import Application, SignedDocument, SigningParty
from workflow.calls.models import Call, Scheme
from workflow.calls.operations import form_fields
from workflow.core import numbering, throttle
from workflow.core.files import store
from workflow.core.models import db
from workflow.decisions.models import DecisionItem, DecisionState, FundingDecision
from workflow.decisions.notices import approved_projects
from workflow.documents import pdf, signing
from workflow.documents.models import Document
from workflow.finance import operations as finance
from workflow.finance.models import Milestone, Tranche
from workflow.notify import notifications
from workflow.timeutil import SHANGHAI, cn_date

KINDS = {"application": "申报书", "notice": "立项通知书", "approval_file": "立项文件",
         "task_book": "任务书", "payment_notice": "拨付通知", "recovery_notice": "追回通知",
         "change_approval": "变更批复", "acceptance_conclusion": "验收结论书",
         "midterm_conclusion": "中期检查结论通知"}


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
    config = current_app.config
    base = config["PUBLIC_BASE_URL"].rstrip("/")
    faces = pdf.document_faces(config["FONT_BODY"], config["FONT_TITLE"], config["FONT_HEI"],
                               config["FONT_KAI"], config["FONT_SONG"], config["FONT_DIR"])
    return pdf.Letterhead(authority=config["BUREAU_NAME"], doc_number=doc_number,
                          title=title, issued_on=issued.astimezone(SHANGHAI).date(),
                          verify_url=f"{base}/verify/{code}", verify_code=format_code(code),
                          cc=tuple(config["DOCUMENT_CC"].get(kind, ())),
                          printed_by=config["PRINTED_BY"],
                          note=config["DOCUMENT_NOTES"].get(kind, ""),
                          seal=_seal(config["SEAL_IMAGE"], config["SEAL_MM"]), faces=faces)


def _seal(path: str | None, diameter_mm: float) -> pdf.Seal | None:
    """The configured seal image (read again when the file changes), None if none is set."""
    if not path:
        return None
    try:
        stat = Path(path).stat()
    except OSError as missing:
        raise RuntimeError(f"KJFLOW_SEAL_IMAGE: cannot read {path}: {missing}") from missing
    return _seal_file(path, stat.st_mtime_ns, stat.st_size, diameter_mm)


@lru_cache(maxsize=4)
def _seal_file(path: str, _mtime: int, _size: int, diameter_mm: float) -> pdf.Seal:
    data = Path(path).read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise RuntimeError(f"KJFLOW_SEAL_IMAGE: {path} is not a PNG image")
    return pdf.Seal(png=data, diameter_mm=diameter_mm)


def _line(app: Application) -> pdf.ProjectLine:
    return pdf.ProjectLine(project_number=app.project_number or "", title=app.title,
                           organization=app.organization.name, leader=app.applicant.name,
                           amount=app.granted_amount or Decimal("0.00"))


def _store(rendered: pdf.RenderedPdf, lh: pdf.Letterhead, kind: str, round_no: int = 1,
           **owner: int) -> Document:
    rendered = signing.issue(rendered, lh, KINDS[kind])  # PDF/A metadata, then signed
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


def decided_by(app_ids: list[int]) -> pdf.Decision:
    """What decided these projects, as their 立项通知书 and 立项文件 say it: the meetings
    recorded for their approved funding lists (三重一大), cited by date and minutes; a
    leader's approval when no meeting was recorded; expert review alone when the projects
    were approved without a funding list."""
    if not app_ids:
        return pdf.Decision()
    rows = list(db.session.execute(
        sa.select(DecisionItem.application_id, FundingDecision)
        .join(FundingDecision, FundingDecision.id == DecisionItem.decision_id)
        .where(DecisionItem.application_id.in_(app_ids),
               FundingDecision.state == DecisionState.approved)
        .order_by(FundingDecision.decided_at, FundingDecision.id)))
    if not rows:
        return pdf.Decision()
    met: dict[pdf.Meeting, None] = {}
    with_meeting: set[int] = set()
    for app_id, decision in rows:
        if decision.has_meeting and decision.meeting_date is not None:
            met.setdefault(pdf.Meeting(decision.meeting_name or "", decision.meeting_date,
                                       decision.minutes_ref or ""))
            with_meeting.add(app_id)
    return pdf.Decision(meetings=tuple(met), leader_approved=True,
                        partly=bool(met) and with_meeting != set(app_ids))


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
        approval_file_number=app.call.doc_number, notice_days=app.notice_days,
        decision=decided_by([app.id])))
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
        notice_days=periods.pop() if len(periods) == 1 else None,
        decision=decided_by([a.id for a in projects])))
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


def _signed_text(at: datetime) -> str:
    local = at.astimezone(SHANGHAI)
    return f"{cn_date(local.date())} {local:%H:%M}"


# Form fields of a 包干制 application that state what it will deliver (by their label).
GOAL_WORDS = ("指标", "目标", "成果", "考核", "任务")


def _baogan_indicators(app: Application) -> list[pdf.Indicator]:
    """What a 包干制 project is held to: the goals its form states (the summary of its
    research, and any field labelled as a goal, indicator or result), its spending as
    committed in the signed 承诺书, and the final acceptance. Never empty."""
    data = app.data or {}
    out: list[pdf.Indicator] = []
    for f in form_fields(app.call, app.form_version):
        value = data.get(f.get("name", ""))
        if f.get("type") not in ("text", "longtext", "integer") or value in (None, ""):
            continue
        label = str(f.get("label") or f.get("name"))
        if f.get("name") == "summary":
            out.insert(0, pdf.Indicator("研究内容与预期目标", str(value), f"申报书“{label}”"))
        elif any(word in label for word in GOAL_WORDS):
            out.append(pdf.Indicator(label, str(value), "申报书所列"))
    if not out:
        out.append(pdf.Indicator("研究内容与预期目标",
                                 "按申报书所列研究内容和预期目标完成项目任务"))
    out.append(pdf.Indicator("经费使用", "经费实行包干制，全部用于与本项目研究相关的支出，"
                             "不发生负面清单（第五部分）所列支出", "承诺书"))
    out.append(pdf.Indicator("结题验收", "按期提交结题报告及佐证材料，通过结题验收"))
    return out


def project_indicators(app: Application) -> list[pdf.Indicator]:
    """What the project is held to, as its task book lists it and its acceptance checks
    it: a 揭榜挂帅 challenge's indicators with the team's committed values (as approved
    content changes left them), a 包干制 project's goals (``_baogan_indicators``)."""
    if app.challenge is not None:
        answers = (app.data or {}).get("indicators") or {}
        return [pdf.Indicator(i["name"], str(i.get("target", "")),
                              str(answers.get(i["name"]) or ""))
                for i in app.challenge.indicators]
    return _baogan_indicators(app)


def _commitment_lines(text: str) -> list[str]:
    """The numbered promises of a signed text (its first line is the preamble)."""
    return [line.split("、", 1)[1] if "、" in line[:3] else line
            for line in text.splitlines()[1:] if line.strip()]


def _criteria(app: Application, planned: finance.PlannedTranche, last_milestone: bool,
              template_label: str | None) -> str:
    """考核要求 of one row of the schedule: what must hold before it is paid."""
    if planned.condition == "milestone":
        judges = f"需求方（{app.challenge.demand_org.name}）和甲方" if app.challenge else "甲方"
        text = (f"完成“{planned.milestone_label}”阶段任务，提交进展报告和佐证材料，"
                f"经{judges}验收通过")
        if template_label and template_label != planned.milestone_label:
            text += f"（对应榜单里程碑“{template_label}”）"
        if last_milestone and app.challenge and app.challenge.indicators:
            text += "；全部攻关指标达到榜单要求：" + "；".join(
                f"{i['name']}{i.get('target', '')}" for i in app.challenge.indicators)
        return text
    if planned.condition == "acceptance":
        return "项目通过结题验收，第二部分考核指标全部完成，经费使用符合承诺"
    return "本任务书经各方签署生效"


def _schedule(app: Application) -> list[pdf.Milestone]:
    """The schedule of milestones and payments: the tranches as planned when the contract
    was signed (the ones finance pays), or, before they exist, the same figures from the
    same planning function; so the 合计 is the grant."""
    stored = finance.tranches_of(app)
    if stored:
        due = {m.id: m for m in finance.milestones_of(app)}
        planned = []
        for t in stored:
            m = due.get(t.milestone_id or 0)
            planned.append(finance.PlannedTranche(
                seq=t.seq, label=t.label, amount=t.amount, condition=t.condition,
                milestone_label=m.label if m else None, due_on=m.due_on if m else None))
    else:
        planned = finance.tranche_schedule(app)
    last = max((p.seq for p in planned if p.condition == "milestone"), default=None)
    # The challenge's milestone template, when the team's plan follows it step by step.
    template = app.challenge.milestone_template if app.challenge else []
    if len(template) != sum(1 for p in planned if p.condition == "milestone"):
        template = []
    out = []
    for p in planned:
        suggested = template[p.seq - 1].get("label") if 0 < p.seq <= len(template) else None
        out.append(pdf.Milestone(
            title=p.label, due=p.due_on, amount=p.amount,
            criteria=_criteria(app, p, p.seq == last, suggested),
            condition=finance.CONDITION_LABELS.get(p.condition, "")))
    return out


def render_task_book(app_id: int) -> Document | None:
    """The 任务书 of a contracted project: a contract between the bureau, the team's
    organisation and (揭榜挂帅) the demand side, with every party's signature."""
    found = _existing("task_book", application_id=app_id)
    if found is not None:
        return found
    app = db.session.get(Application, app_id)
    bureau = app.signature(SignedDocument.task_book, SigningParty.bureau) if app else None
    if app is None or app.approved_at is None or bureau is None:
        return None
    signed = bureau.signed_at
    authority = current_app.config["BUREAU_NAME"]
    # No 发文字号: a contract's number is the project number, printed as such.
    lh = _letterhead("task_book", f"application:{app.id}", "", f"“{app.title}”项目任务书",
                     signed)
    task_sigs = [s for s in app.signatures if s.document is SignedDocument.task_book]
    signed_on = max(s.signed_at for s in task_sigs).astimezone(SHANGHAI).date()
    schedule = _schedule(app)
    start = app.approved_at.astimezone(SHANGHAI).date()
    ends = [m.due for m in schedule if m.due is not None]
    if app.challenge is not None:
        ends.append(_months_after(start, app.challenge.duration_months))
    period = (start, max(ends)) if ends else None

    def signer(party: SigningParty, default: str = "") -> tuple[str, str]:
        sig = app.signature(SignedDocument.task_book, party)
        return (sig.signer_name, _signed_text(sig.signed_at)) if sig else (default, "")

    bureau_name, _ = signer(SigningParty.bureau)
    parties = [pdf.Party("甲方（委托方）", authority,
                         uscc=current_app.config["BUREAU_USCC"],
                         address=current_app.config["BUREAU_ADDRESS"],
                         representative=f"授权代表：{bureau_name}" if bureau_name else "")]
    signatures = [pdf.Signature(f"甲方（委托方）：{authority}", *signer(SigningParty.bureau))]
    challenge = app.challenge
    demand = challenge.demand_org if challenge else None
    if app.call.scheme is Scheme.jiebang and demand is not None:
        demand_signer, _ = signer(SigningParty.demand)
        parties.append(pdf.Party("需求方（发榜方）", demand.name, uscc=demand.uscc,
                                 representative=f"授权代表：{demand_signer}"
                                 if demand_signer else ""))
        signatures.append(pdf.Signature(f"需求方（发榜方）：{demand.name}",
                                        *signer(SigningParty.demand)))
    leader = app.applicant
    contact = "，".join(x for x in (leader.phone, leader.email) if x)
    parties.append(pdf.Party("乙方（承担单位）", app.organization.name,
                             uscc=app.organization.uscc,
                             representative=f"项目负责人：{leader.name}", contact=contact))
    signatures.append(pdf.Signature(f"乙方（承担单位）：{app.organization.name}",
                                    *signer(SigningParty.team, leader.name),
                                    signer_title="项目负责人"))

    letter = app.signature(app.commitment_document)
    if challenge is not None:
        indicators: list[pdf.Indicator | str] = list(project_indicators(app))
        title, text, negative = commitments.PLEDGE_TITLE, commitments.PLEDGE_TEXT, []
    else:
        indicators = list(project_indicators(app))
        title, text = commitments.COMMITMENT_TITLE, commitments.COMMITMENT_TEXT
        negative = list(commitments.NEGATIVE_LIST)
    rendered = pdf.render_task_book(pdf.TaskBookContext(
        letterhead=lh, project=_line(app), call_title=app.call.title,
        scheme_label=app.call.scheme.label,
        challenge_title=challenge.title if challenge else None,
        demand_org=demand.name if demand is not None else None,
        indicators=indicators, milestones=schedule, signatures=signatures, parties=parties,
        period=period, signed_on=signed_on, commitments=_commitment_lines(text),
        commitment_title=title,
        commitment_signed=(f"{letter.signer_name}，{cn_date(letter.signed_at.astimezone(SHANGHAI).date())}"
                           if letter else ""),
        negative_list=negative))
    doc = _store(rendered, lh, "task_book", application_id=app.id)
    doc.doc_number = None  # a contract has no 发文字号
    return doc


def _paid_for(tranche: Tranche) -> dict[str, str]:
    """What a tranche pays for, as its 拨付通知 says it: the milestone accepted (揭榜挂帅)
    or the condition that made it due (任务书签订, 结题验收)."""
    milestone = ""
    if tranche.milestone_id is not None:
        row = db.session.get(Milestone, tranche.milestone_id)
        if row is not None:
            milestone = f"第{row.seq}个里程碑“{row.label}”"
            accepted = tranche.milestone_accepted_at or row.accepted_at
            if accepted is not None:
                milestone += f"（{cn_date(accepted.astimezone(SHANGHAI).date())}验收通过）"
    return {"milestone": milestone,
            "condition": finance.CONDITION_LABELS.get(tranche.condition, "")}


def render_payment_notice(tranche_id: int) -> Document | None:
    """The 拨付通知 of a released tranche (one per tranche: its seq is the round)."""
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
        remaining=max(grant - paid, Decimal("0.00")), **_paid_for(tranche)))
    doc = _store(rendered, lh, "payment_notice", tranche.seq, application_id=app.id)
    notifications.send(notifications.Message(
        app.applicant_id, "tranche_released", "notice",
        {"app": app, "label": tranche.label, "amount": format_wan(tranche.amount),
         "payment_ref": tranche.payment_ref}, f"/documents/{doc.id}"), f"document:{doc.id}")
    return doc


def render_recovery_notice(recovery_id: int) -> Document | None:
    """The 追回通知 of a recovery (one per project), once it has its 发文字号: addressed to
    the organisation, citing the project, the amount in 万元 and in 大写, the account to
    pay back to and the due date."""
    from workflow.finance.models import Recovery
    from workflow.finance.operations import capital

    row = db.session.get(Recovery, recovery_id)
    if row is None or row.notified_at is None:
        return None
    app = row.application
    found = _existing("recovery_notice", application_id=app.id)
    if found is not None:
        return found
    issued = numbering.issued("recovery_notice", "recovery", row.id)
    if issued is None or issued.number is None or issued.numbered_at is None:
        return None  # waiting for the office's number
    config = current_app.config
    lh = _letterhead("recovery_notice", f"application:{app.id}", issued.number,
                     f"关于追回“{app.title}”项目经费的通知", issued.numbered_at)
    disbursed = (app.disbursed or Decimal("0.00")) + (row.repaid or Decimal("0.00"))
    rendered = pdf.render_recovery_notice(pdf.RecoveryNoticeContext(
        letterhead=lh, project=_line(app), reason=row.reason, amount=row.amount,
        amount_capital=capital(row.amount), disbursed=disbursed, due_on=row.due_on,
        account_name=config["RECOVERY_ACCOUNT_NAME"], bank_name=config["RECOVERY_BANK"],
        bank_account=config["RECOVERY_ACCOUNT"]))
    doc = _store(rendered, lh, "recovery_notice", application_id=app.id)
    notifications.send(notifications.Message(
        app.applicant_id, "recovery_notice", "notice",
        {"app": app, "amount": format_wan(row.amount), "due_on": row.due_on.isoformat()},
        f"/documents/{doc.id}"), f"document:{doc.id}")
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
