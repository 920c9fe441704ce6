"""The money lists on PostgreSQL at national scale (issue 19): the finance queue's tabs,
the reconciliation, a call's ledger (its first and last page) and the API lists, each a
whole request through the app with its statements counted.

Seeded on top of bench/lists.py's applications (1,000,000 by default): the funded ones
(approved, in progress: about a quarter) get two tranches each (the first mostly
released, else due, prepared, approved, on hold or cancelled; the second planned), and
every call a consistent ledger (its allocation, a commitment per funded project, a
disbursement per released tranche, the balances after each entry computed by window
sums), all in SQL; then VACUUM ANALYZE.

Prints, for each URL, the median milliseconds over RUNS requests and the statements of
one request (target: <= 300 ms, <= 20 statements).

    .venv/bin/python bench/finance.py [--quick] [--applications N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

# Run from the repo root: the benchmark's own directory must not shadow packages.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench._common import bench_line, build_schema, db_app, fresh_database, median  # noqa: E402
from bench.lists import logged_in, seed  # noqa: E402

RUNS = 5
TRANCHES_SQL = """
UPDATE organization SET bank_name = '中国银行赣州分行',
    bank_account = '6216' || lpad(id::text, 12, '0');
INSERT INTO tranche (application_id, seq, label, amount, condition, state, version,
                     payment_ref, released_at, payee_name, payee_bank, payee_account,
                     created_at, audit_seq)
SELECT a.id, s.n, '第' || s.n || '笔', 250000.00, 'contract', st.state, 1,
       CASE WHEN st.state = 'released' THEN 'ZF' || a.id || '-' || s.n END,
       CASE WHEN st.state = 'released' THEN a.approved_at + interval '30 days' END,
       CASE WHEN st.state IN ('prepared', 'approved', 'released') THEN o.name END,
       CASE WHEN st.state IN ('prepared', 'approved', 'released') THEN o.bank_name END,
       CASE WHEN st.state IN ('prepared', 'approved', 'released') THEN o.bank_account END,
       a.created_at, 0
FROM application a JOIN organization o ON o.id = a.organization_id
CROSS JOIN generate_series(1, 2) AS s(n)
CROSS JOIN LATERAL (SELECT CASE
    WHEN s.n = 2 THEN 'planned'
    WHEN a.id % 100 < 70 THEN 'released'
    WHEN a.id % 100 < 82 THEN 'due'
    WHEN a.id % 100 < 88 THEN 'prepared'
    WHEN a.id % 100 < 93 THEN 'approved'
    WHEN a.id % 100 < 96 THEN 'on_hold'
    ELSE 'cancelled' END AS state) st
WHERE a.granted_amount IS NOT NULL;
UPDATE call SET budget = coalesce((SELECT sum(granted_amount) FROM application a
                                   WHERE a.call_id = call.id), 0) + 100000000;
INSERT INTO ledger_entry (call_id, seq, kind, amount, application_id, tranche_id, ref, memo,
                          at, available_after, committed_after, disbursed_after)
WITH ev AS (
    SELECT c.id AS call_id, 0 AS ord, 'allocation' AS kind, c.budget AS amount,
           NULL::int AS app_id, NULL::int AS tranche_id FROM call c
    UNION ALL
    SELECT a.call_id, 1, 'commitment', a.granted_amount, a.id, NULL FROM application a
    WHERE a.granted_amount IS NOT NULL
    UNION ALL
    SELECT a.call_id, 2, 'disbursement', t.amount, a.id, t.id FROM tranche t
    JOIN application a ON a.id = t.application_id WHERE t.state = 'released')
SELECT call_id, row_number() OVER w, kind, amount, app_id, tranche_id, '', '', now(),
       sum(CASE kind WHEN 'allocation' THEN amount WHEN 'commitment' THEN -amount
           ELSE 0 END) OVER w,
       sum(CASE kind WHEN 'commitment' THEN amount WHEN 'disbursement' THEN -amount
           ELSE 0 END) OVER w,
       sum(CASE kind WHEN 'disbursement' THEN amount ELSE 0 END) OVER w
