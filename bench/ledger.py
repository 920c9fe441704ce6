"""The budget ledger on PostgreSQL: tranche releases per second through engine.fire, and
the reconciliation report over 100,000 ledger entries.

Releases: the tranches are prepared by one finance user and approved by another
beforehand (untimed); only the ``release`` fires and their commits are timed, each
release as the API does it (lock and load the tranche, fire, commit). WORKERS processes
release tranches of different projects of the same call at once: every release appends
to that call's ledger under the call's row lock, so they queue there, which is the real
contention. The same on one process is printed too.

Reconciliation: 100,000 entries over 50 calls, written with COPY (their balances after
each entry computed here, so that the ledger is consistent), then ``ledger.reconcile()``
over every call, median of 3 (target <= 1 s); the report must say the ledgers agree.

    .venv/bin/python bench/ledger.py [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

# Run from the repo root: the benchmark's own directory must not shadow packages.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench._common import (  # noqa: E402
    bench_line,
    build_schema,
    db_app,
    fresh_database,
    median,
)

WORKERS = 4
WARMUP = 5  # releases per process before the clock starts
TRANCHES_PER_PROJECT = 10
GRANT = Decimal("1000000.00")  # 10 tranches of 100,000.00 each
ENTRIES = 100_000
CALLS = 50
CENT = Decimal("0.01")


# ---- releases ---------------------------------------------------------------------------

def seed_tranches(url: str, groups: list[int]) -> tuple[list[list[int]], int]:
    """One call, and for each group that many approved tranches on projects of its own
    (approved, contracted, prepared and approved through the engine). Returns the tranche
    ids of each group and the releasing finance user's id."""
    from states import ApplicationState, CallState
    from workflow.accounts.models import Organization, OrgKind, User, UserRole
    from workflow.applying.models import Application, SignedDocument, SigningParty
    from workflow.calls.models import Call, Scheme
    from workflow.core import engine
    from workflow.core.models import db, utcnow
    from workflow.finance.models import Tranche

    plan = [{"label": f"第{i}笔", "percent": 100 // TRANCHES_PER_PROJECT, "condition": "contract"}
            for i in range(1, TRANCHES_PER_PROJECT + 1)]
    projects = [-(-n // TRANCHES_PER_PROJECT) for n in groups]
    app = db_app(url)
    with app.app_context():
        org = Organization(name="基准单位", uscc="91360700MA35A0001P", kind=OrgKind.university,
                           bank_name="中国银行赣州分行", bank_account="6216610200016587010")
        people = {name: User(username=name, name=name, password_hash="!",  # noqa: S106
                             role_rows=[UserRole(role=role)])
                  for name, role in (("officer", "officer"), ("maker", "finance"),
                                     ("checker", "finance"))}
        call = Call(scheme=Scheme.baogan, year=2026, title="拨付基准", state=CallState.decided,
                    opens_at=utcnow() - timedelta(days=90), closes_at=utcnow() - timedelta(60),
                    budget=GRANT * sum(projects), tranche_plan=plan)
        db.session.add_all([org, call, *people.values()])
        db.session.commit()
        ids: list[list[int]] = []
        for group, n in enumerate(groups):
            rows = [Application(call_id=call.id, applicant_id=people["officer"].id,
                                organization_id=org.id, title=f"项目{group}-{i}",
                                state=ApplicationState.public_notice, granted_amount=GRANT,
                                notice_ends_at=utcnow() - timedelta(minutes=1), data={})
                    for i in range(projects[group])]
            for row in rows:  # the team and the demand side have signed the task book
                for party in (SigningParty.team, SigningParty.demand):
                    row.sign(SignedDocument.task_book, party, None, party.label, utcnow())
            db.session.add_all(rows)
            db.session.commit()
            tranche_ids: list[int] = []
            for row in rows:
                engine.fire(row, "approve", None)
                engine.fire(row, "sign_contract", people["officer"])
                db.session.commit()
                tranche_ids += db.session.scalars(db.select(Tranche.id).where(
                    Tranche.application_id == row.id).order_by(Tranche.seq))
            for tranche_id in tranche_ids[:n]:
                engine.fire(engine.load("tranche", tranche_id, lock=True), "prepare",
                            people["maker"])
                engine.fire(engine.load("tranche", tranche_id, lock=True), "approve",
                            people["checker"])
                db.session.commit()
            ids.append(tranche_ids[:n])
        checker_id = people["checker"].id
        db.engine.dispose()
    return ids, checker_id


def run_releases(args: tuple[str, list[int], int, mp.Barrier]) -> int:  # type: ignore[valid-type]
    url, tranche_ids, finance_id, barrier = args
    from workflow.accounts.models import User
    from workflow.core import engine
    from workflow.core.models import db

    app = db_app(url)
    done = 0
    with app.app_context():
        # Loaded once, as a request loads its user once; detached, so no commit expires it.
        actor = db.session.get(User, finance_id)
        assert actor is not None and actor.roles
        db.session.expunge(actor)
        db.session.commit()

        def release(tranche_id: int) -> None:
            tranche = engine.load("tranche", tranche_id, lock=True)
            engine.fire(tranche, "release", actor, data={"payment_ref": f"ZF-{tranche_id}"})
            db.session.commit()

        # Untimed: the first releases of a process compile and cache its statements.
        for tranche_id in tranche_ids[:WARMUP]:
            release(tranche_id)
        barrier.wait()  # type: ignore[attr-defined]
        for tranche_id in tranche_ids[WARMUP:]:
            release(tranche_id)
            done += 1
        db.engine.dispose()
    return done


def releases_per_s(url: str, groups: list[list[int]], finance_id: int) -> float:
    """Releases per second of one process per group, timed from the moment all are
    connected and ready."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(len(groups) + 1)
    results = ctx.Queue()

    def child(ids: list[int]) -> None:
        results.put(run_releases((url, ids, finance_id, barrier)))

    procs = [ctx.Process(target=child, args=(ids,)) for ids in groups]
    for p in procs:
        p.start()
    barrier.wait(timeout=300)
    start = time.perf_counter()
    total = sum(results.get(timeout=600) for _ in procs)
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
        assert p.exitcode == 0, f"a releasing process failed ({p.exitcode})"
    assert total == sum(len(ids) - WARMUP for ids in groups)
    return total / elapsed


def check_releases(url: str, tranche_ids: list[int]) -> tuple[bool, int]:
    """Every tranche released once, in the ledger once; the call's ledger reconciles."""
    import sqlalchemy as sa

    from states import TrancheState
    from workflow.core.models import db
    from workflow.finance import ledger
    from workflow.finance.models import EntryKind, LedgerEntry, Tranche

    app = db_app(url)
    with app.app_context():
        released = db.session.scalar(sa.select(sa.func.count(Tranche.id)).where(
            Tranche.id.in_(tranche_ids), Tranche.state == TrancheState.released))
        paid = db.session.scalar(sa.select(sa.func.count(LedgerEntry.id)).where(
            LedgerEntry.tranche_id.in_(tranche_ids),
            LedgerEntry.kind == EntryKind.disbursement))
        ok = released == paid == len(tranche_ids) and ledger.reconcile().ok
        entries = db.session.scalar(sa.select(sa.func.count(LedgerEntry.id))) or 0
        db.engine.dispose()
    return ok, entries


# ---- reconciliation ---------------------------------------------------------------------

def ledger_rows(call_id: int, count: int, rng: random.Random
                ) -> tuple[Decimal, list[tuple[object, ...]]]:
    """The budget and a consistent ledger of ``count`` entries: its allocation, then
    commitments, payments, cancellations, recoveries and surpluses that never take a
    balance below zero, each with the balances after it."""
    from workflow.finance.ledger import Balances
    from workflow.finance.models import EntryKind as K

    budget = Decimal(rng.randrange(50_000_000, 500_000_000)) * 100 * CENT
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[tuple[object, ...]] = []
    bal = Balances()
    for seq in range(1, count + 1):
        if seq == 1:
            kind, amount = K.allocation, budget
        else:
            kind = rng.choice([K.commitment, K.commitment, K.disbursement, K.disbursement,
                               K.decommitment, K.recovery, K.surplus])
            room = {K.commitment: bal.available, K.disbursement: bal.committed,
                    K.decommitment: bal.committed, K.recovery: bal.disbursed,
                    K.surplus: bal.disbursed}[kind]
            if room < 1:
                kind, room = K.commitment, bal.available
            # Small amounts, so that a few thousand entries do not exhaust the budget.
            amount = max(CENT, (room * Decimal(rng.random()) / 50).quantize(CENT))
        bal = bal.after(kind, amount)
        assert min(bal.as_tuple()) >= 0
        rows.append((call_id, seq, kind.value, amount, at + timedelta(minutes=seq),
                     *bal.as_tuple()))
    return budget, rows


def seed_ledgers(url: str, entries: int, calls: int) -> None:
    """``calls`` calls with ``entries`` ledger entries between them, loaded with COPY."""
    import psycopg

    from states import CallState
    from workflow.calls.models import Call, Scheme
    from workflow.core.models import db, utcnow

    app = db_app(url)
    with app.app_context():
        rows = [Call(scheme=Scheme.baogan, year=2020 + i % 6, title=f"对账基准{i}",
                     state=CallState.decided, opens_at=utcnow() - timedelta(days=90),
                     closes_at=utcnow() - timedelta(days=60), budget=Decimal(0))
                for i in range(calls)]
        db.session.add_all(rows)
        db.session.commit()
        call_ids = [r.id for r in rows]
        db.engine.dispose()
    rng = random.Random(20261128)
    per_call, extra = divmod(entries, calls)
    budgets: list[tuple[Decimal, int]] = []
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        with conn.cursor() as cur, cur.copy(
                "COPY ledger_entry (call_id, seq, kind, amount, at, available_after, "
                "committed_after, disbursed_after, ref, memo) FROM STDIN") as copy:
            for i, call_id in enumerate(call_ids):
                budget, rows_of_call = ledger_rows(call_id, per_call + (i < extra), rng)
                for row in rows_of_call:
                    copy.write_row((*row, "", ""))
                budgets.append((budget, call_id))
        with conn.cursor() as cur:
            # The allocation is the call's budget, as the reconciliation checks.
            cur.executemany("UPDATE call SET budget = %s WHERE id = %s", budgets)
        conn.commit()
        # As autovacuum would soon after a load this size: the planner's statistics.
        conn.execute("ANALYZE ledger_entry")
        conn.commit()


def reconcile_seconds(url: str, runs: int = 3) -> tuple[float, bool, int]:
    from workflow.core.models import db
    from workflow.finance import ledger

    app = db_app(url)
    times: list[float] = []
    ok, entries = True, 0
    with app.app_context():
        for _ in range(runs):
            db.session.remove()
            start = time.perf_counter()
            report = ledger.reconcile()
            times.append(time.perf_counter() - start)
            ok = ok and report.ok
            entries = sum(c.entries for c in report.calls)
        db.session.remove()
        db.engine.dispose()
    return median(times), ok, entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    opts = parser.parse_args()
    per_worker = 100 if opts.quick else 250
    single = 100 if opts.quick else 250
    url = fresh_database()
    build_schema(url)

    ids, finance_id = seed_tranches(url, [WARMUP + single] + [WARMUP + per_worker] * WORKERS)
    one = releases_per_s(url, ids[:1], finance_id)
    many = releases_per_s(url, ids[1:], finance_id)
    released_ok, _ = check_releases(url, [i for group in ids for i in group])
    print(f"releases through engine.fire, 1 process: {one:,.0f}/s")
    print(f"releases through engine.fire, {WORKERS} processes on one call's ledger: "
          f"{many:,.0f}/s")
    print(f"every tranche released once and in the ledger once, ledger reconciles: "
          f"{released_ok}")

    seed_ledgers(url, ENTRIES, CALLS)
    seconds, ok, entries = reconcile_seconds(url)
    print(f"reconcile() over {entries:,} entries in {CALLS + 1} calls: {seconds:.3f} s "
          f"median of 3 (target <= 1 s); ok={ok}")
    assert released_ok and ok, "the ledger does not reconcile"
    print(bench_line("ledger", releases_per_s=round(many), reconcile_100k_s=round(seconds, 3),
                     releases_1proc_per_s=round(one), workers=WORKERS,
                     releases=WORKERS * per_worker, entries=entries))


if __name__ == "__main__":
    main()
