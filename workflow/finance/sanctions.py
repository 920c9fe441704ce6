"""Integrity after funding: a sanction entered on the 科研失信 list against the principal
investigator, a team member or the organisation of a running project holds the project's
due tranches (暂停拨付) and opens a review (``states.SANCTION_REVIEW``) in which the
officer continues the project (the holds lifted), terminates it (recovery opened) or
revokes it (撤销立项: everything paid is recovered).

The holds are placed by the ``sanction_holds`` consumer of the ``sanction.recorded``
event; until it has run, and while a review is open, the tranche guard
``no_integrity_hold`` refuses to prepare, approve, release or resume the project's
tranches, with the reason."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from forms import format_wan
from states import SANCTION_REVIEW, SYSTEM, SanctionReviewState, TrancheState
from states.lifecycles import RUNNING
from workflow.accounts import integrity
from workflow.accounts.models import Organization, Sanction, User
from workflow.applying.models import Application
from workflow.calls.rules import bureau_owner
from workflow.core import audit, engine
from workflow.core.entities import Entity
from workflow.core.errors import ServiceError
from workflow.core.models import OutboxEvent, db
from workflow.core.rules import FireResult, GuardContext, Reason, refuse
from workflow.finance import recovery as recoveries
from workflow.finance.models import SanctionReview, Tranche
from workflow.permissions import money_reader

SR = SanctionReviewState
T = TrancheState
HELD = (T.due, T.prepared, T.approved)


def _touching(app: Application, live_only: bool = True) -> list[tuple[Sanction, str]]:
    """The sanctions (not ended) on the project's people or organisation."""
    today = recoveries.today()
    pi, org = app.applicant, app.organization
    found = integrity.sanctions_touching(pi.name, pi.id_number, org.name, org.uscc,
                                         integrity.team_of(app.data))
    return [(s, who) for s, who in found if not live_only or s.ends_on >= today]


def hold_texts(apps: Iterable[Application]) -> dict[int, str | None]:
    """Why each project's tranches may not move now (暂停拨付), or None: an open review,
    or a sanction not yet reviewed. Two queries for any number of projects."""
    apps = list({a.id: a for a in apps}.values())
    if not apps:
        return {}
    reviews: dict[int, list[SanctionReview]] = {a.id: [] for a in apps}
    for r in db.session.scalars(sa.select(SanctionReview).where(
            SanctionReview.application_id.in_(list(reviews))).options(
            joinedload(SanctionReview.sanction)).order_by(SanctionReview.id)):
        reviews[r.application_id].append(r)
    people = {a.id: integrity.people_of(a.applicant.name, a.applicant.id_number,
                                        integrity.team_of(a.data))
              for a in apps if a.state in RUNNING}
    today = recoveries.today()
    live = [s for s in integrity.sanctions_on(
        [i for p in people.values() for i in p],
        [a.organization.uscc for a in apps if a.id in people]) if s.ends_on >= today]
    out: dict[int, str | None] = {}
    for app in apps:
        open_ = [r for r in reviews[app.id] if r.state is SR.open]
        out[app.id] = None
        if open_:
            r = open_[0]
            out[app.id] = (f"暂停拨付：{r.subject}已被列入科研失信名单（{r.sanction.reason}，"
                           f"{r.sanction.starts_on.isoformat()}至"
                           f"{r.sanction.ends_on.isoformat()}），待项目主管复核")
            continue
        if app.id not in people:
            continue
        reviewed = {r.sanction_id for r in reviews[app.id]}
        for sanction, who in integrity.touching(live, people[app.id], app.organization.name,
                                                app.organization.uscc):
            if sanction.id not in reviewed:
                out[app.id] = (f"暂停拨付：{who}已被列入科研失信名单（{sanction.reason}），"
                               "待项目主管复核")
                break
    return out


# The holds of a page's projects, read once for the page (``holds_known``): the guards of
# each row's options then read them here instead of querying once per row.
_KNOWN: ContextVar[dict[int, str | None] | None] = ContextVar("holds_known", default=None)


@contextmanager
def holds_known(apps: Iterable[Application]) -> Iterator[dict[int, str | None]]:
    """Within the block, ``hold_text`` answers for these projects from one reading of
    their holds (a list's options: a fixed number of queries for any number of rows)."""
    known = hold_texts(apps)
    token = _KNOWN.set(known)
    try:
        yield known
    finally:
        _KNOWN.reset(token)


def hold_text(app: Application) -> str | None:
    known = _KNOWN.get()
    if known is not None and app.id in known:
        return known[app.id]
    return hold_texts([app])[app.id]


def no_integrity_hold(ctx: GuardContext) -> list[Reason]:
    text = hold_text(ctx.row.application)
    return refuse("integrity_hold", text, status=409) if text else []


