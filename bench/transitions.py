"""Transitions per second through engine.fire (lock, guards, audit, outbox) against a
bare UPDATE of the state column, 8 concurrent connections on different applications,
measured in the same run on PostgreSQL; the state machine's own cost per transition;
and RSS growth while 100,000 application rows go through the shared machine.

    .venv/bin/python bench/transitions.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import sys
import time
from collections.abc import Callable
from pathlib import Path

# This file's own name would shadow the ``transitions`` package: run from the repo root.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench._common import (  # noqa: E402
    bench_line,
    build_schema,
    db_app,
    fresh_database,
    median,
    rss_mb,
)
from states import ApplicationState  # noqa: E402

WORKERS = 8
LEGS = (ApplicationState.midterm, ApplicationState.in_progress)  # there and back


def seed(url: str, per_worker: int) -> tuple[list[list[int]], int]:
    from datetime import timedelta
    from decimal import Decimal

    from states import CallState
    from workflow.accounts.models import Organization, OrgKind, User, UserRole
    from workflow.applying.models import Application
    from workflow.calls.models import Call, Scheme
    from workflow.core.models import db, utcnow

    app = db_app(url)
    with app.app_context():
        org = Organization(name="基准单位", uscc="91360700MA35A0001P", kind=OrgKind.university)
        officer = User(username="officer", name="主管", password_hash="!",  # noqa: S106
                       role_rows=[UserRole(role="officer")])
        call = Call(scheme=Scheme.baogan, year=2026, title="基准", state=CallState.decided,
                    opens_at=utcnow() - timedelta(days=9), closes_at=utcnow() - timedelta(1),
                    budget=Decimal(10**7), steps=["midterm"])
        db.session.add_all([org, officer, call])
        db.session.flush()
        ids: list[list[int]] = []
        for w in range(WORKERS):
            rows = [Application(call_id=call.id, applicant_id=officer.id,
                                organization_id=org.id, title=f"项目{w}-{i}",
                                state=ApplicationState.in_progress, data={})
                    for i in range(per_worker)]
            db.session.add_all(rows)
            db.session.flush()
            ids.append([r.id for r in rows])
        db.session.commit()
        officer_id = officer.id
        db.engine.dispose()
    return ids, officer_id


def settle(url: str) -> None:
    """Vacuum, analyse and checkpoint the fresh tables, so that the first round does not
    pay for the seeding's dead tuples, missing statistics and dirty buffers."""
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


Args = tuple[str, list[int], int, int, "mp.Barrier"]  # url, ids, officer id, rounds, barrier
Step = Callable[[int, int], None]  # (application id, 0 there or 1 back)


def _drive(args: Args, make_step: Callable[[int], Step]) -> int:
    """Each application there and back ``rounds`` times through the step ``make_step``
    builds (in the app, before the start), each change committed; how many changes."""
    url, ids, officer_id, rounds, barrier = args
    from workflow.core.models import db

    app = db_app(url)
    with app.app_context():
        step = make_step(officer_id)
        barrier.wait()  # type: ignore[attr-defined]
        for _ in range(rounds):
            for app_id in ids:
                for leg in (0, 1):
                    step(app_id, leg)
                    db.session.commit()
        db.engine.dispose()
    return rounds * len(ids) * 2


# The engine's own cost: a transition pair with a role check and no guard or effect of
# its own (中期检查 and back), so that what is measured is the lock, the state machine, the
# audit row and the outbox row, not a particular business rule.
def run_fire(args: Args) -> int:
    def make_step(officer_id: int) -> Step:
        from workflow.accounts.models import User
        from workflow.core import engine
        from workflow.core.models import db

        # The actor is loaded once, as a request loads its user once; detached, it is
        # not expired by each commit.
        officer = db.session.get(User, officer_id)
        assert officer is not None and officer.roles
        db.session.expunge(officer)
        legs = [("start_midterm", "中期检查"), ("pass_midterm", "中期检查通过")]

        def step(app_id: int, leg: int) -> None:
            # As the API does: lock and load the row, then fire (the caller commits).
            row = engine.load("application", app_id, lock=True)
            trigger, comment = legs[leg]
            engine.fire(row, trigger, officer, comment=comment)

        return step

    return _drive(args, make_step)


