"""Lists that scale: what every list page shares.

A feature declares each of its lists as a ``ListSpec`` (``workflow/core/listing.py``, which
also holds the query a list runs): the rows a person may see (the same query as the
page's visibility rule), the columns with what each sorts by, the columns a keyword
searches, the filters that fit, and the columns of its Excel export. ``respond`` does the
rest, the same way on every page:

- keyword search, filters and sorting as ``workflow.core.listing.filtered`` and
  ``order_by`` do them (a search word matching one of the search columns, a filter's
  value among its choices or ignored, the row id breaking ties so pages never overlap);
- pagination on the server: the page's ids by ORDER BY (the sort, then the id) with
  LIMIT/OFFSET, reading the sort columns only (an index of the big table's sorts serves
  a deep page without sorting), then those rows with what they show (bench/lists.py
  times page 1 against the last page); the total and the page links;
- an Excel export of exactly the filtered rows in the chosen order (openpyxl's write-only
  mode, rows fetched in batches and streamed from a temporary file): money as numbers in
  万元, times in Asia/Shanghai, Chinese headers, the columns the person may see;
- htmx: a search, a filter, a header or a page link replaces the list region only (the
  page's ``list`` block) and pushes the URL; without JavaScript each is a plain GET.

The templates' side is ``templates/_list.html``.
"""

from __future__ import annotations