FROM ev WINDOW w AS (PARTITION BY call_id ORDER BY ord, app_id, tranche_id
                     ROWS UNBOUNDED PRECEDING);
INSERT INTO user_account (username, name, password_hash, active, email_reminders,
                          must_change_password, created_at, audit_seq)
SELECT 'finance', '会计', password_hash, true, true, false, now(), 0
FROM user_account WHERE username = 'officer';
INSERT INTO user_role (user_id, role) SELECT id, 'finance' FROM user_account
WHERE username = 'finance';
"""


def seed_money(url: str) -> dict[str, Any]:
    import psycopg

    began = time.perf_counter()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        for statement in TRANCHES_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("VACUUM ANALYZE")
        tranches = conn.execute("SELECT count(*) FROM tranche").fetchone()[0]
        entries = conn.execute("SELECT count(*) FROM ledger_entry").fetchone()[0]
        call, most = conn.execute("SELECT call_id, count(*) FROM ledger_entry GROUP BY call_id "
                                  "ORDER BY 2 DESC LIMIT 1").fetchone()
    print(f"  {tranches:,} tranches, {entries:,} ledger entries ({most:,} in call {call}) "
          f"in {time.perf_counter() - began:.1f} s")
    return {"call": call, "entries": most}


def measure(client: Any, url: str, headers: dict[str, str] | None = None
            ) -> tuple[float, int]:
    from tests.statements import Statements

    times = []
    for i in range(RUNS + 1):
        start = time.perf_counter()
        resp = client.get(url, headers=headers or {})
        elapsed = time.perf_counter() - start
        assert resp.status_code == 200, (url, resp.status_code, resp.get_data()[:300])
        if i:
            times.append(elapsed * 1000)
    with Statements() as seen:
        client.get(url, headers=headers or {})
    return median(times), len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 applications")
    opts = parser.parse_args()
    if opts.quick:
        opts.applications = 20_000
    url = fresh_database()
    build_schema(url)
    seed(url, opts.applications, 1_000)
    world = seed_money(url)
    app = db_app(url)
    from bench.lists import PASSWORD

    client = logged_in(app, "finance")
    token = client.post("/api/v1/auth/token", json={"username": "finance",
                                                    "password": PASSWORD}).get_json()["token"]
    api = {"Authorization": f"Bearer {token}"}
    call = world["call"]
    last = -(-world["entries"] // 20)
    pages = ["/finance", "/finance?state=released", "/finance?state=prepared",
             "/finance?state=planned", "/finance?state=released&page=5000",
             "/finance?q=GZKJ-2024", "/finance?sort=amount&dir=desc",
             "/finance/reconcile", f"/calls/{call}/ledger", f"/calls/{call}/ledger?page={last}",
             "/recoveries", "/sanction-reviews"]
    apis = ["/api/v1/tranches", "/api/v1/tranches?state=due", "/api/v1/finance/reconciliation",
            f"/api/v1/budgets/{call}/ledger", f"/api/v1/budgets/{call}/ledger?dir=desc",
            f"/api/v1/budgets/{call}/ledger?after={world['entries'] - 50}",
            "/api/v1/recoveries", "/api/v1/sanction-reviews"]
    figures: dict[str, float] = {}
    with app.app_context():
        for path in pages:
            ms, n = measure(client, path)
            print(f"{ms:8.1f} ms {n:3d} statements  {path}")
            figures[path] = ms
        for path in apis:
            ms, n = measure(client, path, api)
            print(f"{ms:8.1f} ms {n:3d} statements  {path}")
            figures[path] = ms
    print(bench_line("finance", worst_ms=round(max(figures.values()), 1),
                     queue_ms=round(figures["/finance"], 1),
                     released_ms=round(figures["/finance?state=released"], 1),
                     reconcile_ms=round(figures["/finance/reconcile"], 1)))


if __name__ == "__main__":
    main()