def run_bare_session(args: Args) -> int:
    """The bare UPDATE through the same stack as fire: the app's SQLAlchemy session, the
    statement built once as the engine builds its own."""
    def make_step(_officer_id: int) -> Step:
        import sqlalchemy as sa

        from workflow.applying.models import Application
        from workflow.core.models import db

        update = (sa.update(Application).where(Application.id == sa.bindparam("app_id"))
                  .values(state=sa.bindparam("state")))

        def step(app_id: int, leg: int) -> None:
            db.session.execute(update, {"app_id": app_id, "state": LEGS[leg]})

        return step

    return _drive(args, make_step)


def run_by_hand(args: Args) -> int:
    """What fire does, written by hand in the same session: lock the row, update it, one
    audit row and one outbox row (no hash chain, no state machine, no checks)."""
    def make_step(officer_id: int) -> Step:
        import sqlalchemy as sa

        from workflow.applying.models import Application
        from workflow.core.models import AuditEvent, OutboxEvent, db, utcnow

        lock = (sa.select(Application.state, Application.version)
                .where(Application.id == sa.bindparam("app_id")).with_for_update())
        update = (sa.update(Application).where(Application.id == sa.bindparam("app_id"))
                  .values(state=sa.bindparam("state"), version=sa.bindparam("version")))
        audit, outbox = sa.insert(AuditEvent), sa.insert(OutboxEvent)

        def step(app_id: int, leg: int) -> None:
            state = LEGS[leg]
            old, version = db.session.execute(lock, {"app_id": app_id}).one()
            db.session.execute(update, {"app_id": app_id, "state": state,
                                        "version": version + 1})
            # A chain of its own (the version orders it), apart from fire's.
            db.session.execute(audit, {
                "entity_type": "by_hand", "entity_id": app_id, "seq": version + 1,
                "actor_id": officer_id, "actor_name": "主管", "actor_role": "officer",
                "at": utcnow(), "trigger": "by_hand", "from_state": old.value,
                "to_state": state.value, "comment": "", "data": {},
                "prev_hash": "0" * 64, "hash": "0" * 64})
            db.session.execute(outbox, {
                "topic": "application.by_hand", "entity_type": "application",
                "entity_id": app_id, "payload": {}, "created_at": utcnow(), "attempts": 0})

        return step

    return _drive(args, make_step)


def run_bare(args: Args) -> int:
    url, ids, _officer_id, rounds, barrier = args
    import psycopg

    done = 0
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        barrier.wait()  # type: ignore[attr-defined]
        for _ in range(rounds):
            for app_id in ids:
                for state in LEGS:
                    conn.execute("UPDATE application SET state = %s WHERE id = %s",
                                 (state.value, app_id))
                    conn.commit()
                    done += 1
    return done