import base64
import enum
import json
import math
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from copy import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import (
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.wrappers import Response as WResponse

from workflow.core.errors import Invalid
from workflow.core.extensions import db
from workflow.core.listing import (
    API_MAX_PER_PAGE,
    API_PER_PAGE,
    COUNT_CAP,
    MAX_PAGE,
    MAX_QUERY,
    MAX_TERMS,
    PER_PAGE_CHOICES,
    Column,
    Filter,
    ListSpec,
    Params,
    after,
    checked,
    count,
    count_also,
    filtered,
    id_column,
    order_by,
    parse,
    sort_keys,
)
from workflow.timeutil import SHANGHAI

EXPORT_MAX = 50_000    # rows in one Excel file; more is refused with a message
EXPORT_BATCH = 500
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WAN = Decimal(10000)
# Characters Excel refuses in a cell.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# ---- the page ----------------------------------------------------------------------------

@dataclass
class Tab:
    value: str
    label: str
    count: int | None  # None: a search matching more than COUNT_CAP rows, not counted
    current: bool


@dataclass
class Listing:
    """One page of a list, and the links of everything around it."""

    spec: ListSpec
    user: Any
    params: Params
    rows: list[Any]
    total: int
    page: int
    pages: int
    partial: bool = False
    tabs: list[Tab] = field(default_factory=list)
    following: list[Any] | None = None  # the last row's sort values, when more follow
    also: int | None = None  # how many rows meet ``run``'s ``also``
    # A search's count stops at COUNT_CAP: ``total`` is then COUNT_CAP and more follow
    # (the page says "超过 10,000 条", its links go on by next), and ``also`` is None.
    capped: bool = False
    more: bool = False  # rows follow this page (known when it was read with one more)

    @property
    def id(self) -> str:
        return f"list-{self.spec.name}"

    @property
    def q(self) -> str:
        return self.params.q

    @property
    def per_page(self) -> int:
        return self.params.per_page

    @property
    def per_page_choices(self) -> tuple[int, ...]:
        return PER_PAGE_CHOICES

    @property
    def columns(self) -> list[Column]:
        return [c for c in self.spec.columns if c.shown(self.user)]

    def shows(self, key: str) -> bool:
        """Is the column ``key`` shown to this person (rows render their cells by it)."""
        return any(c.key == key for c in self.columns)

    @property
    def filters(self) -> list[tuple[Filter, str, Sequence[tuple[str, str]]]]:
        """The select filters: (filter, chosen value, choices); a filter whose choices are
        typed (``find``) has only the chosen one."""
        return [(f, self.params.filters.get(f.name, ""), f.options(self.user)
                 if f.find is None else self._chosen(f))
                for f in self.spec.filters if f.shown(self.user) and not f.tabs]

    def _chosen(self, f: Filter) -> list[tuple[str, str]]:
        value = self.params.filters.get(f.name, "")
        return [(value, self.params.labels.get(f.name, value))] if value else []

    @property
    def tab_filter(self) -> Filter | None:
        return next((f for f in self.spec.filters if f.tabs and f.shown(self.user)), None)

    def value(self, name: str) -> str:
        return self.params.filters.get(name, "")

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        if self.capped:
            return self.first + len(self.rows) - 1 if self.rows else 0
        return min(self.page * self.per_page, self.total)

    @property
    def has_next(self) -> bool:
        return self.more if self.capped else self.page < self.pages

    # -- links --

    def query_args(self, **changes: Any) -> dict[str, Any]:
        """The list's parameters as they stand (defaults left out), with ``changes``."""
        p = self.params
        args: dict[str, Any] = {"q": p.q}
        for f in self.spec.filters:
            value = p.filters.get(f.name, "")
            args[f.name] = value if value != f.default else ""
        if p.sort != self.spec.default_sort or p.desc != self.spec.default_desc:
            args["sort"], args["dir"] = p.sort, "desc" if p.desc else "asc"
        if p.per_page != self.spec.per_page:
            args["per_page"] = p.per_page
        if self.page > 1:
            args["page"] = self.page
        args.update(changes)
        return {k: v for k, v in args.items() if v not in ("", None)}

    def url(self, **changes: Any) -> str:
        return url_for(request.endpoint or "", **(request.view_args or {}),
                       **self.query_args(**changes))

    @property
    def base_url(self) -> str:
        return url_for(request.endpoint or "", **(request.view_args or {}))

    def sort_url(self, column: Column) -> str:
        desc = not self.params.desc if column.key == self.params.sort else column.desc_first
        return self.url(sort=column.key, dir="desc" if desc else "asc", page=None)

    def aria_sort(self, column: Column) -> str | None:
        if column.key != self.params.sort:
            return None
        return "descending" if self.params.desc else "ascending"

    def page_url(self, number: int) -> str:
        return self.url(page=number if number > 1 else None)

    @property
    def next_url(self) -> str:
        """The next page: by the keyset of this page's last row when the sort allows it
        (a deep page read from the sort's index), else by its number."""
        if self.following is None:
            return self.page_url(self.page + 1)
        return self.url(page=self.page + 1, cursor=encode_cursor(self.params, self.following))

    def tab_url(self, value: str) -> str:
        f = self.tab_filter
        if f is None:
            return self.url(page=None)
        return self.url(**{f.name: value if value != f.default else "", "page": None})

    @property
    def export_url(self) -> str:
        return self.url(export="xlsx", page=None)

    @property
    def window(self) -> list[int | None]:
        """The page numbers to link: the first, the last, two either side of this one;
        None where numbers are left out."""
        last = self.page + (2 if self.has_next else 0) if self.capped else self.pages
        shown = sorted({1, last, *range(max(1, self.page - 2), min(last, self.page + 2) + 1)})
        out: list[int | None] = []
        for n in shown:
            if out and n - (out[-1] or 0) > 1:
                out.append(None)
            out.append(n)
        if self.capped and self.has_next:
            out.append(None)  # how many pages follow is not counted
        return out

    def state(self) -> list[tuple[str, str]]:
        """What the search form carries besides its fields: the sort and the tab."""
        out = []
        if self.params.sort != self.spec.default_sort or \
                self.params.desc != self.spec.default_desc:
            out += [("sort", self.params.sort), ("dir", "desc" if self.params.desc else "asc")]
        f = self.tab_filter
        if f is not None and self.value(f.name) and self.value(f.name) != f.default:
            out.append((f.name, self.value(f.name)))
        return out


def run(spec: ListSpec, user: Any, p: Params, base: sa.Select[Any] | None = None, *,
        keep_within: bool = True, keyset: bool = False,
        start: Sequence[Any] | None = None, also: Any = None) -> Listing:
    """The page asked for: its rows (loaded with what they show), the total and the
    number of pages; the page number kept within them (``keep_within``: a page past the
    last shows the last, as a page link would; the API answers it empty instead).

    ``keyset`` (the API): also the sort values of the page's last row when more rows
    follow (``Listing.following``, what a ``cursor`` carries); ``start``: the rows after
    those values rather than the page's offset (a deep page read from an index, not
    counted through). ``also``: a condition, the number of the list's rows (on every
    page) that meet it counted with them (``Listing.also``; a list without tabs; None past the cap).

    A search's rows are counted up to ``COUNT_CAP`` (``Listing.capped``)."""
    # The tabs' counts (every other filter applied, grouped by the tab's column) give the
    # total too: the chosen tab's count, or with none chosen their sum; one count of a
    # million tranches the fewer.
    cap = COUNT_CAP if p.terms else None
    tabs, total_of_tabs = _tabs(spec, user, p, base, cap)
    meeting: int | None = None
    if total_of_tabs is not None:
        total = total_of_tabs
    elif also is not None:
        total, meeting = count_also(spec, filtered(spec, user, p, base), also, cap)
    else:
        total = count(spec, filtered(spec, user, p, base), cap)
    capped = cap is not None and total > cap
    total = min(total, cap) if cap is not None else total
    pages = max(1, math.ceil(total / p.per_page))
    # A page past the last shows the last; past a count that stopped, it is read as asked.
    page = min(p.page, pages) if keep_within and not capped else p.page
    p.page = page
    query = filtered(spec, user, p, base, for_sort=True, frequent=capped)
    keys = sort_keys(spec, p) if keyset or start is not None else None
    following: list[Any] | None = None
    offset = (page - 1) * p.per_page
    # A search matching few rows: those rows found first, then ordered (see ``_ordered``).
    few = bool(p.terms) and not capped and total <= FEW
    # A page in the back half is read from the end, in the opposite order (the same rows,
    # mirrored: the id breaks every tie), so that the last page costs what the first does
    # rather than counting through a million rows.
    back = not few and not capped and start is None and offset > total // 2 and offset < total
    if not total:
        keyed: Sequence[Any] = []  # nothing to read (a search that matched none)
    elif back:
        wanted = min(p.per_page, total - offset)
        keyed = db.session.execute(_ordered(spec, p, query, few, reverse=True)
                                   .limit(wanted).offset(total - offset - wanted)).all()[::-1]
    else:
        if start is not None and keys is not None:
            query = query.where(after(keys, start, p.desc))
        # One row more than the page: whether more follow (a cursor's, or a count that
        # stopped).
        wanted = p.per_page + (1 if keys is not None or capped else 0)
        keyed = db.session.execute(_ordered(spec, p, query, few).limit(wanted).offset(
            0 if start is not None else offset)).all()
    more = len(keyed) > p.per_page if not back else offset + wanted < total
    keyed = keyed[:p.per_page]
    if keys is not None and keyed and more:
        following = list(keyed[-1])
    ids = [r[-1] for r in keyed]
    rows: list[Any] = []
    if ids:
        found = {sa.inspect(r).identity[0]: r for r in db.session.scalars(
            sa.select(spec.model).where(id_column(spec).in_(ids)).options(*spec.load))}
        rows = [found[i] for i in ids if i in found]
    listing = Listing(spec, user, p, rows, total, page, pages)
    listing.following = following
    listing.tabs = tabs
    listing.capped = capped
    listing.more = more
    listing.also = meeting
    return listing


# A search that matches at most this many rows has them found first (by the search's
# indexes), then ordered: walking the sort's index until a page of them turns up would
# read a million rows for a word that matches none.
FEW = 5000


def _ordered(spec: ListSpec, p: Params, query: sa.Select[Any], few: bool,
             reverse: bool = False) -> sa.Select[Any]:
    """``query``'s rows as their sort values and id (the keyset), in the list's order
    (``reverse``: the other way round). ``few``: the rows are selected in a subquery
    that the database plans alone (``OFFSET 0``: it does not merge it into the ordered
    query), so that it finds them from the search's indexes, and only they are sorted."""
    column = spec.column(p.sort)
    exprs = [*(column.sort if column is not None else ()), id_column(spec)]
    if not few:
        return query.with_only_columns(*exprs).order_by(*order_by(spec, p, reverse=reverse))
    found = query.with_only_columns(*(e.label(f"k{i}") for i, e in enumerate(exprs))) \
        .order_by(None).offset(0).subquery()
    keys = list(found.c)
    return sa.select(*keys).order_by(*(k.desc() if p.desc != reverse else k.asc()
                                       for k in keys))


def _tabs(spec: ListSpec, user: Any, p: Params, base: sa.Select[Any] | None,
          cap: int | None = None) -> tuple[list[Tab], int | None]:
    """The tabs with their counts, and the number of rows the list holds with the tab
    chosen (None without tabs). ``cap``: the first ``cap + 1`` rows are grouped; when
    there are more, the tabs are not counted and the chosen tab's rows are, up to
    ``cap + 1`` (as ``count`` does)."""
    f = next((f for f in spec.filters if f.tabs and f.shown(user)), None)
    if f is None:
        return [], None
    query = filtered(spec, user, p, base, skip=f.name)
    for name in f.joins:
        query = spec.joins[name](query)
    if cap is None:
        grouped = query.with_only_columns(f.group, sa.func.count(id_column(spec))) \
            .group_by(f.group).order_by(None)
    else:
        first = query.with_only_columns(f.group.label("tab")).order_by(None) \
            .limit(cap + 1).subquery()
        grouped = sa.select(first.c.tab, sa.func.count()).group_by(first.c.tab)
    counts: dict[str, int] = {}
    for value, n in db.session.execute(grouped):
        counts[str(getattr(value, "value", value))] = n
    chosen = p.filters.get(f.name, "")
    options = f.options(user)
    if cap is not None and sum(counts.values()) > cap:
        total = count(spec, filtered(spec, user, p, base), cap) if chosen else cap + 1
        return [Tab(v, label, None, v == chosen) for v, label in options], total
    total = counts.get(chosen, 0) if chosen else sum(counts.values())
    return [Tab(v, label, counts.get(v, 0), v == chosen) for v, label in options], total


# ---- the answer --------------------------------------------------------------------------

def _first_arg(name: str) -> str:
    value = request.args.get(name, "")
    return value if isinstance(value, str) else ""


def wants_region(listing_id: str) -> bool:
    """An htmx request for the list region alone (a history restore wants the page)."""
    headers = request.headers
    return (headers.get("HX-Request") == "true"
            and headers.get("HX-History-Restore-Request") != "true"
            and headers.get("HX-Target") == listing_id)


def render_block(template: str, block: str, **context: Any) -> str:
    """One block of a page template, with the context a whole page would get."""
    app = current_app
    app.update_template_context(context)
    tmpl = app.jinja_env.get_template(template)
    return "".join(tmpl.blocks[block](tmpl.new_context(context)))


def respond(spec: ListSpec, template: str, *, user: Any, base: sa.Select[Any] | None = None,
            context: Callable[[Listing], Mapping[str, Any]] | None = None,
            also: Any = None, **extra: Any) -> WResponse | str:
    """The list page, its list region alone (htmx), or its Excel export (``export=xlsx``);
    ``also``: as ``run`` takes it, for ``context`` to read."""
    if request.args.get("export") == "xlsx":
        try:
            return export(spec, user, parse(spec, user, request.args), base)
        except TooMany as err:
            flash(err.message, "error")
            p = parse(spec, user, request.args)
            return redirect(Listing(spec, user, p, [], err.total, 1, 1).url(page=None))
    p = parse(spec, user, request.args)
    start = None
    raw = _first_arg("cursor")
    if raw and p.page > 1:
        try:
            start = decode_cursor(spec, p, raw)
        except Invalid:
            start = None  # a page never answers an error: the page by its number
    listing = run(spec, user, p, base, keyset=True, start=start, also=also)
    page_context = {"l": listing, **extra, **(context(listing) if context else {})}
    if wants_region(listing.id):
        listing.partial = True
        resp = Response(render_block(template, "list", **page_context), mimetype="text/html")
    else:
        resp = Response(render_template(template, **page_context), mimetype="text/html")
    resp.vary.add("HX-Request")
    return resp


# ---- the export --------------------------------------------------------------------------

def _text(value: Any) -> str:
    return _ILLEGAL.sub("", str(value))


def cell_value(kind: str, value: Any) -> Any:
    """A value as the export writes it."""
    if value is None or value == "":
        return None
    if kind == "wan":
        # Exact (a yuan amount is a whole number of 0.000001 万元): shown with two
        # decimals, more only when the amount has yuan or fen below 100 元.
        return Decimal(str(value)) / WAN
    if kind == "datetime" and isinstance(value, datetime):
        return value.astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0)
    if kind in ("date", "int", "number") and isinstance(value, date | int | float | Decimal):
        return value
    return _text(value)


