"""The list of applications (申报书), as ``workflow.web.listing`` shows and exports it:
the rows are ``applications_query`` (a researcher's own organisation's, the demand side's
challenges', finance's approved projects, a recommending body's organisations', everything
for the bureau). The list shows and exports the headings only, never the answers: a
colleague who sees a row may not read what is in it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import defer, selectinload

from states import ApplicationState
from workflow.accounts.models import Organization, User
from workflow.applying.models import Application
from workflow.applying.visibility import applications_query
from workflow.calls.lists import call_years, visible_calls
from workflow.calls.models import Call, Scheme
from workflow.core.listing import (
    Column,
    Field,
    Filter,
    Grams,
    ListSpec,
    Via,
    in_order,
    labelled,
    like_pattern,
)
from workflow.core.models import db
from workflow.permissions import any_of, reads_all_applications, recommender


def filterable_organizations(user: Any) -> sa.Select[int, str] | None:
    """The organisations ``user`` may filter the list by: every one for the bureau, those
    under a recommending body for its recommender; None for anyone else."""
    query = sa.select(Organization.id, Organization.name)
    if reads_all_applications(user):
        return query
    if recommender(user) and user.organization_id is not None:
        return query.where(Organization.parent_id == user.organization_id)
    return None


def find_organization(user: Any, value: str) -> tuple[str, str] | None:
    """The organisation ``value`` names (its id, as links carry it, or its exact name or
    统一社会信用代码, as typed) among those ``user`` may filter by: (id, name), or None.
    One indexed lookup: the 20,000 organisations are never listed."""
    query = filterable_organizations(user)
    value = value.strip()
    if query is None or not value or len(value) > 200:
        return None
    if value.isascii() and value.isdigit() and len(value) < 10:
        query = query.where(Organization.id == int(value))
    elif len(value) == 18:
        query = query.where(sa.or_(Organization.uscc == value.upper(),
                                   Organization.name == value))
    else:
        query = query.where(Organization.name == value)
    row = db.session.execute(query.limit(1)).first()
    return (str(row[0]), row[1]) if row is not None else None


SUGGESTIONS = 10


def suggest_organizations(user: Any, text: str) -> list[tuple[str, str]]:
    """At most ten organisations (name, 统一社会信用代码) whose name contains ``text`` or
    whose code starts with it, among those ``user`` may filter by, by name."""
    allowed = filterable_organizations(user)
    text = " ".join(text.split())[:100]
    if allowed is None or not text:
        return []
    pattern = like_pattern(text)
    query = allowed.with_only_columns(Organization.name, Organization.uscc).where(sa.or_(
        Organization.name.like(pattern, escape="\\"),
        Organization.uscc.like(like_pattern(text.upper())[1:], escape="\\")))
    return [(name, uscc) for name, uscc in db.session.execute(
        query.order_by(Organization.name).limit(SUGGESTIONS))]


JOINS = {
    "org": lambda q: q.join(Organization, Organization.id == Application.organization_id),
    "pi": lambda q: q.join(User, User.id == Application.applicant_id),
    "call": lambda q: q.join(Call, Call.id == Application.call_id),
}

APPLICATIONS = ListSpec(
    name="applications", title="申报书", model=Application, visible=applications_query,
    joins=JOINS,
    columns=(
        Column("number", "编号", (Application.receipt_no,)),
        Column("title", "项目名称", (Application.title,), keyset=True),
        Column("call", "指南", (Call.title,), joins=("call",), keyset=True),
        Column("org", "单位", (Organization.name,), joins=("org",), keyset=True),
        Column("pi", "负责人", (User.name,), joins=("pi",), keyset=True),
        Column("scheme", "方式", (Call.scheme,), joins=("call",)),
        Column("state", "状态", (in_order(Application.state, list(ApplicationState)),),
               keyset=True),
        Column("submitted", "提交时间", (Application.submitted_at,), desc_first=True),
    ),
    # ``Grams``: the columns of ``ix_application_search_grams``, in its order.
    search=(Grams((Application.title, Application.receipt_no, Application.project_number)),
            Via(Application.organization_id, Organization.id, Organization.name),
            Via(Application.applicant_id, User.id, Grams((User.name,))),
            Via(Application.call_id, Call.id, Call.title)),
    search_hint="名称、编号、单位、负责人或指南",
    filters=(
        Filter("state", "状态", labelled(list(ApplicationState)),
               lambda v: Application.state == v),
        Filter("call", "指南", visible_calls, lambda v: Application.call_id == int(v)),
        Filter("year", "年度", call_years, lambda v: Application.call_id.in_(
            sa.select(Call.id).where(Call.year == int(v)))),
        Filter("scheme", "资助方式", labelled(list(Scheme)),
               lambda v: Application.call_id.in_(sa.select(Call.id).where(Call.scheme == v))),
        Filter("organization", "单位", (), lambda v: Application.organization_id == int(v),
               shown=any_of(reads_all_applications, recommender), find=find_organization,
               suggest="applying.organization_choices",
               placeholder="单位名称或统一社会信用代码"),
    ),
    # The related rows once per page (or batch of the export), not once per row; the
    # answers (``data``) are neither shown nor exported.
    load=(defer(Application.data), selectinload(Application.call),
          selectinload(Application.organization), selectinload(Application.applicant),
          selectinload(Application.challenge)),
    export=(
        Field("受理回执号", lambda a: a.receipt_no or "", width=22),
        Field("项目编号", lambda a: a.project_number or "", width=22),
        Field("项目名称", lambda a: a.title, width=40),
        Field("指南", lambda a: a.call.title, width=36),
        Field("年度", lambda a: a.call.year, "int", width=8),
        Field("资助方式", lambda a: a.call.scheme.label, width=10),
        Field("榜单", lambda a: a.challenge.title if a.challenge else "", width=28),
        Field("申报单位", lambda a: a.organization.name, width=28),
        Field("项目负责人", lambda a: a.applicant.name, width=12),
        Field("状态", lambda a: a.state.label, width=10),
        Field("提交时间", lambda a: a.submitted_at, "datetime", width=18),
        Field("立项时间", lambda a: a.approved_at, "datetime", width=18),
        Field("资助金额（万元）", lambda a: a.granted_amount, "wan"),
        Field("已拨付（万元）", lambda a: a.disbursed if a.granted_amount else None, "wan"),
    ),
)
