"""What a list is, apart from its page: the rows a person may see, searched, filtered,
sorted and counted (``ListSpec`` and ``filtered``). The list pages and their Excel
exports (``workflow/web/listing.py``) show it; a service acting on every row a list
matches (the bulk formal review over all pages) selects those rows by the same query.

- keyword search: each word (at most five) must match one of the search columns, by
  ``LIKE '%word%'`` with ``%``, ``_`` and ``\\`` escaped (``ILIKE`` when the word has
  letters with a case; a related table, ``Via``, is searched in its own rows; the
  columns of a large table, ``Grams``, through their index of two-character pieces on
  PostgreSQL);
- filters: a value not among a filter's choices is ignored, never an error;
- sorting by a column header, both ways, the row id breaking ties so pages never overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from workflow.core.errors import Invalid
from workflow.core.extensions import db

Predicate = Callable[[Any], bool]  # user -> may they see this column / filter
Join = Callable[[sa.Select[Any]], sa.Select[Any]]

PER_PAGE_CHOICES = (10, 20, 50, 100)
MAX_TERMS = 5          # words of a search
MAX_QUERY = 100        # characters of a search
MAX_PAGE = 1_000_000


def everyone(_user: Any) -> bool:
    return True


@dataclass(frozen=True)
class Column:
    """A column of the table: its header, and what its header sorts by (none: not
    sortable). ``joins`` names the spec's joins the sort needs; ``num`` right-aligns
    figures; ``desc_first`` sorts newest or largest first on the first click."""

    key: str
    label: str
    sort: tuple[Any, ...] = ()
    joins: tuple[str, ...] = ()
    num: bool = False
    desc_first: bool = False
    shown: Predicate = everyone
    # The API may page by ``cursor`` (keyset) under this sort: its expressions are never
    # NULL (NULLs sort differently on SQLite and PostgreSQL).
    keyset: bool = False

    @property
    def sortable(self) -> bool:
        return bool(self.sort)


@dataclass(frozen=True)
class Only:
    """A search column for those ``shown`` lets see it (who wrote a review): searching by
    what one may not see would tell it."""

    expr: Any
    shown: Predicate


@dataclass(frozen=True)
class Via:
    """A search column of a related table, matched in that table: the rows whose ``key``
    is among the ids of the matching related rows. Searching the small table of
    organisations (or people, or calls) beats joining it to every row of a large one."""

    key: Any      # Application.organization_id
    ref: Any      # Organization.id
    column: Any   # Organization.name (or ``Grams``, or another ``Via``)


@dataclass(frozen=True)
class Grams:
    """Search columns of a large table (a million applications), matched together through
    an index of their two-character pieces: on PostgreSQL a GIN index over
    ``search_grams(columns…)`` (the function and the indexes: migration 20261228_0001)
    finds the rows that hold every piece of a word, and ``LIKE`` checks only those; a
    word of one character, and SQLite (the embedded default, of a city's size), use
    ``LIKE`` alone. A word is never found through the index that ``LIKE`` would not find,
    nor missed that it would: the index only narrows the rows ``LIKE`` reads.

    ``columns`` are in the index's order: the query must name the index's expression."""

    columns: tuple[Any, ...]


@dataclass(frozen=True)
class Filter:
    """A filter: its choices ``[(value, label)]`` (fixed, or for this person when a
    function) and the condition a chosen value puts on the rows. ``tabs``: shown as tabs
    with a count each, ``group`` being the column those counts group by; ``default``
    applies when none is chosen. The API takes a filter by the same name; fixed choices
    are its parameter's enum."""

    name: str
    label: str
    choices: Callable[[Any], Sequence[tuple[str, str]]] | Sequence[tuple[str, str]]
    where: Callable[[str], Any]
    joins: tuple[str, ...] = ()
    shown: Predicate = everyone
    tabs: bool = False
    group: Any = None
    default: str = ""
    all_label: str = "全部"
    # A filter over a large table (20,000 organisations), whose choices are never listed:
    # ``find(user, value)`` is the one choice ``value`` names (its value and label) or
    # None; the page types it, suggested by the endpoint ``suggest``.
    find: Callable[[Any, str], tuple[str, str] | None] | None = None
    suggest: str = ""
    placeholder: str = ""

    def options(self, user: Any) -> Sequence[tuple[str, str]]:
        return self.choices(user) if callable(self.choices) else self.choices

    def choice(self, user: Any, value: str) -> tuple[str, str] | None:
        """``value`` as one of the person's choices (value, label), or None."""
        if self.find is not None:
            return self.find(user, value)
        return next(((v, label) for v, label in self.options(user) if v == value), None)


@dataclass(frozen=True)
class Field:
    """A column of the Excel export: ``kind`` is ``text``, ``wan`` (yuan written as a
    number of 万元), ``datetime`` (in Asia/Shanghai), ``date``, ``number`` or ``int``."""

    label: str
    value: Callable[[Any], Any]
    kind: str = "text"
    shown: Predicate = everyone
    width: int = 16


@dataclass(frozen=True)
class ListSpec:
    name: str                     # the region's id (list-<name>) and the test hooks
    title: str                    # the export's sheet and file name
    model: Any
    visible: Callable[[Any], sa.Select[Any]]  # the rows ``user`` may see
    columns: tuple[Column, ...]
    export: tuple[Field, ...]
    search: tuple[Any, ...] = ()  # columns, ``Via`` a related table, ``Only`` for some
    search_joins: tuple[str, ...] = ()
    search_hint: str = ""
    filters: tuple[Filter, ...] = ()
    joins: Mapping[str, Join] = field(default_factory=dict)
    default_sort: str = ""        # a column's key; "" = by id
    default_desc: bool = True
    load: tuple[Any, ...] = ()    # loader options for the rows shown and exported
    per_page: int = 20
    # Further sheets of the export (the ledger's reconciliation): (workbook, the
    # ``workflow.web.listing.Listing`` exported).
    extra_sheets: Callable[[Any, Any], None] | None = None

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key and c.sortable), None)


