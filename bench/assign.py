"""Expert assignment at the size of a big call: 10,000 applications × 2,000 experts,
5 reviewers each, load cap 30, about 2% conflicted pairs (same organisation + random typed
conflicts); 40 discipline codes under 5 top-level letters, keywords mostly from the
discipline's own vocabulary. Measures the optimal matching end to end (indexing, candidate
scoring, min-cost flow, the max-flow certificate), the violations ``matching.check`` finds,
the optimality gap of candidate pruning against the unpruned flow on a smaller instance
generated the same way, the random draw, and ranking 10,000 applications.

    .venv/bin/python bench/assign.py [--quick] [--large]

Conflicts: each application's 1-3 organisations hold about 1% of the experts (200
organisations), plus 20 random typed conflicts per application (1% of 2,000). ``--quick``:
2,000 × 400 (so 5% declared). ``--large``: 100,000 × 20,000, the same 20 per application
(0.1%; 2% of 2·10⁹ pairs would be 40 million mapping entries), passed as a compact mapping.
No database is used.

``gap`` is the largest relative excess of the pruned objective over the unpruned one,
(pruned - exact) / exact, over the four gap measurements printed above it.

Memory: ``peak_mb`` is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` read right after the
main solve: the whole process's peak resident set, synthetic data and interpreter included.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path

import numpy as np

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench._common import bench_line  # noqa: E402
from workflow.review import matching  # noqa: E402

LETTERS = {
    "T": ["TB", "TD", "TF", "TG", "TH", "TK", "TM", "TN", "TP", "TQ"],
    "Q": ["Q1", "Q2", "Q3", "Q5", "Q6", "Q7", "Q8", "Q9"],
    "R": ["R1", "R2", "R3", "R4", "R5", "R6", "R7", "R9"],
    "S": ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"],
    "X": ["X1", "X2", "X3", "X4", "X5", "X7"],
}
CODES = [c for codes in LETTERS.values() for c in codes]
WORDS_PER_CODE = 30
GENERIC = [f"通用词{i:02d}" for i in range(60)] + ["人工智能", "大数据", "新材料", "碳中和"]
KINDS = ["declared", "near_relative", "teacher_student", "joint_work", "same_call",
         "sanctioned"]
PER_APP = 5
LOAD_CAP = 30
ORGS = 200  # an application's 1-3 organisations then hold about 1% of the experts


class PairTable(Mapping[tuple[int, int], list[str]]):
    """A compact conflict mapping for the large run: per proposal, sorted expert ids."""

    def __init__(self, rows: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
        self.rows = rows  # proposal id -> (expert ids sorted, kind index per expert)

    def __getitem__(self, key: tuple[int, int]) -> list[str]:
        row = self.rows.get(key[0])
        if row is None:
            raise KeyError(key)
        ids, kinds = row
        i = int(np.searchsorted(ids, key[1]))
        if i < ids.size and ids[i] == key[1]:
            return [KINDS[int(kinds[i])]]
        raise KeyError(key)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for pid, (ids, _) in self.rows.items():
            for eid in ids.tolist():
                yield (pid, eid)

    def __len__(self) -> int:
        return sum(ids.size for ids, _ in self.rows.values())

    def items(self) -> Iterator[tuple[tuple[int, int], list[str]]]:  # type: ignore[override]
        labels = [[k] for k in KINDS]
        for pid, (ids, kinds) in self.rows.items():
            for eid, k in zip(ids.tolist(), kinds.tolist(), strict=True):
                yield (pid, eid), labels[k]


def synthetic(n_apps: int, n_experts: int, seed: int, compact: bool = False,
              declared_share: float = 0.01, load_cap: int = LOAD_CAP
              ) -> tuple[list[matching.Proposal], list[matching.Expert],
                         Mapping[tuple[int, int], list[str]]]:
    rng = np.random.default_rng(seed)
    # Zipf-like popularity of disciplines, the same for applications and experts, so that
    # supply roughly follows demand but some fields are crowded.
    weight = 1.0 / np.arange(1, len(CODES) + 1) ** 0.7
    weight = rng.permutation(weight / weight.sum())
    vocab = {c: [f"{c}-词{i:02d}" for i in range(WORDS_PER_CODE)] for c in CODES}
    n_orgs = ORGS

    def profile(n_codes: int, n_words: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        codes = tuple(str(c) for c in rng.choice(CODES, size=n_codes, replace=False, p=weight))
        words: set[str] = set()
        while len(words) < n_words:
            if rng.random() < 0.8:
                own = vocab[codes[int(rng.integers(len(codes)))]]
                # Within a discipline some keywords are far more common than others.
                words.add(own[min(WORDS_PER_CODE - 1, int(rng.exponential(8)))])
            else:
                words.add(GENERIC[int(rng.integers(len(GENERIC)))])
        return codes, tuple(sorted(words))

    experts = []
    for i in range(n_experts):
        codes, words = profile(int(rng.integers(1, 4)), int(rng.integers(4, 9)))
        experts.append(matching.Expert(
            id=100_000 + i, org_id=int(rng.integers(n_orgs)), disciplines=codes,
            keywords=words, load_cap=load_cap,
            current_load=int(rng.integers(0, 4)) if rng.random() < 0.2 else 0,
            available=bool(rng.random() < 0.97)))
    proposals = []
    for i in range(n_apps):
        codes, words = profile(1 if rng.random() < 0.7 else 2, int(rng.integers(3, 7)))
        orgs = frozenset(int(o) for o in rng.integers(n_orgs, size=int(rng.integers(1, 4))))
        proposals.append(matching.Proposal(id=i + 1, org_ids=orgs, disciplines=codes,
                                           keywords=words, needed=PER_APP))
    per_app = max(1, round(declared_share * n_experts))
    ids = np.array([e.id for e in experts])
    if compact:
        rows = {}
        for p in proposals:
            pick = np.unique(rng.choice(ids, size=per_app, replace=False))
            rows[p.id] = (pick, rng.integers(len(KINDS), size=pick.size))
        return proposals, experts, PairTable(rows)
    conflicts: dict[tuple[int, int], list[str]] = {}
    for p in proposals:
        for eid, k in zip(rng.choice(ids, size=per_app, replace=False).tolist(),
                          rng.integers(len(KINDS), size=per_app).tolist(), strict=True):
            conflicts[(p.id, eid)] = [KINDS[k]]
    return proposals, experts, conflicts


def conflict_share(proposals: list[matching.Proposal], experts: list[matching.Expert],
                   conflicts: Mapping[tuple[int, int], list[str]]) -> float:
    by_org: dict[int, int] = {}
    for e in experts:
        if e.org_id is not None:
            by_org[e.org_id] = by_org.get(e.org_id, 0) + 1
    same_org = sum(by_org.get(o, 0) for p in proposals for o in p.org_ids)
    return (same_org + len(conflicts)) / (len(proposals) * len(experts))


def rank_applications(n: int, seed: int) -> tuple[float, str]:
    """Seconds to aggregate 5 scores each and rank ``n`` applications, and by what."""
    rng = np.random.default_rng(seed)
    totals = [[Decimal(int(x)) / 10 for x in row]
              for row in rng.integers(550, 990, size=(n, PER_APP))]
    try:
        from workflow.review.ranking import Entry, aggregate, rank
    except ImportError:
        start = time.perf_counter()

        def trimmed(values: list[Decimal]) -> Decimal:
            v = sorted(values)[1:-1] if len(values) >= 5 else sorted(values)
            return (sum(v, Decimal(0)) / len(v)).quantize(Decimal("0.01"))

        scored = [(trimmed(t), i + 1) for i, t in enumerate(totals)]
        ordered = sorted(scored, key=lambda row: (-row[0], row[1]))  # tie: lower id first
        assert len(ordered) == n
        return time.perf_counter() - start, "inline trimmed mean + sorted()"
    start = time.perf_counter()
    entries = [Entry(id=i + 1, group=None, score=aggregate(t), requested=Decimal(500_000))
               for i, t in enumerate(totals)]
    ranked = rank(entries)
    assert len(ranked) == n
    return time.perf_counter() - start, "workflow.review.ranking.aggregate + rank"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 × 400")
    parser.add_argument("--large", action="store_true", help="100,000 × 20,000")
    args = parser.parse_args()
    if args.large:
        n_apps, n_experts, gap_apps, gap_experts = 100_000, 20_000, 3_000, 600
    elif args.quick:
        n_apps, n_experts, gap_apps, gap_experts = 2_000, 400, 1_000, 200
    else:
        n_apps, n_experts, gap_apps, gap_experts = 10_000, 2_000, 3_000, 600
    k = 60

    t = time.perf_counter()
    proposals, experts, conflicts = synthetic(n_apps, n_experts, seed=1, compact=args.large,
                                              declared_share=20 / n_experts)
    print(f"generated {n_apps} applications × {n_experts} experts in "
          f"{time.perf_counter() - t:.1f} s; conflicted pairs "
          f"{conflict_share(proposals, experts, conflicts):.2%}", flush=True)

    start = time.perf_counter()
    result = matching.assign_optimal(proposals, experts, conflicts, max_candidates=k)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ex = result.explanation
    print(f"optimal: {seconds:.2f} s {ex['seconds']}; pairs {len(result.pairs)}, "
          f"unfilled {ex['unfilled_reviewers']} reviewers / {ex['unfilled_proposals']} "
          f"applications, arcs {ex['candidate_arcs']}, lists at the cap "
          f"{ex['proposals_at_candidate_cap']}, repaired {ex['repaired_reviewers']} in "
          f"{ex['repair_rounds']} rounds, certified {ex['max_flow_certified']}, "
          f"mean similarity {ex['similarity_mean']}, last-resort pairs "
          f"{ex['last_resort_pairs']}; ru_maxrss {peak_mb:.0f} MB", flush=True)
    t = time.perf_counter()
    violations = matching.check(result, proposals, experts, conflicts)
    print(f"check: {len(violations)} violations in {time.perf_counter() - t:.2f} s",
          *violations[:5], sep="\n  ", flush=True)

    t = time.perf_counter()
    drawn = matching.draw_random(proposals, experts, conflicts, seed=20260101)
    draw_s = time.perf_counter() - t
    draw_bad = matching.check(drawn, proposals, experts, conflicts)
    violations += draw_bad
    print(f"random draw: {draw_s:.2f} s; pairs {len(drawn.pairs)}, unfilled "
          f"{drawn.explanation['unfilled_reviewers']}, fallbacks "
          f"{len(drawn.explanation['fallback'])}, mean similarity "
          f"{drawn.explanation['similarity_mean']}, violations {len(draw_bad)}", flush=True)
    del proposals, experts, conflicts, result, drawn

    # Pruning keeps 60 of 2,000 experts (3%) per application. On the smaller instance the
    # gap is measured with the same 60 and with the same share (3% of its experts), at the
    # load cap of 30 and at 25, where the experts' capacity falls short of the demand.
    gaps = []
    for cap in (LOAD_CAP, 25):
        small = synthetic(gap_apps, gap_experts, seed=2, load_cap=cap)
        for kk in (k, max(2 * PER_APP, round(k * gap_experts / n_experts))):
            report = matching.optimality_gap(*small, max_candidates=kk)
            gaps.append(report.gap)
            print(f"gap {gap_apps} × {gap_experts}, load cap {cap}, max_candidates={kk}: "
                  f"pruned {report.pruned_objective} ({report.pruned_arcs} arcs, "
                  f"{report.pruned_seconds:.2f} s) vs unpruned {report.exact_objective} "
                  f"({report.exact_arcs} arcs, {report.exact_seconds:.2f} s): "
                  f"gap {report.gap:.3%}; placed {report.pruned_filled} vs "
                  f"{report.exact_filled} of {PER_APP * gap_apps}", flush=True)
            if report.pruned_filled != report.exact_filled:
                violations.append("pruned flow placed fewer reviewers than the unpruned")

    rank_s, how = rank_applications(10_000, seed=3)
    print(f"ranking 10,000 applications: {rank_s:.3f} s ({how})", flush=True)
    print(bench_line("assign", apps=n_apps, experts=n_experts, seconds=round(seconds, 2),
                     peak_mb=round(peak_mb), gap=float(f"{max(gaps):.5f}"),
                     violations=len(violations), rank_s=round(rank_s, 3)))


if __name__ == "__main__":
    main()
