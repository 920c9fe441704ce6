from __future__ import annotations

import enum
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from states import ApplicationState
from workflow.calls.models import Scheme
from workflow.core.models.base import (
    AuditedMixin,
    Base,
    JSONType,
    Money,
    UTCDateTime,
    state_column,
    utcnow,
)
from workflow.timeutil import SHANGHAI

if TYPE_CHECKING:
    from workflow.accounts.models.org import Organization
    from workflow.accounts.models.user import User
    from workflow.calls.models import Call, Challenge


class Verdict(enum.Enum):
    passed = "pass"
    failed = "fail"

    @property
    def label(self) -> str:
        return "通过" if self is Verdict.passed else "不通过"


class SignedDocument(enum.Enum):
    commitment = "commitment"  # 包干制 科研诚信承诺书 (with the negative list)
    pledge = "pledge"          # 揭榜挂帅 军令状
    task_book = "task_book"    # 任务书


class SigningParty(enum.Enum):
    team = "team"      # 项目承担方, by its principal investigator
    demand = "demand"  # 发榜方
    bureau = "bureau"  # 市科技局

    @property
    def label(self) -> str:
        return {"team": "项目承担方", "demand": "发榜方", "bureau": "市科技局"}[self.value]


A = ApplicationState
# Where each fact may stand. A defence score is set by the defence's end (defence ->
# reviewed) and kept from there on; an acceptance verdict is given at the acceptance
# (acceptance -> completed | failed) and kept, also by a project terminated during it.
AFTER_DEFENCE = (A.reviewed, A.shortlisted, A.not_funded, A.public_notice, A.objection,
                 A.approved, A.contracted, A.in_progress, A.midterm, A.acceptance, A.completed,
                 A.failed, A.terminated)
AT_OR_AFTER_ACCEPTANCE = (A.acceptance, A.completed, A.failed, A.terminated)


def _state_in(states: tuple[ApplicationState, ...]) -> str:
    return "state IN (" + ", ".join(f"'{s.value}'" for s in states) + ")"