def in_order(column: Any, members: Sequence[Any]) -> Any:
    """A state column sorted in its lifecycle's order rather than by its code."""
    return sa.case(*((column == m, i) for i, m in enumerate(members)), else_=len(members))


def labelled(members: Sequence[Any]) -> list[tuple[str, str]]:
    """An enum's members as a filter's choices."""
    return [(m.value, m.label) for m in members]


# ---- what was asked ----------------------------------------------------------------------

@dataclass
class Params:
    q: str
    terms: list[str]
    filters: dict[str, str]
    sort: str
    desc: bool
    page: int
    per_page: int
    labels: dict[str, str] = field(default_factory=dict)  # a chosen filter value's label


def _first(args: Mapping[str, Any], key: str) -> str:
    value = args.get(key, "")
    return value if isinstance(value, str) else ""


def parse(spec: ListSpec, user: Any, args: Mapping[str, Any], *,
          defaults: bool = True) -> Params:
    """The request's search, filters, sort and page, each checked: what is not one of
    the choices falls back to the default (a list never answers an error). A filter's
    default is the page's first view (the tranches due); ``defaults=False`` (the API)
    leaves the rows unfiltered unless asked."""
    q = " ".join(_first(args, "q").split())[:MAX_QUERY]
    terms = list(dict.fromkeys(q.split()))[:MAX_TERMS]
    chosen: dict[str, str] = {}
    labels: dict[str, str] = {}
    for f in spec.filters:
        if not f.shown(user):
            continue
        value = _first(args, f.name).strip()
        found = f.choice(user, value) if value else None
        if found is not None:
            chosen[f.name], labels[f.name] = found
        elif f.default and defaults:
            chosen[f.name] = f.default
    sort = _first(args, "sort")
    column = spec.column(sort)
    if column is None or not column.shown(user):
        sort, column = spec.default_sort, spec.column(spec.default_sort)
    direction = _first(args, "dir")
    if direction in ("asc", "desc") and column is not None:
        desc = direction == "desc"
    else:
        desc = column.desc_first if column is not None and sort != spec.default_sort \
            else spec.default_desc
    raw_page = _first(args, "page")
    page = min(int(raw_page), MAX_PAGE) if _digits(raw_page) and len(raw_page) < 9 else 1
    raw = _first(args, "per_page")
    per_page = int(raw) if _digits(raw) and int(raw) in PER_PAGE_CHOICES else spec.per_page
    return Params(q, terms, chosen, sort, desc, max(page, 1), per_page, labels)


def _digits(raw: str) -> bool:
    """0-9 only (``str.isdigit`` also takes ² and other digits ``int`` refuses)."""
    return raw.isascii() and raw.isdigit()


