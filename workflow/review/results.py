"""A call's review results: aggregated scores, spread flags, ranking and the funding line."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any, overload

import sqlalchemy as sa

from states import ApplicationState, ReviewState
from workflow.accounts.models import Organization
from workflow.applying.models import Application
from workflow.calls.models import Call, Challenge
from workflow.core.models import db
from workflow.review import ranking
from workflow.review.models import ReviewAssignment

AFTER_REVIEW = (ApplicationState.expert_review, ApplicationState.defence,
                ApplicationState.reviewed, ApplicationState.shortlisted,
                ApplicationState.public_notice, ApplicationState.objection,
                ApplicationState.approved, ApplicationState.not_funded)


def requested_amount(app: Application) -> Decimal:
    """What the application asks for, in yuan: the form's amount, or its milestones."""
    data = app.data or {}
    return _requested(data.get("amount"), data.get("milestones"))


def _requested(amount: Any, milestones: Any) -> Decimal:
    if amount:
        return Decimal(str(amount))
    return sum((Decimal(str(m.get("amount", 0))) for m in milestones or []
                if isinstance(m, dict)), Decimal("0.00"))


@dataclass(frozen=True, slots=True)
class Named:
    """An organisation or a challenge as the results show it (``name``; ``title`` alike)."""

    id: int | None
    name: str

    @property
    def title(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class AppInfo:
    """The columns of an application the results need, read in one query (no ORM object
    per row): what the ranking, the decision proposal and the score sheet show."""

    id: int
    title: str
    state: ApplicationState
    challenge_id: int | None
    receipt_no: str | None
    requested: Decimal
    organization: Named
    challenge: Named | None

    @property
    def organization_id(self) -> int | None:
        return self.organization.id


@dataclass
class Row:
    app: AppInfo
    count: int  # submitted reviews with a total
    aggregate: Decimal | None
    ranked: ranking.Ranked
    status: str
    stdev_limit: Decimal | None = None
    # Each submitted review's total, in review order, and its scores by criterion: read for
    # the rows shown (``with_totals``) and, with ``criteria=True``, for the score sheet.
    totals: list[Decimal] = field(default_factory=list)
    criteria: list[dict[str, Any]] = field(default_factory=list)

    @cached_property
    def spread(self) -> ranking.Spread:
        # Worked out when shown: a page of the ranking reads it for its own rows only.
        return ranking.spread(self.totals, self.stdev_limit)


class Rows(Sequence[Row]):
    """The ranked rows, each built when first read: a page of a 100,000-application
    ranking builds its 100 rows; what the funding line needs of every row (its
    ``ranking.Ranked``) is all that is kept of the others, beside the database's row.
    A row read twice is the same ``Row``."""

    def __init__(self, raw: Sequence[Any], ranked: Sequence[ranking.Ranked],
                 status: Mapping[int, str], stdev_limit: Decimal | None) -> None:
        self._raw, self._ranked, self._status = raw, ranked, status
        self._limit = stdev_limit
        self._built: dict[int, Row] = {}
        self._named: dict[tuple[str, int], Named] = {}

    def __len__(self) -> int:
        return len(self._ranked)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._row(index)

    def __iter__(self) -> Iterator[Row]:
        return (self._row(i) for i in range(len(self)))

    def _name(self, kind: str, key: int, name: str) -> Named:
        return self._named.get((kind, key)) or self._named.setdefault(
            (kind, key), Named(key, name))

    def _row(self, i: int) -> Row:
        row = self._built.get(i)
        if row is None:
            raw, r = self._raw[i], self._ranked[i]  # read by name: a page's rows only
            info = AppInfo(raw.id, raw.title, raw.state, raw.challenge_id, raw.receipt_no,
                           r.requested, self._name("org", raw.organization_id, raw.org_name),
                           None if raw.challenge_id is None else
                           self._name("challenge", raw.challenge_id, raw.challenge_title))
            row = self._built[i] = Row(info, raw.review_count or 0, r.score, r,
                                       self._status.get(r.id, ""), self._limit)
        return row


@dataclass
class Results:
    call: Call
    rows: Rows
    line: ranking.FundingLine


PER_PAGE = 100


def _reviewed(call: Call, *columns: Any, app_id: int | None = None) -> sa.Select[Any]:
    """``columns`` of the submitted reviews (with a total) of the call's reviewed
    applications (or of application ``app_id`` of the call, whatever its state): joined on
    the call, never a list of application ids, read from the index
    ``ix_review_assignment_application_totals``."""
    query = (sa.select(*columns)
             .join(Application, Application.id == ReviewAssignment.application_id)
             .where(Application.call_id == call.id,
                    ReviewAssignment.state == ReviewState.submitted,
                    ReviewAssignment.total.is_not(None)))
    if app_id is not None:
        return query.where(Application.id == app_id)
    return query.where(Application.state.in_(AFTER_REVIEW))


def _scores(call: Call, app_id: int | None = None) -> sa.Subquery:
    """Per reviewed application with a submitted total (or for ``app_id`` alone): ``app``,
    ``n`` (its reviews), ``kept`` (how many of them the call's rule keeps) and ``cents``
    (their sum in whole cents), aggregated by the database. The totals are whole cents, so
    the database sums integers and ``ranking.from_cents`` rounds as ``ranking.aggregate``
    does: ``trimmed`` drops the lowest and the highest (with 5 or more), ``median`` keeps
    the middle one or two, by their place in each application's sorted totals."""
    rule = call.aggregation.value
    cents = sa.cast(sa.func.round(ReviewAssignment.total * 100), sa.Integer)
    app = ReviewAssignment.application_id
    if rule == "median":
        place = sa.func.row_number().over(partition_by=app, order_by=ReviewAssignment.total)
        each = _reviewed(call, app.label("app"), cents.label("cents"), place.label("place"),
                         sa.func.count().over(partition_by=app).label("n"),
                         app_id=app_id).subquery()
        middle = sa.or_(each.c.place == (each.c.n + 1) // 2,
                        each.c.place == (each.c.n + 2) // 2)
        return (sa.select(each.c.app, sa.func.max(each.c.n).label("n"),
                          sa.func.count().label("kept"), sa.func.sum(each.c.cents).label("cents"))
                .where(middle).group_by(each.c.app).subquery())
    n, total = sa.func.count(), sa.func.sum(cents)
    kept: Any = n
    kept_cents: Any = total
    if rule == "trimmed":
        trims = n >= ranking.TRIM_MIN_COUNT
        kept = sa.case((trims, n - 2), else_=n)
        kept_cents = sa.case((trims, total - sa.func.min(cents) - sa.func.max(cents)),
                             else_=total)
    return _reviewed(call, app.label("app"), n.label("n"), kept.label("kept"),
                     kept_cents.label("cents"), app_id=app_id).group_by(app).subquery()


def rescore(call: Call, app_id: int | None = None) -> None:
    """Keep with each reviewed application of ``call`` (or with ``app_id`` alone) its
    submitted reviews' count, kept count and kept sum (``Application.review_*``): a
    review's submission (``keep_score``) and, for reviews written otherwise (an import),
    the whole call. The application's ``updated_at`` is left as it was."""
    s = _scores(call, app_id)
    db.session.execute(
        sa.update(Application).where(Application.id == s.c.app)
        .values(review_count=s.c.n, review_kept=s.c.kept, review_cents=s.c.cents,
                updated_at=Application.updated_at)
        .execution_options(synchronize_session=False))


def _ranking(call: Call) -> sa.Select[Any]:
    """The call's reviewed applications ranked by the database as ``ranking.rank`` ranks
    (the tests hold the two equal). The score is the sums kept with each application
    (``rescore``) in whole cents, rounded half up in integers as ``ranking.from_cents``
    rounds (the rows carry the sums, which it turns into the score shown). Each row has
    its ``rank``, ``position``, ``same`` (how many of its group share its score) and
    ``line_at`` (the funding line's order). The rows come in the groups' order (the
    whole call, then each challenge by its id as text), each group by position."""
    kept = Application.review_kept
    cents = sa.case((sa.and_(Application.review_count > 0, kept > 0),
                     (2 * Application.review_cents + kept) // (2 * kept)))
    group = Application.challenge_id
    tie = (Application.submitted_at.is_(None), Application.submitted_at, Application.id)
    ranked = (
        sa.select(Application.id, Application.title, Application.state, group,
                  Application.receipt_no, Application.data["amount"].as_string().label("amount"),
                  Application.data["milestones"].label("milestones"),
                  Application.organization_id, Application.review_count, kept,
                  Application.review_cents, cents.label("cents"),
                  sa.func.rank().over(partition_by=group,
                                      order_by=(cents.is_(None), cents.desc())).label("rank"),
                  sa.func.row_number().over(partition_by=group,
                                            order_by=(cents.is_(None), cents.desc(), *tie))
                  .label("position"),
                  # The rows of its group sharing its score: its peers in the rank's
                  # order (the frame of equal scores), which the sort the row number
                  # needs serves too, rather than a sort of its own by (group, score).
                  sa.func.count().over(partition_by=group,
                                       order_by=(cents.is_(None), cents.desc()),
                                       range_=(0, 0)).label("same"),
                  *(c.label(f"tie{i}") for i, c in enumerate(tie)))
        .where(Application.call_id == call.id, Application.state.in_(AFTER_REVIEW))
        .subquery())
    r = ranked.c
    # A call without challenges (包干制) is one group, whose order is the funding line's:
    # its rows need no second ordering of the whole call.
    whole = not call.challenges
    line_at = r.position if whole else sa.func.row_number().over(
        order_by=(r.cents.is_(None), r.rank, r.cents.desc(), r.tie0, r.tie1, r.tie2))
    order = (r.position,) if whole else (r.challenge_id.is_not(None),
                                         sa.cast(r.challenge_id, sa.String), r.position)
    return (sa.select(r.id, r.title, r.state, r.challenge_id, r.receipt_no, r.amount,
                      r.milestones, r.organization_id, Organization.name.label("org_name"),
                      Challenge.title.label("challenge_title"), r.review_count,
                      r.review_kept, r.review_cents, r.cents, r.rank, r.position, r.same,
                      line_at.label("line_at"))
            .join(Organization, Organization.id == r.organization_id)
            .outerjoin(Challenge, Challenge.id == r.challenge_id)
            .order_by(*order))


def _ranked(call: Call) -> tuple[Sequence[Any], list[ranking.Ranked]]:
    """The call's reviewed applications in the ranking's order (``_ranking``: one
    statement, its bound parameters fixed whatever the size of the call), and each one's
    place."""
    raw = _rows(_ranking(call))
    ranked: list[ranking.Ranked] = []
    for (app_id, _, _, challenge_id, _, amount, milestones, _, _, _, _, kept, total, cents,
         place, position, same, line_at) in raw:
        try:
            requested = ranking.to_the_fen(_requested(amount, milestones))
        except (ArithmeticError, AttributeError, TypeError, ValueError):
            requested = Decimal("0.00")
        scored = cents is not None
        ranked.append(ranking.Ranked(
            app_id, str(challenge_id) if challenge_id else None,
            ranking.from_cents(total, kept) if scored else None, requested,
            place if scored else None, position, scored and same > 1,
            line_at if scored else None))
    return raw, ranked


def _totals(call: Call, criteria: bool, ids: list[int] | None = None) -> Iterator[Any]:
    """Each submitted review's (application id, total[, scores]) in review order: of the
    whole call (the score sheet) or of ``ids`` (a page of it, at most a page's worth)."""
    columns: list[Any] = [ReviewAssignment.application_id, ReviewAssignment.total]
    if criteria:
        columns.append(ReviewAssignment.scores)
    query = _reviewed(call, *columns)
    if ids is not None:
        query = query.where(ReviewAssignment.application_id.in_(ids))
    return _stream(query.order_by(ReviewAssignment.application_id, ReviewAssignment.id))


def _rows(query: sa.Select[Any]) -> Sequence[Any]:
    """The rows of ``query`` on the session's connection, without the ORM's per-row work:
    read whole, in one fetch (a ranking's 100,000 rows are a few megabytes; a server-side
    cursor's batches cost 0.5 s more, fetching row by row 0.6 s more)."""
    return db.session.connection().execute(query).all()


def _stream(query: sa.Select[Any]) -> Iterator[Any]:
    """The rows of ``query`` on the session's connection, fetched in batches (a
    server-side cursor on PostgreSQL), without the ORM's per-row work."""
    result = db.session.connection().execute(
        query.execution_options(stream_results=True, max_row_buffer=10000))
    for rows in result.partitions(10000):
        yield from rows


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the results are built: they are hundreds of
    thousands of small acyclic objects, and each full collection would walk them all
    (a second of a 100,000-application call's ranking)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def call_results(call: Call, budget: Decimal | None = None,
                 skip_unaffordable: bool = False, criteria: bool = False) -> Results:
    """The call's ranking and funding line. One statement whatever the size of the call
    (the applications with their scores), its bound parameters fixed."""
    with collector_paused():
        return _call_results(call, budget, skip_unaffordable, criteria)


def _call_results(call: Call, budget: Decimal | None, skip_unaffordable: bool,
                  criteria: bool) -> Results:
    raw, ranked = _ranked(call)
    limits: dict[str | None, int] = {str(ch.id): ch.max_teams for ch in call.challenges}
    line = ranking.funding_line(ranked, call.budget if budget is None else budget,
                                per_group_limit=limits or None,
                                skip_unaffordable=skip_unaffordable)
    res = Results(call, Rows(raw, ranked, line.status, call.spread_stdev_limit), line)
    if criteria:
        _fill(res, list(res.rows), criteria=True)
    return res


def _fill(res: Results, rows: Sequence[Row], criteria: bool = False) -> None:
    by_id = {r.app.id: r for r in rows}
    ids = None if criteria else list(by_id)
    for row in _totals(res.call, criteria, ids):
        shown = by_id.get(row[0])
        if shown is not None:
            shown.totals.append(Decimal(row[1]))
            if criteria:
                shown.criteria.append(dict(row[2] or {}))


def with_totals(res: Results, rows: list[Row]) -> list[Row]:
    """``rows`` (a page of ``res``, at most ``PER_PAGE`` of them) with each review's total,
    for their review count and spread: one statement."""
    todo = [r for r in rows if not r.totals and r.count]
    if todo:
        _fill(res, todo)
    return rows


def page_of(rows: Sequence[Row], page: int,
            per_page: int = PER_PAGE) -> tuple[list[Row], int]:
    """One page of the ranked rows (``page`` from 1, past the end: the last) and the
    number of pages."""
    pages = max(1, -(-len(rows) // per_page))
    page = min(max(page, 1), pages)
    return list(rows[(page - 1) * per_page:page * per_page]), pages


def results_json(res: Results, page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
    """The funding line and one page of the ranked rows (``total`` rows in ``pages``)."""
    from forms import format_wan

    shown, pages = page_of(res.rows, page, per_page)
    with_totals(res, shown)
    return {
        "total": len(res.rows), "page": min(max(page, 1), pages), "per_page": per_page,
        "pages": pages,
        "call_id": res.call.id, "budget_wan": format_wan(res.line.budget),
        "funded_wan": format_wan(res.line.total_funded),
        "remaining_wan": format_wan(res.line.remaining), "tie_at_line": res.line.tie_at_line,
        "items": [{
            "application_id": r.app.id, "title": r.app.title,
            "organization": r.app.organization.name,
            "challenge_id": r.app.challenge_id, "rank": r.ranked.rank,
            "score": str(r.aggregate) if r.aggregate is not None else None,
            "reviews": r.count, "spread_flagged": r.spread.flagged,
            "spread_reasons": r.spread.reasons, "requested_wan": format_wan(r.ranked.requested),
            "funded": res.line.is_funded(r.app.id), "status": r.status,
        } for r in shown],
    }


def score_sheet(res: Results) -> bytes:
    """The Excel score sheet; experts appear as 专家1, 专家2… and never by name."""
    rows = []
    for r in res.rows:
        criteria = r.criteria or [{} for _ in r.totals]  # read with criteria=True
        reviews = [ranking.ReviewerScore(label=f"专家{i}", total=t, criteria=c)
                   for i, (t, c) in enumerate(zip(r.totals, criteria, strict=True), 1)]
        rows.append(ranking.SheetRow(
            number=r.app.receipt_no or str(r.app.id), title=r.app.title, reviews=reviews,
            aggregate=r.aggregate, spread=r.spread, rank=r.ranked.rank,
            funded=res.line.is_funded(r.app.id), requested=r.ranked.requested,
            group=str(r.app.challenge_id) if r.app.challenge_id else None))
    return ranking.score_sheet_xlsx(rows, res.call.rubric or [], title=f"{res.call.title}评审结果")