def running_projects_of(sanction: Sanction) -> list[Application]:
    """The running projects whose principal investigator, team member or organisation
    the sanction names."""
    query = sa.select(Application).where(Application.state.in_(RUNNING)).order_by(
        Application.id)
    if sanction.subject == "org":
        return list(db.session.scalars(query.join(
            Organization, Organization.id == Application.organization_id).where(
            Organization.uscc == sanction.uscc)))
    ident = (sanction.id_number or "").upper()
    out = []
    for app in db.session.scalars(query.join(User, User.id == Application.applicant_id)):
        if (app.applicant.id_number or "").upper() == ident or \
                any(i == ident for i, _ in integrity.team_of(app.data)):
            out.append(app)
    return out


def hold_for_sanction(sanction_id: int, ip: str | None = None) -> list[SanctionReview]:
    """Open a review on each running project the sanction touches (once per project)
    and hold its due tranches."""
    sanction = db.session.get(Sanction, sanction_id)
    if sanction is None or sanction.ends_on < recoveries.today():
        return []
    made = []
    for app in running_projects_of(sanction):
        if db.session.scalar(sa.select(SanctionReview.id).where(
                SanctionReview.sanction_id == sanction.id,
                SanctionReview.application_id == app.id)) is not None:
            continue
        engine.load("application", app.id, lock=True)
        who = dict((s.id, w) for s, w in _touching(app, live_only=False)).get(
            sanction.id, sanction.name)
        review = SanctionReview(sanction_id=sanction.id, application_id=app.id,
                                subject=who[:300], held_tranche_ids=[])
        db.session.add(review)
        db.session.flush()
        audit.record(review, "sanction_review", "create", None, SYSTEM, None,
                     review.state.value, f"{who}被列入科研失信名单：{sanction.reason}"[:5000])
        held = []
        for tranche_id in list(db.session.scalars(sa.select(Tranche.id).where(
                Tranche.application_id == app.id, Tranche.state.in_(HELD))
                .order_by(Tranche.seq))):
            engine.fire(engine.load("tranche", tranche_id, lock=True), "hold", None,
                        comment=f"暂停拨付（科研失信）：{who}，待项目主管复核", ip=ip)
            held.append(tranche_id)
        review.held_tranche_ids = held
        db.session.flush()
        made.append(review)
    return made


def sanction_recorded(event: OutboxEvent) -> None:
    """The consumer of ``sanction.recorded`` (``outbox.consume`` commits)."""
    hold_for_sanction(event.entity_id)


# ---- the review's rules ----------------------------------------------------------------------

def review_project_running(ctx: GuardContext) -> list[Reason]:
    app = ctx.row.application
    if app.state not in RUNNING:
        return refuse("project_not_running", f"项目当前为“{app.state.label}”，不能终止或撤销")
    return []


def lift_integrity_holds(result: FireResult, actor: User | None, ip: str | None) -> None:
    """继续执行: the tranches this review held are due again (unless another review
    still holds the project: they stay on hold, with its reason)."""
    review: SanctionReview = result.row
    for tranche_id in review.held_tranche_ids or []:
        tranche = engine.load("tranche", int(tranche_id), lock=True)
        if tranche.state is not T.on_hold:
            continue
        try:
            with db.session.begin_nested():
                engine.fire(tranche, "resume", None, comment="失信复核：继续执行，恢复拨付",
                            ip=ip, now=result.now)
        except ServiceError:
            continue


def _terminate(review: SanctionReview, comment: str, recovery_wan: str | None,
               ip: str | None, now: Any) -> None:
    app = engine.load("application", review.application_id, lock=True)
    data = {"recovery_wan": recovery_wan} if recovery_wan else {}
    engine.fire(app, "terminate", None, comment=comment, data=data, ip=ip, now=now)


def _comment(result: FireResult) -> str:
    return str(result.audit_event.comment or "")


def terminate_reviewed_project(result: FireResult, actor: User | None, ip: str | None) -> None:
    review: SanctionReview = result.row
    raw = str((result.audit_event.data or {}).get("input", {}).get("recovery_wan") or "")
    _terminate(review, f"科研失信复核终止：{_comment(result)}", raw.strip() or None, ip,
               result.now)


def revoke_reviewed_project(result: FireResult, actor: User | None, ip: str | None) -> None:
    """撤销立项: the project ends and everything paid to it is recovered."""
    review: SanctionReview = result.row
    app = review.application
    paid = app.disbursed or Decimal("0.00")
    _terminate(review, f"撤销立项（科研失信）：{_comment(result)}",
               format_wan(paid) if paid > 0 else None, ip, result.now)
    row = recoveries.of_application(app.id)
    if row is not None:
        row.reason = "撤销立项（科研失信），全额追回"


def can_view_review(user: Any, _row: SanctionReview) -> bool:
    return money_reader(user)


def reviews_owned(_user: Any, role: str) -> sa.ColumnElement[bool] | None:
    return sa.true() if role in ("officer", "leader") else None


def review_name(row: SanctionReview) -> str:
    app = row.application
    return f"{app.project_number or app.title} 失信复核（{row.subject}）"


REVIEW_ENTITY = Entity("sanction_review", SanctionReview, SANCTION_REVIEW, bureau_owner,
                       can_view_review, "失信复核", "sanction-reviews",
                       parent=("application", "application_id"), owned=reviews_owned,
                       name=review_name)
