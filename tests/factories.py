"""Test data factories (factory_boy on the Flask-SQLAlchemy session)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import factory
from stdnum.cn import uscc
from werkzeug.security import generate_password_hash

from states import AnnualReportState, ApplicationState, CallState, ReviewState, TrancheState
from workflow.accounts.models import ExpertProfile, Organization, OrgKind, User, UserRole
from workflow.annual.models import AnnualReport
from workflow.applying.models import Application, SignedDocument, SigningParty, Verdict
from workflow.calls.models import Call, Challenge, Scheme
from workflow.changes.models import ChangeKind, ChangeRequest
from workflow.core.models import IssuedNumber, NumberingMode, db, utcnow
from workflow.finance.models import Milestone, MilestoneState, Tranche
from workflow.review.models import ReviewAssignment

PASSWORD = "correct-horse-battery"
# Hashing is deliberately slow; one hash serves every factory user.
_HASH = generate_password_hash(PASSWORD)


def make_uscc(n: int) -> str:
    base = f"9136070{n:010d}"
    return base + uscc.calc_check_digit(base)


class Base(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class OrganizationFactory(Base):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"测试单位{n}")
    uscc = factory.Sequence(make_uscc)
    kind = OrgKind.university
    bank_name = "中国银行赣州分行"
    bank_account = factory.Sequence(lambda n: f"62166{n:011d}")


class UserFactory(Base):
    class Meta:
        model = User
        exclude = ("roles",)

    username = factory.Sequence(lambda n: f"user{n}")
    name = factory.Sequence(lambda n: f"用户{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.cn")
    password_hash = _HASH
    organization = factory.SubFactory(OrganizationFactory)
    roles = ("applicant",)
    role_rows = factory.LazyAttribute(lambda o: [UserRole(role=r) for r in o.roles])


class ExpertProfileFactory(Base):
    class Meta:
        model = ExpertProfile

    user = factory.SubFactory(UserFactory, roles=("expert",))
    disciplines = factory.LazyFunction(lambda: ["TF"])
    keywords = factory.LazyFunction(lambda: ["稀土"])
    load_cap = 10


class CallFactory(Base):
    class Meta:
        model = Call

    scheme = Scheme.baogan
    year = factory.LazyFunction(lambda: utcnow().year)
    title = factory.Sequence(lambda n: f"测试指南{n}")
    state = CallState.published
    opens_at = factory.LazyFunction(lambda: utcnow() - timedelta(days=1))
    closes_at = factory.LazyFunction(lambda: utcnow() + timedelta(days=10))
    budget = Decimal("1000000.00")
    form_schema = factory.LazyFunction(lambda: [
        {"name": "summary", "label": "项目摘要", "type": "longtext", "required": True,
         "max": 2000},
    ])
    rubric = factory.LazyFunction(lambda: [
        {"name": "innovation", "label": "创新性", "weight": 50, "max": 100},
        {"name": "feasibility", "label": "可行性", "weight": 50, "max": 100},
    ])
    reviewers_per_application = 3
    steps = factory.LazyFunction(list)


class ChallengeFactory(Base):
    class Meta:
        model = Challenge

    call = factory.SubFactory(CallFactory, scheme=Scheme.jiebang)
    title = factory.Sequence(lambda n: f"榜单{n}")
    demand_org = factory.SubFactory(OrganizationFactory, kind=OrgKind.enterprise)
    ceiling = Decimal("2000000.00")
    indicators = factory.LazyFunction(lambda: [{"name": "指标", "target": "≥ 1"}])


def _verdict_of(state: ApplicationState) -> Verdict | None:
    """The acceptance verdict the database requires of a row made in ``state``."""
    return {ApplicationState.completed: Verdict.passed,
            ApplicationState.failed: Verdict.failed}.get(state)


class ApplicationFactory(Base):
    """An application in any state; a completed or failed one carries the acceptance
    verdict (and a completed 揭榜挂帅 one the demand side's pass) that state requires.

    ``signed=True``: the team has signed the commitment letter (包干制) or the pledge
    (揭榜挂帅). ``task_book_signed_by=("team", "demand")``: those parties have signed the
    task book.
    """

    class Meta:
        model = Application

    call = factory.SubFactory(CallFactory)
    challenge = None
    applicant = factory.SubFactory(UserFactory)
    organization = factory.LazyAttribute(lambda o: o.applicant.organization)
    title = factory.Sequence(lambda n: f"测试项目{n}")
    state = ApplicationState.draft
    data = factory.LazyFunction(lambda: {"summary": "摘要"})
    acceptance_verdict = factory.LazyAttribute(lambda o: _verdict_of(o.state))
    demand_verdict = factory.LazyAttribute(
        lambda o: Verdict.passed if o.challenge is not None
        and o.state is ApplicationState.completed else None)
    demand_opinion = factory.LazyAttribute(lambda o: "同意通过" if o.demand_verdict else None)
    demand_verdict_at = factory.LazyAttribute(lambda o: utcnow() if o.demand_verdict else None)

    @factory.post_generation
    def signed(obj: Application, create: bool, extracted: bool | None,
               **kwargs: object) -> None:
        if extracted:
            obj.sign(obj.commitment_document, SigningParty.team, obj.applicant.id,
                     obj.applicant.name, utcnow() - timedelta(hours=1), "0" * 64)

    @factory.post_generation
    def task_book_signed_by(obj: Application, create: bool, extracted: tuple[str, ...] | None,
                            **kwargs: object) -> None:
        for party in extracted or ():
            signer = obj.applicant if party == "team" else None
            obj.sign(SignedDocument.task_book, SigningParty(party),
                     signer.id if signer else None, signer.name if signer else f"{party}签署人",
                     utcnow() - timedelta(hours=1))


class ReviewFactory(Base):
    class Meta:
        model = ReviewAssignment

    application = factory.SubFactory(ApplicationFactory, state=ApplicationState.expert_review)
    expert = factory.SubFactory(UserFactory, roles=("expert",))
    state = ReviewState.invited
    respond_by = factory.LazyFunction(lambda: utcnow() + timedelta(days=3))
    due_at = factory.LazyFunction(lambda: utcnow() + timedelta(days=14))


def _on_voucher(o: object, field: str) -> str | None:
    voucher = (TrancheState.prepared, TrancheState.approved, TrancheState.released)
    if o.state not in voucher:  # type: ignore[attr-defined]
        return None
    return str(getattr(o.application.organization, field))  # type: ignore[attr-defined]


class TrancheFactory(Base):
    class Meta:
        model = Tranche

    application = factory.SubFactory(ApplicationFactory, state=ApplicationState.in_progress,
                                     granted_amount=Decimal("500000.00"))
    seq = factory.Sequence(lambda n: n + 1)
    project_number = factory.LazyAttribute(lambda o: o.application.project_number)
    title = factory.LazyAttribute(lambda o: o.application.title)
    organization_id = factory.LazyAttribute(lambda o: o.application.organization.id)
    label = factory.Sequence(lambda n: f"第{n + 1}笔")
    amount = Decimal("200000.00")
    condition = "contract"
    state = TrancheState.due
    # From preparation on, the voucher keeps the payee the maker checked.
    payee_name = factory.LazyAttribute(lambda o: _on_voucher(o, "name"))
    payee_bank = factory.LazyAttribute(lambda o: _on_voucher(o, "bank_name"))
    payee_account = factory.LazyAttribute(lambda o: _on_voucher(o, "bank_account"))


class MilestoneFactory(Base):
    class Meta:
        model = Milestone
        exclude = ("application",)  # the model keeps the id only

    application = factory.SubFactory(ApplicationFactory, state=ApplicationState.in_progress)
    application_id = factory.LazyAttribute(lambda o: o.application.id)
    seq = factory.Sequence(lambda n: n + 1)
    label = factory.Sequence(lambda n: f"里程碑{n + 1}")
    amount = Decimal("100000.00")
    due_on = factory.LazyFunction(lambda: utcnow().date())
    state = MilestoneState.reported


class IssuedNumberFactory(Base):
    """A 发文字号 in the office's register (workflow/core/numbering.py), already given:
    by default an approved project's 立项通知书 (``application``, whose ``doc_number`` and
    ``approved_at`` it takes). Its call's 立项文件 needs a number too for the notice to
    render: give the call a ``doc_number``."""

    class Meta:
        model = IssuedNumber
        exclude = ("application",)

    application = None
    kind = "notice"
    entity_type = "application"
    entity_id = factory.LazyAttribute(lambda o: o.application.id)
    mode = NumberingMode.entered
    topic = "application.notice"
    subject = factory.LazyAttribute(lambda o: f"关于“{o.application.title}”项目立项的通知")
    number = factory.LazyAttribute(lambda o: o.application.doc_number)
    due_at = factory.LazyAttribute(lambda o: o.application.approved_at or utcnow())
    numbered_at = factory.LazyAttribute(lambda o: o.due_at)


class AnnualReportFactory(Base):
    """A project's annual report (the project running, in progress, unless given)."""

    class Meta:
        model = AnnualReport
        exclude = ("application",)  # the model keeps the id only

    application = factory.SubFactory(ApplicationFactory, state=ApplicationState.in_progress)
    application_id = factory.LazyAttribute(lambda o: o.application.id)
    year = 2025
    due_on = date(2026, 2, 2)
    state = AnnualReportState.due
class ChangeRequestFactory(Base):
    """A change request (项目变更申请) of a running project, by default a draft extension
    by six months with its reason (no evidence: a test uploads it, as the team does)."""

    class Meta:
        model = ChangeRequest

    application = factory.SubFactory(ApplicationFactory, state=ApplicationState.in_progress,
                                     granted_amount=Decimal("500000.00"),
                                     approved_at=factory.LazyFunction(utcnow))
    application_id = factory.LazyAttribute(lambda o: o.application.id)
    seq = factory.Sequence(lambda n: n + 1)
    kind = ChangeKind.extension
    new_end_date = factory.LazyFunction(lambda: utcnow().date() + timedelta(days=900))
    reason = "关键设备到货延迟六个月，需顺延项目实施期限。"
    evidence = factory.LazyFunction(list)
    requested_by_id = factory.LazyAttribute(lambda o: o.application.applicant_id)