def like_pattern(term: str) -> str:
    """``%term%`` with LIKE's own characters taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ---- the query ---------------------------------------------------------------------------

def id_column(spec: ListSpec) -> Any:
    return sa.inspect(spec.model).primary_key[0]


def search_columns(spec: ListSpec, user: Any) -> list[Any]:
    return [c.expr if isinstance(c, Only) else c for c in spec.search
            if not isinstance(c, Only) or c.shown(user)]


def _indexed(column: Any) -> bool:
    """``column`` is found through an index: ``Grams``, or a related table's rows (by
    the index on the key, which every ``Via`` key has)."""
    return isinstance(column, (Grams, Via))


def _pieces(grams: Grams, term: str) -> Any:
    """The rows whose ``grams`` hold every two-character piece of ``term`` (its GIN
    index's condition): for a word of two characters, exactly those holding the word."""
    return sa.func.search_grams(*grams.columns).op("@>", is_comparison=True)(
        sa.func.search_grams(sa.cast(term, sa.Text)))


def matches(column: Any, term: str, *, indexed: bool = False) -> Any:
    """``column`` contains ``term``: ILIKE when case matters to the term, else LIKE (a
    Chinese word has no case, and LIKE spares the database lower-casing every row).
    ``indexed``: ``Grams`` are narrowed by their index first (PostgreSQL)."""
    if isinstance(column, Via):
        return column.key.in_(sa.select(column.ref).where(
            matches(column.column, term, indexed=indexed)))
    if isinstance(column, Grams):
        if indexed and len(term) == 2:
            return _pieces(column, term)
        found = sa.or_(*(matches(c, term) for c in column.columns))
        return sa.and_(_pieces(column, term), found) if indexed and len(term) > 2 else found
    pattern = like_pattern(term)
    if term.lower() == term.upper():
        return column.like(pattern, escape="\\")
    return column.ilike(pattern, escape="\\")


def from_indexes(column: Any, term: str) -> Any:
    """What the indexes alone say of ``column`` and ``term`` (PostgreSQL): the rows
    whose grams hold the word's pieces, or whose key is among the ids of the related
    rows that match (an array, which the key's index reads). The alternatives of a
    search so written, the database reads each from its index and joins their rows (a
    bitmap OR), rather than reading every row to try them in turn. ``_checked`` then
    checks the rows found by ``LIKE``: a longer word's pieces may lie apart, and when
    another index (a state's) reads fewer rows, the planner tries ``LIKE`` on them
    (about 1 µs a row) before it works out any row's pieces (10 µs)."""
    if isinstance(column, Via):
        ids = sa.select(column.ref).where(matches(column.column, term, indexed=True))
        return column.key == sa.any_(sa.func.array(ids.scalar_subquery()))
    return _pieces(column, term)


def _checked(column: Any, term: str, indexed: bool) -> Any:
    """``matches``, on the rows the indexes found (``indexed``): the columns of
    ``Grams`` by ``LIKE`` alone, their pieces being the indexes' to check."""
    if indexed and isinstance(column, Grams):
        return matches(column, term)
    return matches(column, term, indexed=indexed)


def filtered(spec: ListSpec, user: Any, p: Params, base: sa.Select[Any] | None = None, *,
             for_sort: bool = False, skip: str | None = None,
             frequent: bool = False) -> sa.Select[Any]:
    """The rows the person may see, searched and filtered (``skip``: leave one filter
    out, for its tabs' counts); with the joins the sort needs when ``for_sort``.
    ``frequent``: the search is known to match many rows (more than ``COUNT_CAP``), and
    is written as ``LIKE`` alone: the database then walks the sort's index trying each
    row, and a page of them turns up within a few thousand rows, rather than finding
    every match through the search's indexes to sort them (60,000 rows: 0.2 s)."""
    query = base if base is not None else spec.visible(user)
    needed: list[str] = []
    if p.terms:
        needed += spec.search_joins
    active = [f for f in spec.filters if f.name in p.filters and f.name != skip]
    for f in active:
        needed += f.joins
    column = spec.column(p.sort)
    if for_sort and column is not None:
        needed += column.joins
    for name in dict.fromkeys(needed):
        query = spec.joins[name](query)
    columns = search_columns(spec, user)
    by_index = bool(columns) and all(_indexed(c) for c in columns) and \
        db.session.get_bind().dialect.name == "postgresql"
    for term in p.terms if columns else ():
        if by_index and len(term) > 1 and not frequent:
            query = query.where(sa.or_(*(from_indexes(c, term) for c in columns)))
        query = query.where(sa.or_(*(_checked(c, term, by_index) for c in columns)))
    for f in active:
        query = query.where(f.where(p.filters[f.name]))
    return query


def order_by(spec: ListSpec, p: Params, reverse: bool = False) -> list[Any]:
    """The list's order (the sort's expressions, then the id); ``reverse``: the same rows
    the other way round (NULLs too: each database puts them at opposite ends in the two
    directions)."""
    column = spec.column(p.sort)
    exprs = [*(column.sort if column is not None else ()), id_column(spec)]
    return [e.desc() if p.desc != reverse else e.asc() for e in exprs]


def sort_keys(spec: ListSpec, p: Params) -> list[Any] | None:
    """What the rows are ordered by (the sort's expressions, then the id) when a keyset
    (``cursor``) can page by it; None when it cannot (a column that may be NULL)."""
    column = spec.column(p.sort)
    if column is not None and not column.keyset:
        return None
    return [*(column.sort if column is not None else ()), id_column(spec)]


def after(keys: Sequence[Any], values: Sequence[Any], desc: bool) -> Any:
    """The rows that come after ``values`` in the order of ``keys`` (a row comparison,
    which an index of the sort's columns and the id serves)."""
    row, bound = sa.tuple_(*keys), sa.tuple_(*values)
    return row < bound if desc else row > bound


# A search's rows are counted up to this many: beyond it the list says "10,000 余条" and
# goes on by its next links. A frequent word's rows are found through the search's index,
# but counting every one of them reads each from the table (167,000 rows of 1M: 0.4 s).
COUNT_CAP = 10_000


def count(spec: ListSpec, query: sa.Select[Any], cap: int | None = None) -> int:
    """The number of ``query``'s rows; with ``cap``, at most ``cap + 1`` of them (more than
    ``cap``: there are more, how many is not counted)."""
    ids = query.with_only_columns(id_column(spec)).order_by(None)
    if cap is not None:
        ids = ids.limit(cap + 1)
    return db.session.scalar(sa.select(sa.func.count()).select_from(ids.subquery())) or 0


def count_also(spec: ListSpec, query: sa.Select[Any], condition: Any,
               cap: int | None = None) -> tuple[int, int | None]:
    """``count``, and how many of those rows meet ``condition``, in one reading of them
    (a search's rows are not found twice). With ``cap``, the rows are counted as
    ``count`` does; when there are more than ``cap``, how many meet ``condition`` is not
    known (None): the first rows read say nothing of the others."""
    rows = query.with_only_columns(id_column(spec), condition.label("meets")).order_by(None)
    if cap is not None:
        rows = rows.limit(cap + 1)
    found = rows.subquery()
    total, meeting = db.session.execute(sa.select(
        sa.func.count(), sa.func.count().filter(found.c.meets))).one()
    if cap is not None and total > cap:
        return total, None
    return total or 0, meeting or 0


# ---- the API's reading ------------------------------------------------------------------

API_PER_PAGE = 50
API_MAX_PER_PAGE = 100


def checked(spec: ListSpec, user: Any, args: Mapping[str, Any]) -> Params:
    """The API's reading of a list's parameters: the page's, except that what a page
    passes over quietly (a filter value not among its choices, an unknown sort) is
    refused, as is a parameter the list does not take, each named with what it takes;
    ``per_page`` is 1 to 100."""
    errors: dict[str, str] = {}
    known = {"q", "sort", "dir", "page", "per_page", "export", "cursor",
             *(f.name for f in spec.filters)}
    for name in sorted(set(args) - known):
        errors[name] = "不接受的参数，可用：" + "、".join(sorted(known))
    for f in spec.filters:
        value = _first(args, f.name).strip()
        if not value:
            continue
        if not f.shown(user):
            errors[f.name] = f"无权按{f.label}筛选"
        elif f.find is not None:
            if f.find(user, value) is None:
                errors[f.name] = f"没有这个{f.label}"
        elif value not in {v for v, _ in f.options(user)}:
            choices = [v for v, _ in f.options(user)]
            errors[f.name] = ("可选：" + "、".join(choices)) if len(choices) <= 20 \
                else f"没有这个{f.label}"
    sortable = [c.key for c in spec.columns if c.sortable and c.shown(user)]
    if _first(args, "sort") and _first(args, "sort") not in sortable:
        errors["sort"] = "可选：" + "、".join(sortable)
    if _first(args, "dir") not in ("", "asc", "desc"):
        errors["dir"] = "asc 或 desc"
    for name, top in (("page", MAX_PAGE), ("per_page", API_MAX_PER_PAGE)):
        raw = _first(args, name)
        if raw and not (_digits(raw) and len(raw) < 9 and 1 <= int(raw) <= top):
            errors[name] = f"应为 1 至 {top} 的整数"
    if _first(args, "export") not in ("", "xlsx"):
        errors["export"] = "只能是 xlsx"
    if errors:
        raise Invalid("列表参数有误", details=errors)
    p = parse(spec, user, args, defaults=False)
    raw = _first(args, "per_page")
    p.per_page = int(raw) if raw else API_PER_PAGE
    return p
