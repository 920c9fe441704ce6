"""What a project's archive holds: the sections, each a function ``app -> list[ArchiveItem]``
(see the package's docstring for how to add one).

Experts are named 专家1, 专家2… (``expert_labels``): the reviewers whose review was
submitted first, in the order of their review's id (the numbering of the call's score
sheet), then the other invited reviewers by review id, then defence panellists who did not
review, by their first score's id; the demand side's panellists are 发榜方代表1, 2….
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from forms import format_wan
from states import ROLES, ReviewState
from workflow.acceptance.models import ASSESSMENTS, FINANCE_VERDICTS, GRADES
from workflow.acceptance.operations import acceptance_of
from workflow.annual.models import SPENDING_CATEGORIES, AnnualReport
from workflow.applying.models import Application, ApplicationRound
from workflow.changes.models import ChangeRequest
from workflow.core.files import store
from workflow.core.models import Attachment, AuditEvent, db
from workflow.decisions.models import DecisionItem, FundingDecision, Objection
from workflow.documents.models import Document
from workflow.documents.official import KINDS as DOCUMENT_KINDS
from workflow.evaluation.models import CLOSURES, DIMENSIONS, Evaluation
from workflow.finance.models import LedgerEntry, Milestone, Recovery, RecoveryInstalment, Tranche
from workflow.finance.models.recovery import SanctionReview
from workflow.midterm.models import OUTCOMES as MIDTERM_OUTCOMES
from workflow.midterm.operations import midterms_of
from workflow.review.models import DefenceScore, DefenceSession, ReviewAssignment
from workflow.timeutil import SHANGHAI, local_time


@dataclass(frozen=True)
class ArchiveItem:
    """One file of the archive."""

    name: str                       # inside its section's folder ("专家评审意见.xlsx")
    category: str                   # 类别, as the index lists it
    formed_on: date | None          # 形成日期
    content: Callable[[], bytes]    # read only when the copy holds the item
    internal: bool = False          # the bureau's only: left out of the applicant's copy
    pages: int | None = None        # a PDF's page count, when known already


@dataclass(frozen=True)
class Section:
    """A folder of the archive (``NN-<title>``, NN its place in ``SECTIONS``)."""

    key: str
    title: str
    items: Callable[[Application], list[ArchiveItem]]
    # The latest time a row this section reads changed (None: nothing of its own beyond
    # what ``last_change`` already reads): an archive older than that is not current.
    last_change: Callable[[Application], datetime | None] | None = None


def day_of(moment: datetime | None) -> date | None:
    return moment.astimezone(SHANGHAI).date() if moment is not None else None


def stored(sha256: str) -> Callable[[], bytes]:
    def read() -> bytes:
        return store().path(sha256).read_bytes()

    return read


# ---- spreadsheets ---------------------------------------------------------------------------

@dataclass
class Sheet:
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]] = field(default_factory=list)


# A spreadsheet's own timestamps (its parts' dates and its core properties): fixed, so that
# the same rows give the same bytes.
FIXED = (1980, 1, 1, 0, 0, 0)
_CORE_DATES = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def workbook(*sheets: Sheet) -> bytes:
    """The sheets as an .xlsx, byte for byte the same for the same rows."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.worksheets[0])
    book.properties.creator = "kjflow"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    for spec in sheets:
        sheet = book.create_sheet(spec.title[:31])
        sheet.append(list(spec.header))
        for cell in sheet[1]:
            cell.font, cell.fill = bold, fill
        for row in spec.rows:
            sheet.append([_cell(v) for v in row])
        for i, label in enumerate(spec.header, 1):
            longest = max([len(str(label)), *(len(str(r[i - 1] or "")) for r in spec.rows)])
            sheet.column_dimensions[get_column_letter(i)].width = min(max(8, longest * 2), 60)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                cell.alignment = wrap
        sheet.freeze_panes = "A2"
    raw = io.BytesIO()
    book.save(raw)
    return fixed_zip(raw.getvalue())


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("="):
        return "'" + value  # text, never a formula
    if isinstance(value, datetime):
        return local_time(value, "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value


def fixed_zip(data: bytes) -> bytes:
    """An .xlsx (a zip) again with its parts dated ``FIXED`` and its core properties'
    dates set to the same day."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _CORE_DATES.sub(rb"\g<1>1980-01-01T00:00:00Z\g<3>", body)
            entry = zipfile.ZipInfo(info.filename, FIXED)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, body)
    return out.getvalue()


def spreadsheet(app: Application, name: str, category: str, formed_on: date | None,
                sheets: Callable[[], Iterable[Sheet]], internal: bool = False) -> ArchiveItem:
    """A spreadsheet item, its text cleared of every expert's name (``anonymised``)."""
    def content() -> bytes:
        clean = anonymiser(app)
        return workbook(*(Sheet(s.title, s.header, [[clean(v) for v in row] for row in s.rows])
                          for s in sheets()))

    return ArchiveItem(name, category, formed_on, content, internal)


# ---- experts as 专家N -------------------------------------------------------------------

def reviews_of(app: Application) -> list[ReviewAssignment]:
    return list(db.session.scalars(sa.select(ReviewAssignment).where(
        ReviewAssignment.application_id == app.id).order_by(ReviewAssignment.id)))


def defence_scores_of(app: Application) -> list[DefenceScore]:
    return list(db.session.scalars(sa.select(DefenceScore).where(
        DefenceScore.application_id == app.id).order_by(DefenceScore.id)))


def expert_labels(app: Application) -> dict[int, str]:
    """Each expert's (and demand-side panellist's) user id -> 专家N / 发榜方代表N (see the
    module's docstring for the order)."""
    reviews = reviews_of(app)
    ordered = ([r.expert_id for r in reviews if r.state is ReviewState.submitted]
               + [r.expert_id for r in reviews if r.state is not ReviewState.submitted])
    labels: dict[int, str] = {}
    for user_id in ordered:
        labels.setdefault(user_id, f"专家{len(labels) + 1}")
    demand = 0
    for score in defence_scores_of(app):
        if score.panelist_id in labels:
            continue
        if score.role == "demand":
            demand += 1
            labels[score.panelist_id] = f"发榜方代表{demand}"
        else:
            experts = sum(v.startswith("专家") for v in labels.values())
            labels[score.panelist_id] = f"专家{experts + 1}"
    # Then the midterm panels' experts and the acceptance panel's, in the order they sat.
    acc = acceptance_of(app)
    seats = [(s.expert_id, "expert") for m in midterms_of(app) for s in m.scores] + [
        (m.user_id, m.role) for m in (acc.members if acc else []) if m.user_id is not None]
    for user_id, role in seats:
        if user_id in labels:
            continue
        if role == "demand":
            demand += 1
            labels[user_id] = f"发榜方代表{demand}"
        else:
            labels[user_id] = f"专家{sum(v.startswith('专家') for v in labels.values()) + 1}"
    return labels


def anonymiser(app: Application) -> Callable[[Any], Any]:
    """What replaces, in a text, each expert's name by their 专家N (an opinion signed with
    a name, a name quoted in a comment or in a trail's data)."""
    from workflow.accounts.models import User

    labels = expert_labels(app)
    names = sorted(((name, labels[uid]) for uid, name in db.session.execute(
        sa.select(User.id, User.name).where(User.id.in_(labels))) if name),
        key=lambda pair: -len(pair[0]))

    def clean(value: Any) -> Any:
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        if not isinstance(value, str):
            return value
        for name, label in names:
            value = value.replace(name, label)
        return value

    return clean


# ---- 01 申报材料 --------------------------------------------------------------------------

OUTCOMES = {"pass": "形式审查通过", "return": "退回修改", "reject": "不予受理"}


def rounds_of(app: Application) -> list[ApplicationRound]:
    return list(db.session.scalars(sa.select(ApplicationRound).where(
        ApplicationRound.application_id == app.id).order_by(ApplicationRound.round)))


def application_items(app: Application) -> list[ArchiveItem]:
    """Each submitted round's archival PDF (as rendered), and the rounds with their formal
    review (outcome, comment, the checklist's answers)."""
    rounds = rounds_of(app)
    pdfs = {d.round: d for d in db.session.scalars(sa.select(Document).where(
        Document.application_id == app.id, Document.kind == "application"))}
    items = []
    for r in rounds:
        doc = pdfs.get(r.round)
        if doc is not None:
            items.append(ArchiveItem(f"申报书-第{r.round}次提交.pdf", "申报书",
                                     day_of(r.submitted_at), stored(doc.sha256),
                                     pages=doc.pages))
    if rounds:
        def sheets() -> list[Sheet]:
            sent = Sheet("提交记录", ["轮次", "提交时间", "项目名称", "形式审查结论", "审查意见"],
                         [[f"第{r.round}次", r.submitted_at, r.title,
                           OUTCOMES.get(r.outcome or "", "—"), r.outcome_comment or ""]
                          for r in rounds])
            checks = Sheet("形式审查要点", ["轮次", "审查要点", "是否符合"],
                           [[f"第{r.round}次", item, "符合" if met else "不符合"]
                            for r in rounds for item, met in (r.checklist or {}).items()])
            return [sent, checks]

        items.append(spreadsheet(app, "提交记录与形式审查.xlsx", "形式审查",
                                 day_of(rounds[-1].submitted_at), sheets))
    return items


# ---- 02 专家评审 --------------------------------------------------------------------------

def review_items(app: Application) -> list[ArchiveItem]:
    """The submitted reviews' scores and opinions (专家N); for the bureau also who else was
    invited and why they did not review (conflicts, declines)."""
    reviews = reviews_of(app)
    if not reviews:
        return []
    labels = expert_labels(app)
    rubric = [c for c in (app.call.rubric or []) if isinstance(c, dict) and c.get("name")]
    submitted = [r for r in reviews if r.state is ReviewState.submitted]
    others = [r for r in reviews if r.state is not ReviewState.submitted]
    items = []
    if submitted:
        def scores() -> list[Sheet]:
            header = ["评审专家", *(f"{c.get('label', c['name'])}（满分{c.get('max', 100)}，"
                                  f"权重{c.get('weight', '')}）" for c in rubric),
                      "总分", "评审意见", "提交时间"]
            return [Sheet("专家评审意见", header, [
                [labels[r.expert_id], *((r.scores or {}).get(c["name"], "") for c in rubric),
                 r.total, r.comment, r.submitted_at] for r in submitted])]

        last = max((r.submitted_at for r in submitted if r.submitted_at), default=None)
        items.append(spreadsheet(app, "专家评审意见.xlsx", "专家评审", day_of(last), scores))
    if reviews:
        def roster() -> list[Sheet]:
            return [Sheet("评审专家邀请与回避", ["评审专家", "状态", "备选专家", "答复期限",
                                        "评审期限", "谢绝或回避理由"], [
                [labels[r.expert_id], r.state.label, "是" if r.reserve else "否",
                 r.respond_by, r.due_at, r.decline_reason or ""]
                for r in [*submitted, *others]])]

        items.append(spreadsheet(app, "评审专家邀请与回避记录.xlsx", "专家评审",
                                 day_of(max(r.submitted_at or r.created_at for r in reviews)),
                                 roster, internal=True))
    return items


# ---- 03 答辩 -------------------------------------------------------------------------------

def defence_items(app: Application) -> list[ArchiveItem]:
    scores = defence_scores_of(app)
    if not scores and app.defence_score is None:
        return []
    labels = expert_labels(app)
    sessions = {s.id: s for s in db.session.scalars(sa.select(DefenceSession).where(
        DefenceSession.id.in_({s.session_id for s in scores})))}

    def sheets() -> list[Sheet]:
        rows: list[Sequence[Any]] = [
            [sessions[s.session_id].starts_at, sessions[s.session_id].place,
             labels.get(s.panelist_id, "评委"), "发榜方" if s.role == "demand" else "专家",
             s.score, s.comment] for s in scores]
        result = Sheet("答辩得分", ["项目", "答辩得分"], [[app.title, app.defence_score]])
        return [Sheet("答辩评分", ["答辩时间", "答辩地点", "评委", "身份", "评分", "意见"], rows),
                result]

    last = max((s.created_at for s in scores), default=None)
    return [spreadsheet(app, "答辩评分.xlsx", "答辩", day_of(last), sheets)]


# ---- 04 立项决策 ---------------------------------------------------------------------------

def decisions_of(app: Application) -> list[FundingDecision]:
    return list(db.session.scalars(sa.select(FundingDecision).join(DecisionItem).where(
        DecisionItem.application_id == app.id).order_by(FundingDecision.id)))


def objections_for(app: Application) -> list[Objection]:
    return list(db.session.scalars(sa.select(Objection).where(
        Objection.application_id == app.id).order_by(Objection.id)))


def decision_items(app: Application) -> list[ArchiveItem]:
    """The funding lists (立项建议名单) that named the project, with the meeting (三重一大)
    and its minutes, and the objections of the public notice: the bureau's own records."""
    decisions = decisions_of(app)
    objections = objections_for(app)
    items = []
    if decisions:
        def lists() -> list[Sheet]:
            rows = []
            for d in decisions:
                item = next(i for i in d.items if i.application_id == app.id)
                rows.append([d.id, d.state.label, item.position, format_wan(item.amount),
                             format_wan(d.total), d.proposed_at, d.proposed_by.name, d.comment,
                             d.decided_by.name if d.decided_by else "", d.decided_at,
                             d.decision_comment, d.meeting_name or "", d.meeting_date,
                             d.meeting_attendees or "", d.minutes_ref or ""])
            return [Sheet("立项建议名单", [
                "名单编号", "状态", "排序", "本项目拟资助（万元）", "名单合计（万元）", "提出时间",
                "提出人", "说明", "审批人", "审批时间", "审批意见", "会议名称", "会议日期",
                "参会人员", "会议纪要文号"], rows)]

        last = max(d.decided_at or d.proposed_at for d in decisions)
        items.append(spreadsheet(app, "立项建议名单与会议决策.xlsx", "立项决策", day_of(last),
                                 lists, internal=True))
        for d in decisions:
            minutes = (db.session.get(Attachment, d.minutes_attachment_id)
                       if d.minutes_attachment_id else None)
            if minutes is not None:
                items.append(ArchiveItem(f"会议纪要-名单{d.id}-{minutes.filename}", "会议纪要",
                                         d.meeting_date or day_of(minutes.uploaded_at),
                                         stored(minutes.sha256), internal=True))
    if objections:
        def sheet() -> list[Sheet]:
            return [Sheet("公示异议", ["收到时间", "异议人", "单位", "联系方式", "内容", "状态",
                                   "处理意见", "处理时间"],
                          [[o.received_at, o.name or "（匿名）", o.organization, o.contact,
                            o.text, o.state.label, o.resolution, o.resolved_at]
                           for o in objections])]

        last_objection = max(o.resolved_at or o.received_at for o in objections)
        items.append(spreadsheet(app, "公示异议.xlsx", "公示异议", day_of(last_objection), sheet,
                                 internal=True))
    return items


# ---- 05 公文 ---------------------------------------------------------------------------------

def issued_documents(app: Application) -> list[Document]:
    """Every document issued for the project (all but the rounds' PDFs), and its call's
    立项文件, as stored (signed)."""
    return list(db.session.scalars(sa.select(Document).where(sa.or_(
        sa.and_(Document.application_id == app.id, Document.kind != "application"),
        sa.and_(Document.call_id == app.call_id, Document.kind == "approval_file"),
    )).order_by(Document.created_at, Document.id)))


def _safe(text: str) -> str:
    """A file name's part: no folder separators nor characters archives trip over."""
    return re.sub(r'[\\/:*?"<>|\s]+', "_", text).strip("._") or "文件"


def document_items(app: Application) -> list[ArchiveItem]:
    items = []
    for doc in issued_documents(app):
        label = DOCUMENT_KINDS.get(doc.kind, doc.kind)
        tag = doc.doc_number or (f"第{doc.round}次" if doc.round else "")
        name = f"{label}-{_safe(tag)}.pdf" if tag else f"{label}.pdf"
        items.append(ArchiveItem(name, label, day_of(doc.created_at),
                                 stored(doc.sha256), pages=doc.pages))
    return items


# ---- 06 项目变更, 07 年度报告 -------------------------------------------------------------

def change_items(app: Application) -> list[ArchiveItem]:
    changes = list(db.session.scalars(sa.select(ChangeRequest).where(
        ChangeRequest.application_id == app.id).order_by(ChangeRequest.seq)))
    if not changes:
        return []

    def sheets() -> list[Sheet]:
        return [Sheet("项目变更申请", [
            "序号", "变更类型", "状态", "变更理由", "提交时间", "单位意见", "发榜方意见",
            "项目主管意见", "审批决定", "审批人", "审批时间", "变更前"],
            [[c.seq, c.kind.label, c.state.label, c.reason, c.submitted_at,
              c.unit_opinion or "", c.demand_opinion or "", c.officer_opinion or "",
              c.decision or "", c.decided_by or "", c.decided_at, c.before or ""]
             for c in changes])]

    last = max(c.decided_at or c.submitted_at or c.created_at for c in changes)
    return [spreadsheet(app, "项目变更申请.xlsx", "项目变更", day_of(last), sheets)]


def annual_items(app: Application) -> list[ArchiveItem]:
    reports = list(db.session.scalars(sa.select(AnnualReport).where(
        AnnualReport.application_id == app.id).order_by(AnnualReport.year)))
    if not reports:
        return []

    def sheets() -> list[Sheet]:
        spending = [f"{label}（万元）" for label in SPENDING_CATEGORIES.values()]
        return [Sheet("年度报告", [
            "年度", "状态", "截止日期", "进展情况", "指标完成情况", "阶段成果", *spending,
            "支出合计（万元）", "内部公开日期", "公开方式", "提交时间", "通过时间", "退回意见"],
            [[r.year, r.state.label, r.due_on, r.progress, r.indicators, r.outputs,
              *((r.spending or {}).get(k, "") for k in SPENDING_CATEGORIES),
              format_wan(r.spent_total), r.published_on, r.published_where, r.submitted_at,
              r.accepted_at, r.return_reason] for r in reports])]

    last = max((r.accepted_at or r.submitted_at or r.opened_at) for r in reports)
    return [spreadsheet(app, "年度报告.xlsx", "年度报告", day_of(last), sheets)]


# ---- 中期检查 ----------------------------------------------------------------------------

def _answers(m: Any) -> str:
    """The report's answers a line each, under the labels of its form, in its order."""
    labels = {f.get("name"): f.get("label") for f in m.form or [] if isinstance(f, dict)}
    answers = m.answers or {}
    order = [k for k in labels if k in answers] + sorted(k for k in answers if k not in labels)
    return "\n".join(f"{labels.get(k) or k}：{answers[k]}" for k in order)


def midterm_items(app: Application) -> list[ArchiveItem]:
    """Each midterm check: the team's report (the latest round; the earlier ones as they
    were sent), 整改 asked, the outcome; and every round's panel scores, experts as 专家N."""
    checks = midterms_of(app)
    if not checks:
        return []
    labels = expert_labels(app)

    def sheets() -> list[Sheet]:
        return [
            Sheet("中期检查", [
                "序号", "轮次", "状态", "截止日期", "检查要求", "中期报告", "经费支出合计（万元）",
                "阶段成果", "此前各轮报告", "整改要求", "整改期限", "结论", "结论意见",
                "作结论时间", "提交时间"],
                [[m.seq, m.round, m.state.label, m.due_on, m.instructions, _answers(m),
                  format_wan(m.spent_total), "\n".join(
                      " ".join(str(o.get(k) or "") for k in ("title", "note")).strip()
                      for o in m.outputs or [] if isinstance(o, dict)),
                  m.earlier, "\n".join(m.rectify_items),
                  m.rectify_due_on, MIDTERM_OUTCOMES.get(m.outcome or "", ""), m.opinion,
                  m.decided_at, m.submitted_at] for m in checks]),
            Sheet("专家评议", ["检查序号", "轮次", "专家", "评分", "建议结论", "评议意见",
                           "提交时间"],
                  [[m.seq, sc.round, labels.get(sc.expert_id, "评审专家"), sc.score,
                    MIDTERM_OUTCOMES.get(sc.recommendation or "", ""), sc.opinion,
                    sc.submitted_at] for m in checks for sc in m.scores]),
        ]

    formed = day_of(_latest(*(m.decided_at or m.submitted_at or m.created_at for m in checks)))
    return [spreadsheet(app, "中期检查.xlsx", "中期检查", formed, sheets)]


# ---- 结题验收 ----------------------------------------------------------------------------

def final_items(app: Application) -> list[ArchiveItem]:
    """The acceptance: the team's package (report, outputs and IP, 决算 or the 包干制
    declaration, the self-assessment), the panel's verdict on each indicator and its grade
    (experts as 专家N, the demand side as 发榜方代表N), 财务验收 and the conclusion. A
    project accepted before the panel (the thin flow) keeps its final report and verdicts."""
    acc = acceptance_of(app)
    report = app.final_report
    if acc is None and report is None and app.acceptance_verdict is None:
        return []
    if acc is None:
        return [_old_final_item(app)]
    labels = expert_labels(app)

    def sheets() -> list[Sheet]:
        rows: list[Sequence[Any]] = [
            ["结题报告", acc.report], ["状态", acc.state.label],
            ["成果与知识产权", "\n".join(f"{o.get('kind', '')} {o.get('title', '')} "
                                      f"{o.get('identifier', '')}".strip()
                                      for o in acc.outputs or [])],
            ["经费决算（万元）", "；".join(
                f"{SPENDING_CATEGORIES.get(k, k)} {format_wan(Decimal(v))}"
                for k, v in (acc.spending or {}).items())],
            ["负面清单承诺（包干制）", "已承诺" if acc.negative_list_declared else ""],
            ["已支出（万元）", format_wan(acc.spent) if acc.spent is not None else ""],
            ["结余（万元）", format_wan(acc.surplus or 0)],
            ["提交时间", acc.submitted_at], ["单位意见", acc.unit_opinion or ""],
            ["财务验收", FINANCE_VERDICTS.get(acc.finance_verdict or "", "")],
            ["财务验收意见", acc.finance_opinion or ""], ["财务验收时间", acc.finance_at],
            ["专家组多数意见", GRADES.get(acc.proposed or "", "")],
            ["验收结论", GRADES.get(acc.grade or "", "")], ["结论意见", acc.conclusion or ""],
            ["是否勤勉尽责", {True: "是（宽容失败）", False: "否"}.get(acc.diligent, "")
             if acc.diligent is not None else ""],
            ["应追回（万元）", format_wan(acc.recovery_amount) if acc.recovery_amount else ""],
            ["作结论时间", acc.concluded_at]]
        assessed = [[name, ASSESSMENTS.get(str(v.get("status")), v.get("status")),
                     v.get("evidence", "")] for name, v in (acc.self_assessment or {}).items()]
        panel = [[labels.get(m.user_id or 0, m.alias), "发榜方" if m.role == "demand" else "专家",
                  {k: "达到" if v else "未达到" for k, v in (m.scores or {}).items()},
                  GRADES.get(m.grade or "", ""), m.opinion or "",
                  "" if m.diligent is None else ("是" if m.diligent else "否"), m.submitted_at]
                 for m in acc.members]
        return [Sheet("结题验收", ["项目", "内容"], rows),
                Sheet("自评", ["考核指标", "自评", "佐证"], assessed),
                Sheet("专家组意见", ["验收专家", "身份", "各指标", "结论", "意见", "勤勉尽责",
                                  "提交时间"], panel)]

    formed = day_of(_latest(acc.concluded_at, acc.finance_at, acc.submitted_at))
    return [spreadsheet(app, "结题验收.xlsx", "结题验收", formed, sheets)]


def _old_final_item(app: Application) -> ArchiveItem:
    report = app.final_report

    def sheets() -> list[Sheet]:
        rows: list[Sequence[Any]] = []
        if report is not None:
            rows += [["结题报告", report.report], ["申报结余（万元）", format_wan(report.surplus)],
                     ["提交时间", report.submitted_at]]
        if app.acceptance_verdict is not None:
            rows += [["验收结论", app.acceptance_verdict.label],
                     ["验收意见", app.acceptance_opinions or ""]]
        if app.demand_verdict is not None:
            rows += [["发榜方验收结论", app.demand_verdict.label],
                     ["发榜方意见", app.demand_opinion or ""],
                     ["发榜方签署人", app.demand_verdict_by or ""],
                     ["发榜方验收时间", app.demand_verdict_at]]
        return [Sheet("结题验收", ["项目", "内容"], rows)]

    formed = day_of(_latest(report.submitted_at if report else None, app.demand_verdict_at))
    return spreadsheet(app, "结题报告与验收结论.xlsx", "结题验收", formed, sheets)


# ---- 绩效评价 ----------------------------------------------------------------------------

def evaluation_items(app: Application) -> list[ArchiveItem]:
    """The performance evaluation: the facts it was judged on, the scores proposed and as
    adjusted (with the reason), the grade and who confirmed it."""
    ev = db.session.scalar(sa.select(Evaluation).where(Evaluation.application_id == app.id))
    if ev is None:
        return []

    def sheets() -> list[Sheet]:
        scores = [[label, ev.proposed.get(key), (ev.adjusted or {}).get(key, "")]
                  for key, label in DIMENSIONS.items()]
        rows: list[Sequence[Any]] = [
            ["状态", ev.state.label], ["结束方式", CLOSURES.get(ev.closure, ev.closure)],
            ["结束日期", ev.closed_on],
            ["评价依据", ev.facts], ["总分", ev.total], ["等级", ev.grade.label],
            ["系统建议等级", ev.proposed_grade.label], ["调整理由", ev.adjust_reason],
            ["确认人", ev.confirmed_by or ""], ["确认时间", ev.confirmed_at],
            ["确认意见", ev.comment]]
        return [Sheet("绩效评价", ["项目", "内容"], rows),
                Sheet("得分", ["维度", "系统建议（0–25）", "调整后"], scores)]

    return [spreadsheet(app, "绩效评价.xlsx", "绩效评价",
                        day_of(ev.confirmed_at or ev.opened_at), sheets)]


# ---- 09 经费 -------------------------------------------------------------------------------

VERDICTS = {"pass": "通过", "fail": "不通过"}
CONDITIONS = {"contract": "任务书签订后", "milestone": "里程碑验收后", "acceptance": "验收通过后"}


def finance_items(app: Application) -> list[ArchiveItem]:
    """Milestones and tranches, and the recovery; for the bureau also the ledger entries
    (with the call's balances) and what each payment was made to."""
    milestones = list(db.session.scalars(sa.select(Milestone).where(
        Milestone.application_id == app.id).order_by(Milestone.seq)))
    tranches = list(db.session.scalars(sa.select(Tranche).where(
        Tranche.application_id == app.id).order_by(Tranche.seq)))
    ledger = list(db.session.scalars(sa.select(LedgerEntry).where(
        LedgerEntry.application_id == app.id).order_by(LedgerEntry.call_id, LedgerEntry.seq)))
    recovery = db.session.scalar(sa.select(Recovery).where(Recovery.application_id == app.id))
    items = []
    if milestones or tranches:
        def payments() -> list[Sheet]:
            return [
                Sheet("里程碑", ["序号", "里程碑", "计划完成", "金额（万元）", "状态", "完成情况",
                              "发榜方意见", "项目主管意见", "未通过次数", "验收时间"],
                      [[m.seq, m.label, m.due_on, format_wan(m.amount), m.state.label,
                        m.report, " ".join(filter(None, (VERDICTS.get(m.demand_verdict or ""),
                                                         m.demand_opinion))),
                        " ".join(filter(None, (VERDICTS.get(m.officer_verdict or ""),
                                               m.officer_opinion))),
                        m.rejections, m.accepted_at] for m in milestones]),
                Sheet("拨付批次", ["批次", "金额（万元）", "拨付条件", "状态", "拨付时间",
                               "支付凭证号"],
                      [[t.label, format_wan(t.amount), CONDITIONS.get(t.condition, t.condition),
                        t.state.label, t.released_at, t.payment_ref or ""] for t in tranches]),
                Sheet("合计", ["资助金额（万元）", "已拨付（万元）"],
                      [[format_wan(app.granted_amount), format_wan(app.disbursed)]]),
            ]

        last = _latest(*(t.released_at or t.created_at for t in tranches),
                       *(m.accepted_at or m.reported_at for m in milestones))
        items.append(spreadsheet(app, "里程碑与拨付.xlsx", "经费拨付", day_of(last), payments))
    if ledger or tranches:
        def accounts() -> list[Sheet]:
            return [
                Sheet("账目", ["序号", "类别", "金额（万元）", "拨付批次", "凭证或依据", "摘要",
                             "时间", "可用余额（万元）", "已承诺（万元）", "已拨付（万元）"],
                      [[e.seq, e.kind.label, format_wan(e.amount),
                        e.tranche.label if e.tranche else "", e.ref, e.memo, e.at,
                        format_wan(e.available_after), format_wan(e.committed_after),
                        format_wan(e.disbursed_after)] for e in ledger]),
                Sheet("收款与决策", ["批次", "收款单位", "开户银行", "银行账号", "三重一大决策"],
                      [[t.label, t.payee_name or "", t.payee_bank or "", t.payee_account or "",
                        t.decision_ref or ""] for t in tranches]),
            ]

        last_entry = max((e.at for e in ledger), default=None)
        items.append(spreadsheet(app, "经费账目.xlsx", "经费账目", day_of(last_entry), accounts,
                                 internal=True))
    if recovery is not None:
        instalments = list(db.session.scalars(sa.select(RecoveryInstalment).where(
            RecoveryInstalment.recovery_id == recovery.id).order_by(RecoveryInstalment.id)))

        def recovered() -> list[Sheet]:
            return [
                Sheet("追回", ["应追回（万元）", "已缴回（万元）", "原因", "缴回期限", "状态",
                             "通知时间"],
                      [[format_wan(recovery.amount), format_wan(recovery.repaid),
                        recovery.reason, recovery.due_on, recovery.state.label,
                        recovery.notified_at]]),
                Sheet("缴回记录", ["流水号", "金额（万元）", "缴回日期", "登记时间"],
                      [[i.key, format_wan(i.amount), i.paid_on, i.recorded_at]
                       for i in instalments]),
            ]

        formed = day_of(recovery.notified_at or recovery.created_at)
        items.append(spreadsheet(app, "经费追回.xlsx", "经费追回", formed, recovered))
    return items


# ---- 10 审计日志 ---------------------------------------------------------------------------

# The entities of a project whose trail its team reads; the others are the bureau's.
TEAM_TRAILS = ("application", "milestone", "tranche", "change", "annual_report", "recovery",
               "midterm", "acceptance")


def related_entities(app: Application) -> dict[str, list[int]]:
    """The project's rows with a trail of their own, by entity kind."""
    def ids(model: Any, column: Any = None) -> list[int]:
        column = column if column is not None else model.application_id
        return list(db.session.scalars(sa.select(model.id).where(column == app.id)
                                       .order_by(model.id)))

    return {
        "application": [app.id], "review": ids(ReviewAssignment),
        "milestone": ids(Milestone), "tranche": ids(Tranche), "change": ids(ChangeRequest),
        "annual_report": ids(AnnualReport), "recovery": ids(Recovery),
        "objection": ids(Objection), "sanction_review": ids(SanctionReview),
        "decision": [d.id for d in decisions_of(app)],
        "midterm": [m.id for m in midterms_of(app)],
        "midterm_score": [sc.id for m in midterms_of(app) for sc in m.scores],
        "acceptance": [acc.id] if (acc := acceptance_of(app)) else [],
        "evaluation": ids(Evaluation),
    }


def trail_of(app: Application, kinds: Iterable[str] | None = None) -> list[AuditEvent]:
    wanted = related_entities(app)
    conditions = [sa.and_(AuditEvent.entity_type == kind, AuditEvent.entity_id.in_(ids))
                  for kind, ids in wanted.items() if ids and (kinds is None or kind in kinds)]
    if not conditions:
        return []
    return list(db.session.scalars(sa.select(AuditEvent).where(sa.or_(*conditions))
                                   .order_by(AuditEvent.at, AuditEvent.id)))


ENTITY_LABELS = {"application": "申报书", "review": "评审任务", "milestone": "里程碑",
                 "tranche": "拨付批次", "change": "项目变更申请", "annual_report": "年度报告",
                 "recovery": "经费追回", "objection": "公示异议", "sanction_review": "失信复核",
                 "decision": "立项建议名单"}


def _actor(event: AuditEvent, labels: dict[int, str]) -> str:
    if event.actor_id is not None and event.actor_id in labels:
        return labels[event.actor_id]
    if event.actor_role == "expert":
        return "评审专家"
    return event.actor_name


def _state(lifecycle: Any, value: str | None) -> str:
    return lifecycle.state_of(value).label if lifecycle is not None and value else (value or "")


def _trail_sheet(events: list[AuditEvent], labels: dict[int, str], full: bool) -> Sheet:
    from states import LIFECYCLES

    header = ["对象", "对象编号", "序号", "时间", "操作人", "角色", "操作", "原状态", "新状态",
              "意见"]
    if full:
        header += ["数据", "IP 地址", "哈希"]
    rows = []
    for ev in events:
        lifecycle = LIFECYCLES.get(ev.entity_type)
        label = (lifecycle.trigger_label(ev.trigger, ev.from_state, ev.to_state)
                 if lifecycle else ev.trigger)
        row = [ENTITY_LABELS.get(ev.entity_type, ev.entity_type), ev.entity_id, ev.seq, ev.at,
               _actor(ev, labels), ROLES.get(ev.actor_role, "系统"), label,
               _state(lifecycle, ev.from_state), _state(lifecycle, ev.to_state),
               ev.comment or ""]
        if full:
            row += [ev.data or "", ev.ip or "", ev.hash]
        rows.append(row)
    return Sheet("审计日志", header, rows)


def audit_items(app: Application) -> list[ArchiveItem]:
    """The trail of the project and its rows (hash-chained rows as recorded; experts as
    专家N): the bureau's copy whole, the team's of what it reads (no IP, no data)."""
    labels = expert_labels(app)
    full = trail_of(app)
    team = trail_of(app, TEAM_TRAILS)
    items = []
    if full:
        items.append(spreadsheet(app, "审计日志.xlsx", "审计日志", day_of(full[-1].at),
                                 lambda: [_trail_sheet(full, labels, True)], internal=True))
    if team:
        items.append(spreadsheet(app, "办理记录.xlsx", "办理记录", day_of(team[-1].at),
                                 lambda: [_trail_sheet(team, labels, False)]))
    return items


# ---- 11 附件 -------------------------------------------------------------------------------

INTERNAL_FIELDS = frozenset({"meeting_minutes"})
FIELD_LABELS = {"evidence": "佐证材料", "change_evidence": "变更佐证材料"}


def attachment_items(app: Application) -> list[ArchiveItem]:
    """Every file uploaded to the project, under its original name (numbered when two
    share one)."""
    rows = list(db.session.scalars(sa.select(Attachment).where(
        Attachment.application_id == app.id).order_by(Attachment.id)))
    items, taken = [], set()
    for a in rows:
        name = a.filename
        if name in taken:
            stem, dot, ext = name.rpartition(".")
            name = f"{stem}（{a.id}）.{ext}" if dot else f"{name}（{a.id}）"
        taken.add(name)
        items.append(ArchiveItem(name, FIELD_LABELS.get(a.field, "附件"),
                                 day_of(a.uploaded_at), stored(a.sha256),
                                 internal=a.field in INTERNAL_FIELDS))
    return items


# ---- the registry ---------------------------------------------------------------------------

def _latest(*moments: datetime | None) -> datetime | None:
    found = [m for m in moments if m is not None]
    return max(found) if found else None


def base_last_change(app: Application) -> datetime | None:
    """The latest change of the rows the built-in sections read."""
    trail = trail_of(app)
    docs = db.session.scalar(sa.select(sa.func.max(Document.created_at)).where(sa.or_(
        Document.application_id == app.id,
        sa.and_(Document.call_id == app.call_id, Document.kind == "approval_file"))))
    uploads = db.session.scalar(sa.select(sa.func.max(Attachment.uploaded_at)).where(
        Attachment.application_id == app.id))
    ledger = db.session.scalar(sa.select(sa.func.max(LedgerEntry.at)).where(
        LedgerEntry.application_id == app.id))
    defence = db.session.scalar(sa.select(sa.func.max(DefenceScore.created_at)).where(
        DefenceScore.application_id == app.id))
    rounds = db.session.scalar(sa.select(sa.func.max(ApplicationRound.submitted_at)).where(
        ApplicationRound.application_id == app.id))
    return _latest(trail[-1].at if trail else None, docs, uploads, ledger, defence, rounds,
                   app.updated_at)


SECTIONS: list[Section] = [
    Section("application", "申报材料", application_items, base_last_change),
    Section("reviews", "专家评审", review_items),
    Section("defence", "答辩", defence_items),
    Section("decisions", "立项决策", decision_items),
    Section("documents", "公文", document_items),
    Section("changes", "项目变更", change_items),
    Section("annual", "年度报告", annual_items),
    Section("midterm", "中期检查", midterm_items),
    Section("final", "结题验收", final_items),
    Section("evaluation", "绩效评价", evaluation_items),
    Section("finance", "经费", finance_items),
    Section("audit", "审计日志", audit_items),
    Section("attachments", "附件", attachment_items),
]


def register(section: Section) -> None:
    """One more section, after the others (a feature's part of the archive)."""
    if any(s.key == section.key for s in SECTIONS):
        raise RuntimeError(f"archive section {section.key} is registered twice")
    SECTIONS.append(section)
