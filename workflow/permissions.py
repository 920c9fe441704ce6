"""Who may do what: small predicates ``(user, obj) -> bool`` that compose (``any_of``,
``all_of``), shared by transition owners and guards, visibility, pages, the API and the
templates (the Jinja global ``perm``). They read attributes only (no query, no model
import), so every layer may use them; a row is taken duck-typed (an application has
``applicant_id``, ``organization_id`` and ``challenge``; a challenge ``demand_org_id``; a
review ``expert_id`` and ``state``). The query forms of the same rules (which rows a
list shows) stand next to the models, in each feature's ``visibility`` module.

The refusal rule, the same for pages and the API:

- **404 Not Found** for an object the person may not know exists: it does not exist, or
  they may not see it (``workflow.core.entities.can_view`` or the feature's own
  visibility). Both answers are the same, so an id tells nothing.
- **403 Forbidden** for an object they can see but may not act on, or may not read this
  part of (the ranking, the ledger, the decision or the defence of a call they can see);
  and for a page or endpoint that addresses no object (``/finance``, ``/experts``,
  ``/calls/new``): the product's pages are no secret, only what is behind them.

``found`` and ``allow`` apply it, in that order: views and API endpoints call them
instead of choosing a status each time. (A refused *transition* answers 403 for
the role or ownership, 409 for the state (or a guard that finds what an earlier step
checked changed since), 422 for a guard: ``workflow.core.engine``.)
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeVar

from workflow.core.errors import Forbidden, NotFound

Predicate = Callable[..., bool]  # (user, obj=None) -> bool
T = TypeVar("T")

# Bureau staff who read every application, review and call (drafts included).
BUREAU_READERS = ("officer", "leader", "auditor", "admin")
# Those who read money: the finance queue, ledgers, reconciliation, payees' bank accounts.
MONEY_READERS = ("finance", "officer", "leader", "auditor")
# Those who read the outcome of a review and what is decided on it: rankings, funding
# decisions, objections, the integrity (科研失信) list.
DECISION_READERS = ("officer", "leader", "auditor")
# Who runs defences (答辩) and picks the teams of a challenge.
ORGANISERS = ("officer", "leader")
# A review through which its expert still reads the application: invited, its summary
# (what the invitation is answered on); accepted or submitted, all of it. A declined,
# expired, withdrawn or recused review gives nothing more.
SUMMARY_REVIEW_STATES = ("invited",)
READING_REVIEW_STATES = ("accepted", "submitted")
LIVE_REVIEW_STATES = SUMMARY_REVIEW_STATES + READING_REVIEW_STATES
# The kind of organisation a recommending body (主管部门: a county bureau, a city
# department) is: organisations are placed under one of these (``parent_id``).
RECOMMENDING_KIND = "government"


def has_role(*roles: str) -> Predicate:
    def check(user: Any, _obj: Any = None) -> bool:
        return user is not None and bool(user.has_role(*roles))

    check.__name__ = f"has_role{roles}"
    return check


def any_of(*predicates: Predicate) -> Predicate:
    def check(user: Any, obj: Any = None) -> bool:
        return any(p(user, obj) for p in predicates)

    return check


def all_of(*predicates: Predicate) -> Predicate:
    def check(user: Any, obj: Any = None) -> bool:
        return all(p(user, obj) for p in predicates)

    return check


# ---- roles -------------------------------------------------------------------------------

officer = has_role("officer")
leader = has_role("leader")
applicant = has_role("applicant")
expert = has_role("expert")
finance_staff = has_role("finance")
org_admin = has_role("org_admin")
# Who speaks for a recommending body (主管部门).
recommender = has_role("recommender")
bureau_reader = has_role(*BUREAU_READERS)
money_reader = has_role(*MONEY_READERS)
decision_reader = has_role(*DECISION_READERS)
organiser = has_role(*ORGANISERS)
# Who reads what was sent (the delivery log, dead letters, the embedded mail folder).
message_keeper = has_role("officer", "admin")
# Who keeps the integrity list; who reads it.
integrity_keeper = officer
integrity_reader = decision_reader
# Who keeps the expert pool.
pool_keeper = officer
# Who keeps the calls and their guides; assigns reviewers; runs the defence sessions and
# the 赛马 stage gates; proposes the funding list. The officer (项目主管), each of them:
# named apart so that a rule that moves moves in one place.
call_keeper = officer
review_assigner = officer
defence_keeper = officer
stage_gate_keeper = officer
decision_proposer = officer
# Who records the collective meeting (三重一大) that decided a list.
meeting_recorder = organiser
# Who reads why an expert may or may not review an application (回避与匹配说明).
pair_explainer = has_role("officer", "auditor")
# Who registers and edits organisations; who reads all of them (the others read their own).
org_keeper = has_role("officer", "admin")
org_reader = has_role("officer", "leader", "auditor", "admin", "finance")
# Who keeps the holiday calendar (节假日安排) and how periods are counted.
calendar_keeper = has_role("admin")
# Who keeps the office's 发文字号: sets each kind's numbering (sequence or entered, head,
# next number) and enters the numbers of documents waiting for one. The officer, who
# issues the 立项文件 and 立项通知书 on the bureau's behalf; not the administrator, who
# keeps accounts and the calendar and should not also give official numbers.
number_keeper = officer
# Who sees the applicant of a call that hides applicants from its experts.
sees_hidden_applicant = officer
# Who sees which expert wrote a review (never the applicant's side).
expert_name_reader = has_role("officer", "auditor")
# Bureau staff who read a row's whole lifecycle diagram (everyone sees its main path).
lifecycle_reader = has_role(*BUREAU_READERS, "finance")
# The bureau reads every application; a recommending body (主管部门) those of the
# organisations under it (``jurisdiction``).
reads_all_applications = bureau_reader
# Who keeps people's accounts: resets a password or a second factor, signs a person out
# everywhere (强制下线).
account_keeper = has_role("admin")
# Whose accounts need a second factor (两步验证) where it is required (production).
second_factor_expected = has_role("officer", "leader", "finance", "admin")
# Who reads the list of annual reports (年度报告): the bureau, and each unit's research
# office for its own unit's projects; who opens a year's reports on demand.
annual_report_lister = has_role(*BUREAU_READERS, "org_admin")
annual_report_opener = officer


# ---- relations ---------------------------------------------------------------------------

def principal_investigator(user: Any, app: Any) -> bool:
    """``user`` is the applicant who leads ``app`` (项目负责人)."""
    return (user is not None and user.has_role("applicant")
            and app.applicant_id == user.id)


def jurisdiction(user: Any, row: Any) -> bool:
    """The user is a recommender (主管部门) and ``row`` (an application) belongs to an
    organisation directly under their recommending body (one level: the organisation's
    ``parent_id`` is the recommender's organisation)."""
    org_id = getattr(user, "organization_id", None)
    if org_id is None or not recommender(user):
        return False
    org = getattr(row, "organization", None)
    return org is not None and org.parent_id == org_id


def same_organization(user: Any, row: Any) -> bool:
    """``row`` (an application, a tranche's project…) belongs to the user's organisation."""
    org_id = getattr(user, "organization_id", None)
    return org_id is not None and org_id == row.organization_id


def own_organization(user: Any, org: Any) -> bool:
    """``org`` is the user's own organisation."""
    org_id = getattr(user, "organization_id", None)
    return org_id is not None and org_id == org.id


def demand_side(user: Any, row: Any) -> bool:
    """The user speaks for the demand side (发榜方) of ``row``: a challenge (榜单) their
    organisation published, or an application that takes one (揭榜挂帅)."""
    if user is None or not user.has_role("demand") or user.organization_id is None:
        return False
    challenge = row if hasattr(row, "demand_org_id") else getattr(row, "challenge", None)
    return challenge is not None and challenge.demand_org_id == user.organization_id


def own_review(user: Any, review: Any) -> bool:
    """``review`` is the user's own review assignment."""
    return user is not None and user.has_role("expert") and review.expert_id == user.id


def live_review(user: Any, review: Any) -> bool:
    """The user's own review, through which they still read the application, at least its
    summary (a declined, expired or withdrawn invitation, or a recusal, gives no more)."""
    return own_review(user, review) and str(review.state) in LIVE_REVIEW_STATES


def reading_review(user: Any, review: Any) -> bool:
    """The user's own review, accepted (or scored): they read the whole application."""
    return own_review(user, review) and str(review.state) in READING_REVIEW_STATES


def team_member(user: Any, app: Any) -> bool:
    """The user's 身份证号 is in one of ``app``'s team tables (a ``persons`` field)."""
    id_number = str(getattr(user, "id_number", None) or "").upper()
    if not id_number:
        return False
    return any(isinstance(row, dict) and str(row.get("id_number") or "").upper() == id_number
               for value in (app.data or {}).values() if isinstance(value, list)
               for row in value)


# An applicant or the administrator of the organisation a row belongs to.
organization_member = all_of(has_role("applicant", "org_admin"), same_organization)
# A researcher of the organisation an application belongs to: sees that it exists (the
# list's row, the page's heading), not what is in it, unless on its team.
colleague = all_of(applicant, same_organization)
# The organisation's research office (单位管理员): reads its unit's applications.
unit_office = all_of(org_admin, same_organization)
# The bank account an organisation is paid on: read by its administrator and by those
# who pay; kept by its administrator only.
bank_account_keeper = all_of(org_admin, own_organization)
def recommending_body_of(user: Any, org: Any) -> bool:
    """The user is a recommender of the recommending body ``org`` is under."""
    org_id = getattr(user, "organization_id", None)
    return org_id is not None and recommender(user) and org.parent_id == org_id


# Who reads an organisation's record: the bureau's readers, its own people, and the
# recommenders of the recommending body it is under.
organization_reader = any_of(org_reader, own_organization, recommending_body_of)


def draft_creator(user: Any, _obj: Any = None) -> bool:
    """An applicant of an organisation: who may start an application."""
    return applicant(user) and getattr(user, "organization_id", None) is not None
bank_account_reader = any_of(money_reader, bank_account_keeper)


# ---- the refusal rule --------------------------------------------------------------------

def found(row: T | None, user: Any, visible: Predicate, *, what: str = "对象") -> T:
    """The 404 half of the rule: ``row`` when it exists and ``user`` may see it."""
    if row is None or not visible(user, row):
        raise NotFound(f"{what}不存在或无权查看")
    return row


def allow(allowed: bool, message: str = "您没有权限执行此操作",
          code: str = "role_not_allowed") -> None:
    """The 403 half: for what the person can see (or a page that addresses no object)
    but may not do. The code says why, as the engine's refusals do: ``role_not_allowed``
    (the default), ``not_owner``, ``not_panelist``."""
    if not allowed:
        raise Forbidden(message, code=code)


# What templates read as ``perm``: ``perm.money_reader(current_user)``,
# ``perm.demand_side(current_user, row)``.
TEMPLATE_GLOBAL = SimpleNamespace(**{name: globals()[name] for name in (
    "officer", "leader", "applicant", "expert", "finance_staff", "org_admin",
    "bureau_reader", "money_reader", "decision_reader", "organiser", "message_keeper",
    "integrity_keeper", "integrity_reader", "pool_keeper", "principal_investigator",
    "same_organization", "own_organization", "demand_side", "own_review", "live_review",
    "reading_review", "organization_member", "bank_account_keeper", "bank_account_reader",
    "reads_all_applications", "jurisdiction", "recommender", "org_keeper", "calendar_keeper",
    "account_keeper", "number_keeper", "annual_report_lister")})
