"""The list pages on PostgreSQL (workflow/web/listing.py): 100,000 applications, the first
page against a deep one, and an Excel export of 10,000 rows.

Seeded with COPY: 300 organisations, 3,000 researchers, 10 calls and 100,000 applications
with Chinese titles, in the states a year's work leaves them in; one call holds exactly
10,000 of them, for the export. Then VACUUM ANALYZE, as autovacuum would soon after.

Each figure is the median wall time of a whole request through the app (the Flask test
client, logged in as the officer who sees every application, or as a researcher who
sees one organisation's): the count, the page's ids, its rows, the template.

- ``first_ms``/``deep_ms``: /applications in its default order (newest first), page 1
  and the last page (5,000 of 20 rows); ``deep_first_ratio`` their ratio (target <= 3);
- ``title_first_ms``/``title_deep_ms``: sorted by 项目名称, page 1 and the last page;
- ``state_deep_ms``: 形式审查 only, by 提交时间, its last page;
- ``search_ms``: a two-character Chinese word matched in titles, organisations, names;
- ``researcher_deep_ms``: a researcher's own organisation's list, its last page;
- ``api_offset_deep_ms``/``api_cursor_deep_ms``: /api/v1/applications' last page (100 a
  page) by ``page`` (OFFSET) and by the ``next`` cursor of the page before (keyset);
- ``export_s``: /applications?call=…&export=xlsx, 10,000 rows read back and counted;
  ``export_rss_mb``: what the process grew by while exporting.

The plan of the deep page's id query (EXPLAIN ANALYZE) is printed: an index scan, no sort.

    .venv/bin/python bench/lists.py [--quick]

``--quick`` seeds 20,000 applications, exports 5,000 of them once and repeats each page
request 3 times instead of 7.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run from the repo root: the benchmark's own directory must not shadow packages.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench._common import (  # noqa: E402
    bench_line,
    build_schema,
    db_app,
    fresh_database,
    median,
    rss_mb,
)

APPLICATIONS = 100_000
EXPORT_ROWS = 10_000
ORGS, PEOPLE, CALLS = 300, 3_000, 10
PASSWORD = "bench-password-123"  # noqa: S105
PER_PAGE = 20

PLACES = ["赣州", "南康", "赣县", "信丰", "大余", "上犹", "崇义", "安远", "龙南", "定南", "全南",
          "宁都", "于都", "兴国", "会昌", "寻乌", "石城", "瑞金"]
KINDS = ["稀土新材料有限公司", "科技大学", "农业科学研究院", "医科大学", "钨业集团有限公司",
         "电机制造有限公司", "林业科学研究所", "职业技术学院", "生物科技有限公司"]
SUBJECTS = ["稀土", "钨", "脐橙", "油茶", "永磁电机", "新能源汽车", "锂电池", "生物医药",
            "富硒农业", "家具", "人工智能", "工业互联网", "中药材", "竹木", "矿山生态", "废水处理"]
VERBS = ["绿色高效", "低成本", "智能化", "高性能", "短流程", "精准", "全产业链", "高值化"]
TAILS = ["关键技术研究", "工艺开发与示范", "集成与推广", "应用基础研究", "装备研制",
         "产业化示范", "标准体系建设"]
SURNAMES = "李王张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "明芳伟丽强敏静磊军洋勇艳杰娟涛超秀霞平刚桂英华建国文斌辉红"
STATES = (["draft"] * 10 + ["formal_review"] * 12 + ["expert_review"] * 20 + ["reviewed"] * 8
          + ["not_funded"] * 25 + ["approved"] * 5 + ["in_progress"] * 20)


def seed(url: str, applications: int, export_rows: int) -> dict[str, Any]:
    """Organisations, people and calls through the ORM; the applications by COPY."""
    import psycopg
    from werkzeug.security import generate_password_hash

    from states import CallState
    from workflow.accounts.models import Organization, OrgKind, User, UserRole
    from workflow.calls.models import Call, Scheme
    from workflow.core.models import db

    rng = random.Random(20261215)
    began = time.perf_counter()
    app = db_app(url)
    digest = generate_password_hash(PASSWORD)
    with app.app_context():
        orgs = [Organization(name=f"{PLACES[i % len(PLACES)]}{KINDS[i % len(KINDS)]}{i:03d}",
                             uscc=f"91360700B{i:08d}X", kind=OrgKind.enterprise)
                for i in range(ORGS)]
        db.session.add_all(orgs)
        db.session.flush()
        people = [User(username=f"r{i:05d}", password_hash=digest,
                       name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                       organization_id=orgs[i % ORGS].id, role_rows=[UserRole(role="applicant")])
                  for i in range(PEOPLE)]
        officer = User(username="officer", name="张科长", password_hash=digest,
                       role_rows=[UserRole(role="officer")])
        db.session.add_all([*people, officer])
        now = datetime.now(UTC)
        calls = [Call(scheme=Scheme.baogan if i % 2 else Scheme.jiebang, year=2021 + i % 6,
                      title=f"{2021 + i % 6}年度市科技计划第{i + 1}批", state=CallState.decided,
                      opens_at=now - timedelta(days=400 - i), closes_at=now - timedelta(300 - i),
                      budget=100_000_000) for i in range(CALLS)]
        db.session.add_all(calls)
        db.session.commit()
        print(f"  organisations, people and calls: {time.perf_counter() - began:.1f} s")
        org_ids = [o.id for o in orgs]
        person = [(p.id, p.organization_id) for p in people]
        call_ids = [c.id for c in calls]
        researcher = people[0].username
        researcher_org = people[0].organization_id
        db.engine.dispose()

    start = datetime(2021, 1, 1, tzinfo=UTC)
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        with conn.cursor() as cur, cur.copy(
                "COPY application (call_id, applicant_id, organization_id, title, state, version, "
                "data, receipt_no, project_number, submitted_at, granted_amount, disbursed, "
                "approved_at, created_at, updated_at, form_version, round, audit_seq) "
                "FROM STDIN") as copy:
            for n in range(applications):
                # The first export_rows go to the export's call; the rest spread over all.
                call_id = call_ids[0] if n < export_rows else call_ids[1 + n % (CALLS - 1)]
                applicant_id, _org = person[rng.randrange(PEOPLE)]
                state = rng.choice(STATES)
                created = start + timedelta(minutes=n * 15 + rng.randrange(10))
                submitted = None if state == "draft" else created + timedelta(days=3)
                funded = state in ("approved", "in_progress")
                title = (f"{rng.choice(SUBJECTS)}{rng.choice(VERBS)}{rng.choice(TAILS)}"
                         f"（{n:06d}）")
                copy.write_row((
                    call_id, applicant_id, _org, title, state, 1,
                    '{"summary": "基准数据", "amount": "500000.00"}',
                    f"SB{created.year}{n:08d}" if submitted else None,
                    f"GZKJ-{created.year}-BG-{n:06d}" if funded else None, submitted,
                    "500000.00" if funded else None, "0", submitted if funded else None,
                    created, created, 1, 1 if submitted else 0, 0))
        conn.commit()
    print(f"  applications by COPY: {time.perf_counter() - began:.1f} s")
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE application")
        conn.execute("ANALYZE")
    print(f"  VACUUM ANALYZE: {time.perf_counter() - began:.1f} s")
    return {"orgs": org_ids, "export_call": call_ids[0], "researcher": researcher,
            "researcher_org": researcher_org}


def logged_in(app: Any, username: str) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    resp = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


def timed(client: Any, urls: dict[str, tuple[str, str | None]], runs: int
          ) -> dict[str, list[float]]:
    """Milliseconds of each GET, the urls taken in turn in each round, forwards and
    backwards in turn (the machine's load drifts: a ratio is taken within a round), after
    one uncounted round. ``urls``: name
    -> (url, a text the page must hold)."""
    times: dict[str, list[float]] = {name: [] for name in urls}
    for i in range(runs + 1):
        order = list(urls.items())
        for name, (url, expect) in order if i % 2 else order[::-1]:
            start = time.perf_counter()
            resp = client.get(url)
            elapsed = time.perf_counter() - start
            assert resp.status_code == 200, (url, resp.status_code)
            if i == 0 and expect is not None:
                assert expect in resp.get_data(as_text=True), (url, expect)
            if i:
                times[name].append(elapsed * 1000)
    return times


def api_deep(client: Any, count: int, runs: int) -> tuple[float, float]:
    """/api/v1/applications' last page (100 a page) by its page number (OFFSET) and by the
    ``next`` cursor of the page before it (keyset): the same rows, in milliseconds."""
    token = client.post("/api/v1/auth/token", json={"username": "officer",
                                                     "password": PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    last = -(-count // 100)
    before = client.get(f"/api/v1/applications?per_page=100&page={last - 1}",
                        headers=headers).get_json()
    urls = {"offset": f"/api/v1/applications?per_page=100&page={last}",
            "cursor": before["next"]}
    times: dict[str, list[float]] = {name: [] for name in urls}
    items: dict[str, list[int]] = {}
    for i in range(runs + 1):
        for name, url in urls.items():
            start = time.perf_counter()
            resp = client.get(url, headers=headers)
            elapsed = time.perf_counter() - start
            assert resp.status_code == 200, (url, resp.status_code)
            items[name] = [item["id"] for item in resp.get_json()["items"]]
            if i:
                times[name].append(elapsed * 1000)
    assert items["offset"] == items["cursor"] and items["cursor"], items
    return median(times["offset"]), median(times["cursor"])


def ratio_of(times: dict[str, list[float]], top: str, bottom: str) -> float:
    return median([a / b for a, b in zip(times[top], times[bottom], strict=True)])


def deep_plan(app: Any, officer_name: str) -> list[str]:
    """EXPLAIN ANALYZE of the last page's id query in the default order."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from workflow.accounts.models import User
    from workflow.applying.lists import APPLICATIONS as SPEC
    from workflow.core import listing
    from workflow.core.models import db

    with app.app_context():
        user = db.session.scalars(sa.select(User).where(User.username == officer_name)).one()
        p = listing.parse(SPEC, user, {})
        total = listing.count(SPEC, listing.filtered(SPEC, user, p))
        query = (listing.filtered(SPEC, user, p, for_sort=True)
                 .with_only_columns(sa.inspect(SPEC.model).primary_key[0])
                 .order_by(*listing.order_by(SPEC, p)).limit(PER_PAGE)
                 .offset(total - PER_PAGE))
        sql = str(query.compile(dialect=postgresql.dialect(),
                                compile_kwargs={"literal_binds": True}))
        rows = db.session.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars()
        plan = list(rows)
        db.session.remove()
        return plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    opts = parser.parse_args()
    count = 20_000 if opts.quick else APPLICATIONS
    export_rows = 5_000 if opts.quick else EXPORT_ROWS
    runs = 3 if opts.quick else 7
    url = fresh_database()
    build_schema(url)
    started = time.perf_counter()
    world = seed(url, count, export_rows)
    print(f"seeded {count:,} applications in {time.perf_counter() - started:.1f} s")

    app = db_app(url)
    officer = logged_in(app, "officer")
    last = -(-count // PER_PAGE)
    officer_times = timed(officer, {
        "first": ("/applications", f"共 <strong>{count}</strong> 条"),
        "deep": (f"/applications?page={last}", f"–{count} 条"),
        "title_first": ("/applications?sort=title&dir=asc", None),
        "title_deep": (f"/applications?sort=title&dir=asc&page={last}", f"–{count} 条"),
        "state_deep": ("/applications?state=formal_review&sort=submitted&dir=desc"
                       "&page=100000", None),
        "search": ("/applications?q=脐橙", None),
        "search_deep": ("/applications?q=脐橙&page=100000", None),
    }, runs)
    first_ms, deep_ms, title_first_ms, title_deep_ms, state_deep_ms, search_ms, \
        search_deep_ms = (median(officer_times[k]) for k in officer_times)
    ratio = ratio_of(officer_times, "deep", "first")
    title_ratio = ratio_of(officer_times, "title_deep", "title_first")
    api_offset_ms, api_cursor_ms = api_deep(officer, count, runs)
    researcher = logged_in(app, world["researcher"])
    researcher_times = timed(researcher, {"first": ("/applications", None),
                                          "deep": ("/applications?page=100000", None)}, runs)
    researcher_first_ms, researcher_deep_ms = (median(v) for v in researcher_times.values())

    rss_before = rss_mb()
    times = []
    rows = 0
    for _ in range(1 if opts.quick else 3):
        start = time.perf_counter()
        resp = officer.get(f"/applications?call={world['export_call']}&export=xlsx")
        data = resp.get_data()
        times.append(time.perf_counter() - start)
        assert resp.status_code == 200 and data[:2] == b"PK", resp.status_code
    export_s = median(times)
    export_rss = rss_mb() - rss_before
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    rows = sum(1 for _ in sheet.iter_rows(min_row=2, values_only=True))
    assert rows == export_rows, rows

    plan = deep_plan(app, "officer")
    print("deep page's id query (default order, last page):")
    for line in plan:
        print("   ", line)
    uses_index = any("Index" in line for line in plan) and not any(
        line.strip().startswith("Sort") or "-> Sort" in line for line in plan)

    print(f"/applications, {count:,} rows, {PER_PAGE} a page, median of {runs} rounds "
          "(each ratio within its round):")
    print(f"  newest first: page 1 {first_ms:.1f} ms, page {last:,} {deep_ms:.1f} ms "
          f"(deep/first {ratio:.2f}, target <= 3)")
    print(f"  by 项目名称:   page 1 {title_first_ms:.1f} ms, page {last:,} {title_deep_ms:.1f} ms "
          f"(deep/first {title_ratio:.2f})")
    print(f"  形式审查 by 提交时间, last page: {state_deep_ms:.1f} ms")
    print(f"  search 脐橙: page 1 {search_ms:.1f} ms, last page {search_deep_ms:.1f} ms")
    print(f"  API, last page of 100: by page number {api_offset_ms:.1f} ms, "
          f"by the next cursor {api_cursor_ms:.1f} ms")
    print(f"  a researcher's organisation: page 1 {researcher_first_ms:.1f} ms, "
          f"last page {researcher_deep_ms:.1f} ms")
    import openpyxl.xml

    print(f"export of {rows:,} rows: {export_s:.2f} s, {len(data) / 1024:.0f} KB, "
          f"process grew {export_rss:.1f} MB (openpyxl writing with "
          f"{'lxml' if openpyxl.xml.LXML else 'xml.etree'})")
    print(f"deep page by an index, no sort: {uses_index}")
    print(bench_line("lists", applications=count, first_ms=round(first_ms, 1),
                     deep_ms=round(deep_ms, 1), deep_first_ratio=round(ratio, 2),
                     title_first_ms=round(title_first_ms, 1),
                     title_deep_ms=round(title_deep_ms, 1),
                     title_deep_first_ratio=round(title_ratio, 2),
                     state_deep_ms=round(state_deep_ms, 1),
                     search_ms=round(search_ms, 1),
                     researcher_deep_ms=round(researcher_deep_ms, 1),
                     api_offset_deep_ms=round(api_offset_ms, 1),
                     api_cursor_deep_ms=round(api_cursor_ms, 1),
                     export_rows=rows, export_s=round(export_s, 2),
                     export_rss_mb=round(export_rss, 1), deep_by_index=uses_index))


if __name__ == "__main__":
    main()