def concurrent(fn, url: str, ids: list[list[int]], officer_id: int,  # type: ignore[no-untyped-def]
               rounds: int) -> float:
    """Transitions per second of WORKERS processes, each on its own connection and rows,
    timed from the moment all are connected and ready."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(WORKERS + 1)
    results = ctx.Queue()

    def child(w: int) -> None:
        results.put(fn((url, ids[w], officer_id, rounds, barrier)))

    procs = [ctx.Process(target=child, args=(w,)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    start = time.perf_counter()
    total = sum(results.get(timeout=600) for _ in procs)
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return total / elapsed


def machine_cost(n: int) -> float:
    """µs per transition through the shared machine, on rows that only hold a state."""
    from states import APPLICATION

    class Row:
        __slots__ = ("state",)

    row = Row()
    gc.disable()
    start = time.perf_counter()
    for _ in range(n):
        row.state = ApplicationState.public_notice
        APPLICATION.apply(row, "raise_objection")
    with_machine = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        row.state = ApplicationState.public_notice
        row.state = ApplicationState.objection
    plain = time.perf_counter() - start
    gc.enable()
    return (with_machine - plain) / n * 1e6


def rss_growth(n: int) -> float:
    """RSS growth (MB) while ``n`` Application rows pass through the machine, one by one."""
    from states import APPLICATION
    from workflow import load_models
    from workflow.applying.models import Application

    load_models()

    def one() -> None:
        row = Application(title="x", state=ApplicationState.public_notice, data={})
        APPLICATION.apply(row, "raise_objection")

    for _ in range(1000):  # warm up allocator and caches
        one()
    gc.collect()
    before = rss_mb()
    for _ in range(n):
        one()
    gc.collect()
    return rss_mb() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    opts = parser.parse_args()
    per_worker, rounds = (10, 3) if opts.quick else (25, 8)
    # The machine's own cost first, before the database is built and busy (after the
    # concurrent runs its autovacuum still is): the best of five, with the garbage
    # collector paused, as timeit measures.
    machine_us = min(machine_cost(10_000 if opts.quick else 40_000) for _ in range(5))
    rss = rss_growth(100_000)
    url = fresh_database()
    build_schema(url)
    ids, officer_id = seed(url, per_worker)
    settle(url)

    # The machine is noisy (the same run varies by 15% from one minute to the next):
    # each round runs the four back to back, each ratio is taken within its round, and
    # the medians over the rounds are reported.
    runs = {"bare": run_bare_session, "fire": run_fire, "by_hand": run_by_hand, "raw": run_bare}
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for fn in runs.values():  # a warm-up round, not counted: caches, plans, connections
        concurrent(fn, url, ids, officer_id, 1)
    for _ in range(3 if opts.quick else 5):
        for name, fn in runs.items():
            rates[name].append(concurrent(fn, url, ids, officer_id, rounds))

    def within_rounds(top: str, bottom: str) -> float:
        return median([a / b for a, b in zip(rates[top], rates[bottom], strict=True)])

    bare, fire, by_hand, raw = (median(rates[name]) for name in runs)
    ratio = within_rounds("bare", "fire")
    print(f"bare UPDATE through the app's session, {WORKERS} connections: {bare:,.0f}/s")
    print(f"bare UPDATE on raw psycopg, {WORKERS} connections: {raw:,.0f}/s")
    print(f"lock + UPDATE + audit row + outbox row by hand in the session: {by_hand:,.0f}/s "
          f"(ratio {within_rounds('bare', 'by_hand'):.2f})")
    print(f"engine.fire (lock, guards, audit, outbox), {WORKERS} connections: "
          f"{fire:,.0f} transitions/s")
    each = ", ".join(f"{a / b:.2f}" for a, b in zip(rates["bare"], rates["fire"], strict=True))
    print(f"ratio bare/fire: {ratio:.2f} (target <= 2.5; per round: {each}); "
          f"raw psycopg/fire: {within_rounds('raw', 'fire'):.2f}; "
          f"by hand/fire: {within_rounds('by_hand', 'fire'):.2f}")
    print(f"state machine cost: {machine_us:.1f} us per transition (target <= 20)")
    print(f"RSS growth over 100,000 rows through the machine: {rss:.1f} MB (target < 20)")
    print(bench_line("transitions", fire_per_s=round(fire), bare_per_s=round(bare),
                     ratio=round(ratio, 2), by_hand_per_s=round(by_hand),
                     ratio_by_hand=round(within_rounds("bare", "by_hand"), 2),
                     raw_per_s=round(raw), ratio_raw=round(within_rounds("raw", "fire"), 2),
                     machine_us=round(machine_us, 1),
                     rss_mb_100k=round(rss, 1)))


if __name__ == "__main__":
    main()