def normal_text(text: str) -> str:
    """Text as 一题多报 compares it: lower case, letters and digits only (spaces and
    punctuation, full-width or not, do not make a title new)."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


class Application(AuditedMixin, Base):
    """申报书.

    ``data`` holds the applicant's answers to the call's form (and a 揭榜挂帅 team's
    indicators and milestone plan). The facts the lifecycle's guards read are typed: the
    signatures, the final report, the defence score and the acceptance verdicts, the
    verdicts tied to the state by the constraints below.
    """

    __tablename__ = "application"
    __table_args__ = (
        sa.CheckConstraint("granted_amount IS NULL OR granted_amount > 0",
                           name="granted_positive"),
        # Released money never exceeds the grant (the release's UPDATE of this column
        # runs under the application's row lock).
        sa.CheckConstraint("disbursed >= 0 AND disbursed <= COALESCE(granted_amount, 0)",
                           name="disbursed_within_grant"),
        sa.CheckConstraint("defence_score IS NULL OR (defence_score >= 0 AND "
                           f"defence_score <= 100 AND {_state_in(AFTER_DEFENCE)})",
                           name="defence_score_after_defence"),
        sa.CheckConstraint(f"acceptance_verdict IS NULL OR {_state_in(AT_OR_AFTER_ACCEPTANCE)}",
                           name="acceptance_verdict_at_acceptance"),
        # 结题 only with the panel's pass, 验收不通过 only with its fail.
        sa.CheckConstraint("state <> 'completed' OR COALESCE(acceptance_verdict, '') = 'pass'",
                           name="completed_has_passed"),
        sa.CheckConstraint("state <> 'failed' OR COALESCE(acceptance_verdict, '') = 'fail'",
                           name="failed_has_failed"),
        # The demand side's verdict: 揭榜挂帅 only, at the acceptance, and a pass before
        # the project is completed.
        sa.CheckConstraint("demand_verdict IS NULL OR (challenge_id IS NOT NULL AND "
                           "demand_verdict_at IS NOT NULL AND "
                           f"{_state_in(AT_OR_AFTER_ACCEPTANCE)})",
                           name="demand_verdict_at_acceptance"),
        sa.CheckConstraint("state <> 'completed' OR challenge_id IS NULL OR "
                           "COALESCE(demand_verdict, '') = 'pass'",
                           name="completed_has_demand_pass"),
        # The list's sorts by title and by submission time, the id breaking ties: a deep
        # page reads these indexes alone (bench/lists.py).
        sa.Index("ix_application_title_id", "title", "id"),
        sa.Index("ix_application_submitted_at_id", "submitted_at", "id"),
        # The 工作台's candidates: a state's oldest rows (WHERE state = ? ORDER BY id).
        sa.Index("ix_application_state_id", "state", "id"),
        # A call's applications in id order (the decision's batches walk it from the last
        # id they reached); by the call alone, its prefix.
        sa.Index("ix_application_call_id_id", "call_id", "id"),
        # A call's applications in some states (the ranking reads the reviewed ones): one
        # index, not the call's and the state's bitmaps joined.
        sa.Index("ix_application_call_id_state", "call_id", "state"),
        # 一题多报: the applications of a year with the same title, found by its key.
        sa.Index("ix_application_title_key", "title_key"),
        # The list's search (``applying.lists.APPLICATIONS``), on PostgreSQL: migration
        # 20261228_0001.
        sa.Index("ix_application_search_grams",
                 sa.text("search_grams(VARIADIC ARRAY[title, receipt_no, project_number])"),
                 postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("call.id"))
    challenge_id: Mapped[int | None] = mapped_column(sa.ForeignKey("challenge.id"), index=True)
    applicant_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organization.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    # The title as 一题多报 compares titles (``normal_text``), kept with it by ``_keyed``.
    title_key: Mapped[str | None] = mapped_column(sa.String(200))
    state: Mapped[ApplicationState] = mapped_column(
        state_column(ApplicationState, "application_state"),
        default=ApplicationState.draft,
    )
    version: Mapped[int] = mapped_column(default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    project_number: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    receipt_no: Mapped[str | None] = mapped_column(sa.String(32), unique=True)  # 受理回执号
    doc_number: Mapped[str | None] = mapped_column(sa.String(40), unique=True)  # 立项通知书文号
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    form_version: Mapped[int] = mapped_column(default=1, server_default="1")
    round: Mapped[int] = mapped_column(default=0, server_default="0")  # submissions so far
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    granted_amount: Mapped[Decimal | None] = mapped_column(Money)
    disbursed: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"),
                                               server_default="0")
    notice_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The notice period's first day as published (the opening day, or the next, by the
    # counting convention when it opened); it is over at ``notice_ends_at``, midnight
    # (Asia/Shanghai) after its last day.
    notice_first_day: Mapped[date | None] = mapped_column(sa.Date)
    notice_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    defence_score: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))  # 答辩得分
    # Its submitted reviews' totals as the call's rule keeps them: how many, how many
    # kept and their sum in whole cents; written by ``review.results.rescore``
    # when a review is submitted, so that a call's ranking aggregates nothing (issue 19).
    review_count: Mapped[int] = mapped_column(default=0, server_default="0")
    review_kept: Mapped[int | None] = mapped_column()
    review_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    # 结题验收: the panel's verdict with its opinions, recorded by the officer's pass or
    # fail; for 揭榜挂帅 also the demand side's (发榜方验收意见), by name and time.
    acceptance_verdict: Mapped[Verdict | None] = mapped_column(
        state_column(Verdict, "acceptance_verdict"))
    acceptance_opinions: Mapped[str | None] = mapped_column(sa.Text)
    demand_verdict: Mapped[Verdict | None] = mapped_column(state_column(Verdict, "demand_verdict"))
    demand_opinion: Mapped[str | None] = mapped_column(sa.Text)
    demand_verdict_by: Mapped[str | None] = mapped_column(sa.String(100))
    demand_verdict_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    call: Mapped[Call] = relationship(lazy="joined")
    challenge: Mapped[Challenge | None] = relationship()
    applicant: Mapped[User] = relationship()
    organization: Mapped[Organization] = relationship()
    signatures: Mapped[list[Signature]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="Signature.id")
    final_report: Mapped[FinalReport | None] = relationship(
        back_populates="application", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @validates("title")
    def _keyed(self, _key: str, title: str) -> str:
        self.title_key = normal_text(title)[:200]
        return title

    @property
    def notice_last_day(self) -> date | None:
        """The notice period's last day (included), in Asia/Shanghai."""
        if self.notice_ends_at is None:
            return None
        return (self.notice_ends_at.astimezone(SHANGHAI) - timedelta(days=1)).date()

    @property
    def notice_days(self) -> tuple[date, date] | None:
        """The notice period's first and last day, as published (a notice opened before
        its first day was recorded was counted from the day after it opened)."""
        last = self.notice_last_day
        if last is None or self.notice_started_at is None:
            return None
        first = self.notice_first_day or (
            self.notice_started_at.astimezone(SHANGHAI).date() + timedelta(days=1))
        return first, last

    def __repr__(self) -> str:
        return f"<Application {self.id} {self.state.value}>"

    def signature(self, document: SignedDocument,
                  party: SigningParty = SigningParty.team) -> Signature | None:
        return next((s for s in self.signatures
                     if s.document is document and s.party is party), None)

    def sign(self, document: SignedDocument, party: SigningParty, signer_id: int | None,
             signer_name: str, at: datetime, text_sha256: str | None = None) -> Signature:
        """Record ``party``'s signature on ``document``; signing again replaces it."""
        found = self.signature(document, party)
        if found is None:
            found = Signature(document=document, party=party)
            self.signatures.append(found)
        found.signer_id, found.signer_name = signer_id, signer_name
        found.signed_at, found.text_sha256 = at, text_sha256
        return found

    @property
    def commitment_document(self) -> SignedDocument:
        """What the team signs before submission: 承诺书 (包干制) or 军令状 (揭榜挂帅)."""
        return (SignedDocument.commitment if self.call.scheme is Scheme.baogan
                else SignedDocument.pledge)

    @property
    def task_book_parties(self) -> set[SigningParty]:
        return {s.party for s in self.signatures if s.document is SignedDocument.task_book}


