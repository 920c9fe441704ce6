"""变更批复: the bureau's reply approving a change request, a 公文 issued through the
office's register (``numbering``) and rendered by the worker once numbered, signed as
every official document is (``workflow.documents.official``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from workflow.changes.models import ChangeKind, ChangeRequest
from workflow.core import numbering
from workflow.core.models import OutboxEvent, db
from workflow.documents import pdf
from workflow.documents.models import Document
from workflow.documents.official import _existing, _letterhead, _store
from workflow.notify import notifications
from workflow.timeutil import SHANGHAI, cn_date

KIND = "change_approval"


@dataclass(frozen=True)
class Item:
    """One line of the table of changes: what, before, after."""

    label: str
    before: str
    after: str


def _persons(rows: object) -> str:
    if not isinstance(rows, list):
        return ""
    return "、".join(f"{r.get('name', '')}（{r.get('org', '')}）" for r in rows
                    if isinstance(r, dict)) or "（无）"


def items_of(change: ChangeRequest) -> tuple[str, list[Item]]:
    """What the reply approves, in a sentence, and the table of its changes."""
    before, app = change.before or {}, change.application
    kind = change.kind
    if kind is ChangeKind.pi:
        new = change.new_pi.name if change.new_pi else ""
        return (f"同意项目负责人由{before.get('pi', '')}变更为{new}",
                [Item("项目负责人", str(before.get("pi", "")), new)])
    if kind is ChangeKind.organization:
        new = change.new_organization.name if change.new_organization else ""
        return (f"同意项目承担单位由{before.get('organization', '')}变更为{new}",
                [Item("承担单位", str(before.get("organization", "")), new)])
    if kind is ChangeKind.extension and change.new_end_date is not None:
        ended = str(before.get("ends_on", ""))
        new = cn_date(change.new_end_date)
        old_text = cn_date(date.fromisoformat(ended)) if ended else ""
        return (f"同意项目实施期限延长至{new}", [Item("实施期限截止日期", old_text, new)])
    if kind is ChangeKind.member:
        return ("同意调整项目团队成员",
                [Item("项目团队成员", _persons(before.get("team")), _persons(change.new_team))])
    if kind is ChangeKind.content and app.challenge is not None:
        targets: dict[str, str] = before.get("indicators") or {}
        return ("同意调整项目攻关指标（发榜方已同意）",
                [Item(f"攻关指标：{k}", str(targets.get(k, "")), v)
                 for k, v in (change.new_indicators or {}).items()])
    if kind is ChangeKind.content:
        return ("同意调整项目研究内容和考核指标",
                [Item("研究内容和考核指标", str(before.get("content") or "按原任务书"),
                      change.new_content or "")])
    return ("同意终止该项目。未拨付的经费不再拨付，请你单位做好经费清理和结题资料归档工作",
            [Item("项目状态", "执行中", "终止")])


def render_change_approval(change_id: int) -> Document | None:
    """The 变更批复 of an approved change request, once it has its 发文字号 (one per
    request: its ``seq`` is the document's round)."""
    change = db.session.get(ChangeRequest, change_id)
    if change is None or change.decided_at is None:
        return None
    app = change.application
    found = _existing(KIND, change.seq, application_id=app.id)
    if found is not None:
        return found
    issued = numbering.issued(KIND, "change", change.id)
    if issued is None or issued.number is None or issued.numbered_at is None:
        return None  # waiting for the office's number
    lh = _letterhead(KIND, f"change:{change.id}", issued.number,
                     f"关于“{app.title}”项目{change.kind.label}的批复", issued.numbered_at,
                     change.seq)
    sentence, items = items_of(change)
    submitted = change.submitted_at or change.created_at
    rendered = pdf.render_official(
        "documents/change_approval.html", lh, change=change, app=app, items=items,
        sentence=sentence, baogan=app.challenge is None,
        submitted_on=cn_date(submitted.astimezone(SHANGHAI).date()),
        organization=app.organization.name)
    doc = _store(rendered, lh, KIND, change.seq, application_id=app.id)
    for uid in dict.fromkeys([app.applicant_id, change.requested_by_id]):
        if uid is not None:
            notifications.send(notifications.Message(
                uid, "change_approval", "notice",
                {"app": app, "change": change, "number": issued.number},
                f"/documents/{doc.id}"), f"document:{doc.id}")
    return doc


def change_approval(event: OutboxEvent) -> None:
    """变更批复, once numbered."""
    render_change_approval(event.entity_id)
