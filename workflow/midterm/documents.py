"""中期检查结论通知: the bureau's notice of a midterm check's conclusion (通过 or 终止), a
公文 issued through the office's register (``numbering``) and rendered by the worker once
numbered, signed as every official document is (``workflow.documents.official``)."""

from __future__ import annotations

from decimal import Decimal

from workflow.core import numbering
from workflow.core.models import OutboxEvent, db
from workflow.documents import pdf
from workflow.documents.models import Document
from workflow.documents.official import _existing, _letterhead, _store
from workflow.midterm.models import MidtermReport
from workflow.notify import notifications
from workflow.timeutil import SHANGHAI, cn_date

KIND = "midterm_conclusion"


def render_midterm_conclusion(report_id: int) -> Document | None:
    """The notice of a concluded check, once it has its 发文字号 (one per check: its
    ``seq`` is the document's round)."""
    report = db.session.get(MidtermReport, report_id)
    if report is None or report.decided_at is None:
        return None
    app = report.application
    found = _existing(KIND, report.seq, application_id=app.id)
    if found is not None:
        return found
    issued = numbering.issued(KIND, "midterm", report.id)
    if issued is None or issued.number is None or issued.numbered_at is None:
        return None  # waiting for the office's number
    lh = _letterhead(KIND, f"midterm:{report.id}", issued.number,
                     f"关于“{app.title}”项目中期检查结论的通知", issued.numbered_at, report.seq)
    scores = [s.score for s in report.panel() if s.score is not None]
    average = (Decimal(sum(scores)) / len(scores)).quantize(Decimal("0.1")) if scores else None
    opened = report.created_at.astimezone(SHANGHAI).date()
    rendered = pdf.render_official(
        "documents/midterm_conclusion.html", lh, report=report, app=app,
        passed=report.outcome == "pass", opened_on=cn_date(opened),
        experts=len(report.panel()), average=average, baogan=app.challenge is None,
        organization=app.organization.name)
    doc = _store(rendered, lh, KIND, report.seq, application_id=app.id)
    notifications.send(notifications.Message(
        app.applicant_id, "midterm_conclusion", "notice",
        {"app": app, "midterm": report, "number": issued.number}, f"/documents/{doc.id}"),
        f"document:{doc.id}")
    return doc


def midterm_conclusion(event: OutboxEvent) -> None:
    """中期检查结论通知, once numbered."""
    render_midterm_conclusion(event.entity_id)
