"""验收结论书: the bureau's conclusion of a project's final acceptance, a 公文 issued
through the office's register (``numbering``) and rendered by the worker once numbered,
signed as every official document is (``workflow.documents.official``). The panel appears
as 专家1, 专家2…: the document goes to the team."""

from __future__ import annotations

from workflow.acceptance import operations as acceptances
from workflow.acceptance.models import ASSESSMENTS, GRADES, OUTPUT_KINDS, Acceptance
from workflow.core import numbering
from workflow.core.models import OutboxEvent, db
from workflow.documents import pdf
from workflow.documents.models import Document
from workflow.documents.official import _existing, _letterhead, _store
from workflow.notify import notifications
from workflow.timeutil import SHANGHAI, cn_date

KIND = "acceptance_conclusion"


def render_acceptance_conclusion(acc_id: int) -> Document | None:
    """The 验收结论书 of a concluded acceptance, once it has its 发文字号."""
    acc = db.session.get(Acceptance, acc_id)
    if acc is None or acc.concluded_at is None:
        return None
    app = acc.application
    found = _existing(KIND, 1, application_id=app.id)
    if found is not None:
        return found
    issued = numbering.issued(KIND, "acceptance", acc.id)
    if issued is None or issued.number is None or issued.numbered_at is None:
        return None  # waiting for the office's number
    lh = _letterhead(KIND, f"acceptance:{acc.id}", issued.number,
                     f"关于“{app.title}”项目结题验收的结论", issued.numbered_at, 1)
    submitted = acc.submitted_at or acc.created_at
    rendered = pdf.render_official(
        "documents/acceptance_conclusion.html", lh, acc=acc, app=app,
        organization=app.organization.name, grades=GRADES, assessments=ASSESSMENTS,
        output_kinds=OUTPUT_KINDS, indicators=acceptances.indicator_names(app),
        baogan=app.challenge is None, spent=acceptances.spending_total(acc),
        disbursed=acceptances.disbursed(app),
        submitted_on=cn_date(submitted.astimezone(SHANGHAI).date()))
    doc = _store(rendered, lh, KIND, 1, application_id=app.id)
    for uid in dict.fromkeys([app.applicant_id, acc.submitted_by_id]):
        if uid is not None:
            notifications.send(notifications.Message(
                uid, "acceptance_conclusion", "notice",
                {"app": app, "acc": acc, "number": issued.number},
                f"/documents/{doc.id}"), f"document:{doc.id}")
    return doc


def acceptance_conclusion(event: OutboxEvent) -> None:
    """验收结论书, once numbered."""
    render_acceptance_conclusion(event.entity_id)