class Signature(Base):
    """A signature on a text the application needs: the commitment letter or the pledge
    (the team, before submission) and the task book (the team, for 揭榜挂帅 the demand
    side, and the bureau). One per document and party; signing again replaces it, the
    audit trail keeps each act."""

    __tablename__ = "signature"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "document", "party"),
        sa.CheckConstraint("document = 'task_book' OR party = 'team'",
                           name="letters_signed_by_team"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"))
    document: Mapped[SignedDocument] = mapped_column(
        state_column(SignedDocument, "signed_document"))
    party: Mapped[SigningParty] = mapped_column(state_column(SigningParty, "signing_party"))
    signer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    signer_name: Mapped[str] = mapped_column(sa.String(100))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The SHA-256 of the text shown when it was signed (forms.commitments).
    text_sha256: Mapped[str | None] = mapped_column(sa.String(64))

    application: Mapped[Application] = relationship(back_populates="signatures")


class FinalReport(Base):
    """结题报告: the team's report with its evidence and, for 包干制, the surplus it keeps
    for research (结余留用, never more than was paid out); one per application."""

    __tablename__ = "final_report"
    __table_args__ = (sa.CheckConstraint("surplus >= 0", name="surplus_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), unique=True)
    report: Mapped[str] = mapped_column(sa.Text)
    surplus: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    evidence: Mapped[list[str]] = mapped_column(JSONType, default=list)  # attachments' SHA-256
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    application: Mapped[Application] = relationship(back_populates="final_report")


class ApplicationRound(Base):
    """One submission of an application: what was sent, and what came back (the return
    comment and the formal-review checklist). Every round is kept."""

    __tablename__ = "application_round"
    __table_args__ = (sa.UniqueConstraint("application_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checklist: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    outcome: Mapped[str | None] = mapped_column(sa.String(24))
    outcome_comment: Mapped[str | None] = mapped_column(sa.Text)