WAN_FORMAT = "#,##0.00####"
FORMATS = {"wan": WAN_FORMAT, "datetime": "yyyy-mm-dd hh:mm", "date": "yyyy-mm-dd",
           "number": "0.00"}


def rows_for_export(spec: ListSpec, user: Any, p: Params,
                    base: sa.Select[Any] | None = None) -> Iterator[Any]:
    """Every filtered row in the list's order, fetched in batches and let go of after
    each batch (the session would otherwise keep them all)."""
    query = filtered(spec, user, p, base, for_sort=True).order_by(*order_by(spec, p)) \
        .options(*spec.load).execution_options(yield_per=EXPORT_BATCH)
    result = db.session.scalars(query)
    for batch in result.partitions():
        yield from batch
        for row in batch:
            db.session.expunge(row)


class TooMany(Invalid):
    """More rows than one export holds: the page says so, the API answers 422."""

    def __init__(self, total: int) -> None:
        super().__init__(f"符合条件的有 {total:,} 条，超过单次导出上限 {EXPORT_MAX:,} 条，"
                         "请增加筛选条件后再导出", code="too_many_rows",
                         details={"total": total, "max": EXPORT_MAX})
        self.total = total


def export(spec: ListSpec, user: Any, p: Params,
           base: sa.Select[Any] | None = None) -> Response:
    """The filtered rows as an Excel file (``TooMany`` past ``EXPORT_MAX``)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    total = count(spec, filtered(spec, user, p, base))
    if total > EXPORT_MAX:
        raise TooMany(total)
    fields = [f for f in spec.export if f.shown(user)]
    book = Workbook(write_only=True)
    book.properties.creator = "kjflow"
    sheet = book.create_sheet(spec.title[:31])
    for i, f in enumerate(fields, 1):
        sheet.column_dimensions[get_column_letter(i)].width = f.width
    sheet.freeze_panes = "A2"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")

    def header(label: str) -> WriteOnlyCell:
        c = WriteOnlyCell(sheet, value=label)
        c.font, c.fill = bold, fill
        return c

    sheet.append([header(f.label) for f in fields])
    # One styled cell per format, copied: cheaper than setting the format on each cell.
    styled = {kind: WriteOnlyCell(sheet, value=0) for kind in FORMATS}
    for kind, c in styled.items():
        c.number_format = FORMATS[kind]
    kinds = [f.kind for f in fields]
    for row in rows_for_export(spec, user, p, base):
        cells: list[Any] = []
        for f, kind in zip(fields, kinds, strict=True):
            value = cell_value(kind, f.value(row))
            if isinstance(value, str):
                if value.startswith("="):
                    c = WriteOnlyCell(sheet, value=value)
                    c.data_type = "s"  # "=…" stays text, never a formula
                    value = c
            elif value is not None and kind in styled:
                c = WriteOnlyCell(sheet, value=value)
                c._style = copy(styled[kind]._style)
                value = c
            cells.append(value)
        sheet.append(cells)
    if spec.extra_sheets is not None:
        spec.extra_sheets(book, Listing(spec, user, p, [], total, 1, 1))
    out = tempfile.TemporaryFile()  # noqa: SIM115 (send_file closes it when sent)
    book.save(out)
    out.seek(0)
    stamp = datetime.now(SHANGHAI).strftime("%Y%m%d-%H%M")
    return send_file(out, mimetype=XLSX, as_attachment=True,
                     download_name=f"{spec.title}-{stamp}.xlsx", max_age=0)


# ---- the API -----------------------------------------------------------------------------

# Characters of a cursor: base64 of the sort values, a 200-character Chinese title (600
# bytes) and the id among them.
CURSOR_MAX = 1200


def _cursor_value(value: Any) -> Any:
    if isinstance(value, datetime | date | Decimal):
        raise TypeError(value)  # not a keyset column (see Column.keyset)
    return getattr(value, "value", value)  # an enum as its code


def encode_cursor(p: Params, values: Sequence[Any]) -> str:
    """The opaque ``cursor`` of the rows after ``values`` under the sort of ``p``."""
    raw = json.dumps({"s": p.sort, "d": "desc" if p.desc else "asc",
                      "k": [_cursor_value(v) for v in values]},
                     ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(spec: ListSpec, p: Params, raw: str) -> list[Any]:
    """The sort values a ``cursor`` carries, checked against the sort asked for (its
    number and types of values): ``Invalid`` (422) when it is not one this list gave."""
    def bad(message: str) -> Invalid:
        return Invalid("cursor 无效", details={"cursor": message})

    keys = sort_keys(spec, p)
    if keys is None:
        raise bad("此排序不支持 cursor 翻页，请使用 page")
    if len(raw) > CURSOR_MAX:
        raise bad("过长")
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError):
        raise bad("无法解析，请使用上一页答复中 next 给出的链接") from None
    if not isinstance(data, dict) or not isinstance(data.get("k"), list):
        raise bad("无法解析，请使用上一页答复中 next 给出的链接")
    if data.get("s") != p.sort or data.get("d") != ("desc" if p.desc else "asc"):
        raise bad("与 sort、dir 不符：翻页时请保持排序不变")
    values = data["k"]
    if len(values) != len(keys):
        raise bad("与排序不符")
    for key, value in zip(keys, values, strict=True):
        try:
            expected = key.type.python_type
        except NotImplementedError:
            expected = str
        if issubclass(expected, enum.Enum):
            expected = str
        if isinstance(value, bool) or not isinstance(value, expected) or (
                isinstance(value, int) and not -2**63 <= value < 2**63):
            raise bad("与排序不符")
    return values


def api_page(spec: ListSpec, user: Any, items: Callable[[list[Any]], list[Any]],
             base: sa.Select[Any] | None = None, **extra: Any) -> Response:
    """A list endpoint: the page's rows as ``items`` writes them, with the total, or (with
    ``export=xlsx``) the page's Excel export of every filtered row.

    Deep pages by keyset: ``next`` is the link to the rows after this page's (a
    ``cursor`` of the last row's sort values, the other parameters kept), which reads
    them from the sort's index instead of counting through the rows before them as a
    ``page`` number does; null on the last page, or under a sort it cannot follow."""
    p = checked(spec, user, request.args)
    if request.args.get("export") == "xlsx":
        return export(spec, user, p, base)
    raw = request.args.get("cursor", "")
    start = decode_cursor(spec, p, raw) if raw else None
    listing = run(spec, user, p, base, keep_within=False, keyset=True, start=start)
    following = None
    if listing.following is not None:
        args: dict[str, Any] = {k: v for k, v in request.args.items()
                                if k not in ("page", "cursor")}
        # The page number rides along, for the answer to say which page it is (as far as
        # page numbers go: a cursor itself goes on without end).
        if listing.page < MAX_PAGE:
            args["page"] = listing.page + 1
        args["cursor"] = encode_cursor(p, listing.following)
        following = url_for(request.endpoint or "", **(request.view_args or {}), **args)
    body = {"items": items(listing.rows), "total": listing.total, "page": listing.page,
            "per_page": p.per_page, "pages": None if listing.capped else listing.pages,
            "total_capped": listing.capped,
            "sort": p.sort or None, "dir": "desc" if p.desc else "asc", "next": following,
            **extra}
    return jsonify(body)


def api_params(spec: ListSpec) -> dict[str, Any]:
    """The OpenAPI parameters of ``api_page`` over ``spec``."""
    out: dict[str, Any] = {}
    if spec.search:
        out["q"] = {"type": "string", "maxLength": MAX_QUERY,
                    "description": f"关键词（{spec.search_hint or '多个词以空格分隔'}），"
                                   f"每个词都须出现，最多 {MAX_TERMS} 个词"}
    for f in spec.filters:
        schema: dict[str, Any] = {"type": "string", "description": f.label}
        if f.find is not None:
            schema["description"] = f"{f.label}：{f.placeholder or f.label}"
        elif not callable(f.choices):
            schema["enum"] = [v for v, _ in f.choices]
            schema["description"] = f.label + "：" + "，".join(
                f"{v}={label}" for v, label in f.choices)
        out[f.name] = schema
    sortable = [c for c in spec.columns if c.sortable]
    if sortable:
        out["sort"] = {"type": "string", "enum": [c.key for c in sortable],
                       "description": "排序：" + "，".join(f"{c.key}={c.label}"
                                                         for c in sortable)}
        out["dir"] = {"type": "string", "enum": ["asc", "desc"], "description": "升序或降序"}
    out["page"] = {"type": "integer", "minimum": 1, "description": "页码，从1开始"}
    out["cursor"] = {"type": "string", "maxLength": CURSOR_MAX, "pattern": "^[A-Za-z0-9_-]*$",
                     "description": "翻到深页：上一页答复中 next 链接所带的游标（不透明；"
                                    "翻页时 q、筛选和排序须不变）。按游标取其后的记录，"
                                    "不逐行数过前面的记录；此时 page 只是所报的页码"}
    out["per_page"] = {"type": "integer", "minimum": 1, "maximum": API_MAX_PER_PAGE,
                       "description": f"每页条数，默认 {API_PER_PAGE}，最多 {API_MAX_PER_PAGE}"}
    out["export"] = {"type": "string", "enum": ["xlsx"],
                     "description": "xlsx：以 Excel 导出全部符合条件的记录（与页面导出相同），"
                                    f"最多 {EXPORT_MAX:,} 条"}
    return out
