"""Expert assignment: a conflicted or same-organisation pair is never made, no load cap is
exceeded, nobody gets more reviewers than needed, as many as the pool allows are placed
(checked against an independent max-flow), every shortfall is explained, pruning costs
nothing on small pools, and the random draw is reproducible from its seed."""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from workflow.review import matching
from workflow.review.matching import Assignment, Expert, Proposal

CODES = ["TF", "TG", "TN", "Q1", "Q2", "R1"]
WORDS = ["钢铁", "冶金", "芯片", "电路", "AI", "Deep Learning", "deep  learning", "ＡＩ"]
KINDS = ["declared", "near_relative", "teacher_student", "joint_work", "same_call",
         "sanctioned"]
REASONS = {matching.REASON_POOL, matching.REASON_CONFLICTS, matching.REASON_DISCIPLINE,
           matching.REASON_LOAD}
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- an independent model of the rules, written without the module --------------------

def allowed(p: Proposal, e: Expert, conflicts: dict[tuple[int, int], list[str]]) -> bool:
    """May ``e`` review ``p`` at all (load aside)?"""
    return e.available and e.org_id not in p.org_ids and not conflicts.get((p.id, e.id))


def room(e: Expert) -> int:
    return max(0, e.load_cap - e.current_load)


def max_reviewers(proposals: list[Proposal], experts: list[Expert],
                  conflicts: dict[tuple[int, int], list[str]]) -> int:
    """Edmonds-Karp on source → proposal → expert → sink: the most reviewers placeable."""
    cap: dict[tuple[object, object], int] = {}
    adj: dict[object, set[object]] = {}

    def arc(u: object, v: object, c: int) -> None:
        cap[(u, v)] = cap.get((u, v), 0) + c
        cap.setdefault((v, u), 0)
        adj.setdefault(u, set()).add(v)
        adj.setdefault(v, set()).add(u)

    for p in proposals:
        arc("s", ("p", p.id), p.needed)
        for e in experts:
            if allowed(p, e, conflicts) and room(e) > 0:
                arc(("p", p.id), ("e", e.id), 1)
    for e in experts:
        arc(("e", e.id), "t", room(e))
    total = 0
    while True:
        parent: dict[object, object] = {"s": None}
        queue = deque(["s"])
        while queue and "t" not in parent:
            u = queue.popleft()
            for v in adj.get(u, ()):
                if v not in parent and cap[(u, v)] > 0:
                    parent[v] = u
                    queue.append(v)
        if "t" not in parent:
            return total
        v: object = "t"
        while parent[v] is not None:
            u = parent[v]
            cap[(u, v)] -= 1
            cap[(v, u)] += 1
            v = u
        total += 1


def sound(result: Assignment, proposals: list[Proposal], experts: list[Expert],
          conflicts: dict[tuple[int, int], list[str]]) -> None:
    """The rules, checked independently of ``matching.check``."""
    props = {p.id: p for p in proposals}
    exps = {e.id: e for e in experts}
    assert len(set(result.pairs)) == len(result.pairs)
    for pid, eid in result.pairs:
        assert allowed(props[pid], exps[eid], conflicts), (pid, eid)
    for e in experts:
        assert sum(1 for _, eid in result.pairs if eid == e.id) <= room(e)
    for p in proposals:
        got = sum(1 for pid, _ in result.pairs if pid == p.id)
        assert got <= p.needed
        assert result.unfilled.get(p.id, 0) == p.needed - got
        if got < p.needed:
            assert result.unfilled_reasons[p.id] in REASONS
    for pid, backups in result.reserves.items():
        chosen = {eid for q, eid in result.pairs if q == pid}
        assert len(set(backups)) == len(backups)
        assert not chosen & set(backups)
        assert all(allowed(props[pid], exps[eid], conflicts) for eid in backups)


# --- random small pools ---------------------------------------------------------------

@st.composite
def pools(draw: st.DrawFn, max_proposals: int = 30, max_experts: int = 40,
          min_proposals: int = 0, min_experts: int = 0
          ) -> tuple[list[Proposal], list[Expert], dict[tuple[int, int], list[str]]]:
    n_orgs = draw(st.integers(1, 6))
    expert_ids = draw(st.lists(st.integers(1, 10_000), min_size=min_experts,
                               max_size=max_experts, unique=True))
    proposal_ids = draw(st.lists(st.integers(1, 10_000), min_size=min_proposals,
                                 max_size=max_proposals, unique=True))
    codes = st.lists(st.sampled_from(CODES), max_size=2).map(tuple)
    words = st.lists(st.sampled_from(WORDS), max_size=3).map(tuple)
    experts = []
    for eid in expert_ids:
        cap = draw(st.integers(0, 4))
        experts.append(Expert(
            id=eid, org_id=draw(st.none() | st.integers(0, n_orgs - 1)),
            disciplines=draw(codes), keywords=draw(words), load_cap=cap,
            current_load=draw(st.integers(0, cap + 1)),
            available=draw(st.booleans() | st.just(True))))
    proposals = [Proposal(
        id=pid, org_ids=frozenset(draw(st.sets(st.integers(0, n_orgs - 1), max_size=3))),
        disciplines=draw(codes), keywords=draw(words), needed=draw(st.integers(0, 4)))
        for pid in proposal_ids]
    conflicts: dict[tuple[int, int], list[str]] = {}
    if expert_ids and proposal_ids:
        for pid, eid, kinds in draw(st.lists(st.tuples(
                st.sampled_from(proposal_ids), st.sampled_from(expert_ids),
                st.lists(st.sampled_from([*KINDS, "same_org"]), max_size=2)), max_size=60)):
            conflicts[(pid, eid)] = kinds  # an empty list is no conflict
    return proposals, experts, conflicts


@st.composite
def crowded_pools(draw: st.DrawFn):
    """Everyone wants the same few experts: pruning alone would leave proposals short."""
    proposals, experts, conflicts = draw(pools(min_proposals=3, min_experts=4))
    hot = draw(st.integers(1, 4))
    experts = [Expert(e.id, e.org_id, ("TF",) if i < hot else ("Q1",),
                      ("钢铁",) if i < hot else e.keywords, e.load_cap, e.current_load,
                      e.available) for i, e in enumerate(experts)]
    proposals = [Proposal(p.id, p.org_ids, ("TF",), ("钢铁", *p.keywords), p.needed)
                 for p in proposals]
    return proposals, experts, conflicts


@SETTINGS
@given(pool=pools(), k=st.sampled_from([1, 2, 3, 8, 60]))
def test_optimal_never_breaks_a_rule_and_places_as_many_as_the_pool_allows(pool, k):
    optimal_is_sound_and_maximal(pool, k)


@SETTINGS
@given(pool=crowded_pools(), k=st.sampled_from([1, 2]))
def test_shortlists_too_short_for_a_crowded_pool_are_repaired_to_the_maximum(pool, k):
    optimal_is_sound_and_maximal(pool, k)


def optimal_is_sound_and_maximal(pool, k):
    proposals, experts, conflicts = pool
    props = {p.id: p for p in proposals}
    exps = {e.id: e for e in experts}
    result = matching.assign_optimal(proposals, experts, conflicts, max_candidates=k)
    assert matching.check(result, proposals, experts, conflicts) == []
    sound(result, proposals, experts, conflicts)
    assert len(result.pairs) == max_reviewers(proposals, experts, conflicts)
    assert result.explanation["max_flow_certified"] is True
    event(f"repaired: {result.explanation['repaired_reviewers'] > 0}")
    event(f"short: {bool(result.unfilled)}")

    exact = matching.assign_optimal(proposals, experts, conflicts, max_candidates=None)
    assert len(exact.pairs) == len(result.pairs)
    assert result.objective >= exact.objective
    if k >= len(experts):
        assert result.objective == exact.objective
    event(f"pruning cost something: {result.objective > exact.objective}")
    # Reserves still have load left after the run; the input order changes nothing.
    for backups in result.reserves.values():
        assert len(backups) <= 2
        for eid in backups:
            assert sum(1 for _, e in result.pairs if e == eid) < room(exps[eid])
    again = matching.assign_optimal(proposals[::-1], experts[::-1], conflicts,
                                    max_candidates=k)
    assert (again.pairs, again.reserves, again.objective) == \
        (result.pairs, result.reserves, result.objective)
    # The vectorised scorer and the reference similarity agree to the last bit.
    assert result.objective == sum(matching.pair_cost(exps[e], props[p])
                                   for p, e in result.pairs)


@SETTINGS
@given(pool=pools())
def test_unfilled_reasons_match_the_pool(pool):
    proposals, experts, conflicts = pool
    result = matching.assign_optimal(proposals, experts, conflicts)
    available = sum(e.available for e in experts)
    for p in proposals:
        missing = result.unfilled.get(p.id, 0)
        if not missing:
            assert p.id not in result.unfilled_reasons
            continue
        eligible = sum(allowed(p, e, conflicts) for e in experts)
        reason = result.unfilled_reasons[p.id]
        detail = result.explanation["unfilled"][str(p.id)]
        assert detail["missing"] == missing and detail["eligible"] == eligible
        if available < p.needed:
            assert reason == matching.REASON_POOL
        elif eligible < p.needed:
            assert reason == matching.REASON_CONFLICTS
        else:
            assert reason == matching.REASON_LOAD


@SETTINGS
@given(pool=pools() | crowded_pools(), k=st.integers(1, 12), strict=st.booleans())
def test_candidate_shortlist_equals_the_best_of_scoring_everyone(pool, k, strict):
    # The pruned shortlist samples score tiers instead of scoring every expert; its
    # similarities must be exactly the k best of the dense score vector.
    proposals, experts, conflicts = pool
    internal = matching._Pool(proposals, experts, conflicts, require_discipline=strict)
    jitter = 1e-7 * np.random.default_rng(0).random(len(experts))
    for pi in range(len(proposals)):
        dense = internal.scores(pi)
        idx, val = internal.top(pi, k, jitter)
        assert len(set(idx.tolist())) == idx.size
        assert np.array_equal(dense[idx], val)
        best = np.sort(dense[dense > -np.inf])[::-1][:k]
        assert np.array_equal(np.sort(val)[::-1], best)
        # The scratch arrays are back as they were.
        assert np.array_equal(internal._bad, ~internal.room)
        assert not internal._mark.any()


@st.composite
def tiny_pools(draw: st.DrawFn):
    proposals, experts, conflicts = draw(pools(max_proposals=3, max_experts=4))
    proposals = [Proposal(p.id, p.org_ids, p.disciplines, p.keywords, min(p.needed, 2))
                 for p in proposals]
    return proposals, experts, conflicts


def brute_force(proposals, experts, conflicts) -> tuple[int, int]:
    """(most reviewers placed, least cost among those) by trying every assignment."""
    options = []
    for p in proposals:
        ok = [e for e in experts if allowed(p, e, conflicts) and room(e) > 0]
        options.append([c for n in range(min(p.needed, len(ok)) + 1)
                        for c in itertools.combinations(ok, n)])
    best = (0, 0)
    for choice in itertools.product(*options):
        load: dict[int, int] = {}
        for chosen in choice:
            for e in chosen:
                load[e.id] = load.get(e.id, 0) + 1
        if any(load[e.id] > room(e) for e in experts if e.id in load):
            continue
        placed = sum(len(c) for c in choice)
        cost = sum(matching.pair_cost(e, p) for p, c in zip(proposals, choice, strict=True)
                   for e in c)
        if placed > best[0] or (placed == best[0] and cost < best[1]):
            best = (placed, cost)
    return best


@SETTINGS
@given(pool=tiny_pools(), k=st.sampled_from([1, 60]))
def test_optimal_matches_brute_force_on_tiny_pools(pool, k):
    proposals, experts, conflicts = pool
    placed, cost = brute_force(proposals, experts, conflicts)
    exact = matching.assign_optimal(proposals, experts, conflicts, max_candidates=None)
    assert (len(exact.pairs), exact.objective) == (placed, cost)
    pruned = matching.assign_optimal(proposals, experts, conflicts, max_candidates=k)
    assert len(pruned.pairs) == placed and pruned.objective >= cost


def test_optimal_finds_the_known_best_assignment():
    e1 = Expert(1, 10, ("TF",), ("a", "b"), load_cap=1)
    e2 = Expert(2, 11, ("TF",), ("c",), load_cap=1)
    e3_full = Expert(3, 20, ("TF",), ("a", "b"), load_cap=2, current_load=2)
    e4_away = Expert(4, 12, ("TF",), ("a", "b"), load_cap=5, available=False)
    e5_declared = Expert(5, 13, ("TF",), ("a", "b"), load_cap=1)
    p1 = Proposal(1, frozenset({30}), ("TF",), ("a",), needed=1)
    p2 = Proposal(2, frozenset({20, 31}), ("TF",), ("a", "b"), needed=1)  # e3's org
    conflicts = {(1, 5): ["declared"], (2, 5): ["near_relative"]}
    experts = [e1, e2, e3_full, e4_away, e5_declared]
    # Best-first for p1 takes e1 (0.8) and leaves p2 with e2 (0.6): total 1.4. The optimum
    # swaps them: p1–e2 (0.6) and p2–e1 (1.0), total 1.6.
    result = matching.assign_optimal([p1, p2], experts, conflicts)
    assert result.pairs == [(1, 2), (2, 1)]
    assert result.objective == 10 * 400 + 10 * 0
    assert result.unfilled == {}
    assert result.reserves == {1: [], 2: []}  # nobody else eligible has load left
    assert matching.check(result, [p1, p2], experts, conflicts) == []
    # Given load, e3 (perfect for both) takes p1, never p2: same organisation.
    e3 = Expert(3, 20, ("TF",), ("a", "b"), load_cap=5)
    result = matching.assign_optimal([p1, p2], [e1, e2, e3, e4_away, e5_declared], conflicts)
    assert result.pairs == [(1, 3), (2, 1)]
    assert result.reserves == {1: [2], 2: [2]}  # e3 never for p2, e1 is full


def test_pruning_that_cuts_feasibility_is_repaired_and_certified():
    # Three proposals all prefer e1 and e2; e3 matches none, yet must take the third.
    experts = [Expert(1, None, ("TF",), ("a",), 1), Expert(2, None, ("TF",), ("a",), 1),
               Expert(3, None, ("X1",), ("z",), 1)]
    proposals = [Proposal(i, frozenset(), ("TF",), ("a",), 1) for i in (1, 2, 3)]
    result = matching.assign_optimal(proposals, experts, {}, max_candidates=1)
    assert len(result.pairs) == 3 and result.unfilled == {}
    assert result.explanation["repaired_reviewers"] >= 1
    assert result.explanation["max_flow_certified"] is True
    assert result.explanation["last_resort_pairs"] == 1
    assert matching.check(result, proposals, experts, {}) == []


def test_shortfalls_are_reported_with_their_reason():
    experts = [Expert(1, 1, ("TF",), (), 5), Expert(2, 2, ("TF",), (), 5),
               Expert(3, 3, ("TF",), (), 1)]
    conflicted = Proposal(1, frozenset({1}), ("TF",), (), needed=3)  # e1 same org
    crowded = [Proposal(2, frozenset(), ("TF",), (), needed=3),
               Proposal(3, frozenset(), ("TF",), (), needed=3)]
    result = matching.assign_optimal([conflicted], experts, {})
    assert result.unfilled == {1: 1}
    assert result.unfilled_reasons == {1: matching.REASON_CONFLICTS}
    result = matching.assign_optimal(crowded, experts, {})
    assert sum(result.unfilled.values()) == 1  # e3 has room for only one of them
    assert set(result.unfilled_reasons.values()) == {matching.REASON_LOAD}
    result = matching.assign_optimal([Proposal(4, frozenset(), (), (), needed=4)], experts, {})
    assert result.unfilled_reasons == {4: matching.REASON_POOL}
    assert result.explanation["unfilled"]["4"]["eligible"] == 3


def test_require_discipline_leaves_unrelated_experts_out():
    experts = [Expert(1, None, ("TF",), (), 5), Expert(2, None, ("Q1",), ("a",), 5)]
    p = Proposal(1, frozenset(), ("TG",), ("a",), needed=2)
    loose = matching.assign_optimal([p], experts, {})
    assert loose.pairs == [(1, 1), (1, 2)]
    strict = matching.assign_optimal([p], experts, {}, require_discipline=True)
    assert strict.pairs == [(1, 1)]
    assert strict.unfilled_reasons == {1: matching.REASON_DISCIPLINE}


def test_a_callable_conflict_source_gives_the_same_result_as_the_mapping():
    experts = [Expert(i, i % 3, ("TF",), ("a",), 2) for i in range(1, 9)]
    proposals = [Proposal(i, frozenset({i % 3}), ("TF",), ("a",), 2) for i in range(1, 6)]
    table = {(1, 4): ["declared"], (2, 5): ["joint_work"], (3, 6): []}
    by_map = matching.assign_optimal(proposals, experts, table)
    by_call = matching.assign_optimal(proposals, experts,
                                      lambda p, e: table.get((p, e), []))
    assert by_map.pairs == by_call.pairs and by_map.objective == by_call.objective
    assert (1, 4) not in by_map.pairs and (2, 5) not in by_map.pairs


def test_duplicate_ids_are_refused():
    e = Expert(1, None, (), (), 1)
    with pytest.raises(ValueError, match="duplicate expert"):
        matching.assign_optimal([], [e, e], {})


def test_the_explanation_is_json_serialisable():
    import json

    experts = [Expert(1, 1, ("TF",), ("a",), 1)]
    result = matching.assign_optimal([Proposal(1, frozenset({1}), ("TF",), (), 1)],
                                     experts, {})
    json.dumps(result.explanation)
    json.dumps(matching.draw_random([Proposal(1, frozenset(), ("TF",), (), 2)], experts,
                                    {}, seed=1).explanation)


# --- the random draw ------------------------------------------------------------------

def same_draw(a: Assignment, b: Assignment) -> bool:
    return (a.pairs, a.reserves, a.unfilled, a.objective) == \
        (b.pairs, b.reserves, b.unfilled, b.objective)


@SETTINGS
@given(pool=pools(), seed=st.integers(0, 2**31), reserves=st.integers(0, 3))
def test_random_draw_is_sound_reproducible_and_order_independent(pool, seed, reserves):
    proposals, experts, conflicts = pool
    result = matching.draw_random(proposals, experts, conflicts, seed=seed,
                                  reserves=reserves)
    assert matching.check(result, proposals, experts, conflicts) == []
    sound(result, proposals, experts, conflicts)
    assert len(result.pairs) <= max_reviewers(proposals, experts, conflicts)
    again = matching.draw_random(proposals, experts, conflicts, seed=seed, reserves=reserves)
    assert same_draw(result, again)
    shuffled = matching.draw_random(proposals[::-1], experts[::-1],
                                    dict(reversed(list(conflicts.items()))), seed=seed,
                                    reserves=reserves)
    assert same_draw(result, shuffled)
    # Within the discipline unless the explanation says it had to look further.
    props = {p.id: p for p in proposals}
    exps = {e.id: e for e in experts}
    for pid, eid in result.pairs:
        if str(pid) not in result.explanation["fallback"]:
            mine = {c[0] for c in props[pid].disciplines}
            assert mine & {c[0] for c in exps[eid].disciplines}


def test_different_seeds_usually_draw_differently():
    experts = [Expert(i, i, ("TF",), (), 3) for i in range(1, 31)]
    proposals = [Proposal(i, frozenset(), ("TG",), (), 3) for i in range(1, 6)]
    draws = {tuple(matching.draw_random(proposals, experts, {}, seed=s).pairs)
             for s in range(20)}
    assert len(draws) >= 19


def test_random_draw_stays_in_the_discipline_and_says_when_it_cannot():
    experts = [Expert(1, None, ("TF",), (), 5), Expert(2, None, ("TG",), (), 5),
               Expert(3, None, ("Q1",), (), 5), Expert(4, None, ("R1",), (), 5),
               Expert(5, None, ("TN",), (), 5)]
    wide = Proposal(1, frozenset(), ("TB",), (), needed=2)
    for seed in range(10):
        result = matching.draw_random([wide], experts, {}, seed=seed, reserves=1)
        assert {e for _, e in result.pairs} <= {1, 2, 5}
        assert set(result.reserves[1]) <= {1, 2, 5}
        assert result.explanation["fallback"] == {}
    narrow = Proposal(2, frozenset(), ("Q2",), (), needed=2)
    result = matching.draw_random([narrow], experts, {}, seed=7, reserves=2)
    assert (2, 3) in result.pairs and len(result.pairs) == 2
    assert "本学科（Q）可用专家1人，不足2人" in result.explanation["fallback"]["2"]
    assert len(result.reserves[2]) == 2
    strict = matching.draw_random([narrow], experts, {}, seed=7, require_discipline=True)
    assert strict.pairs == [(2, 3)]
    assert strict.unfilled_reasons == {2: matching.REASON_DISCIPLINE}


def test_random_draw_respects_load_left_across_proposals():
    experts = [Expert(1, None, ("TF",), (), 2, current_load=1),
               Expert(2, None, ("TF",), (), 1)]
    proposals = [Proposal(i, frozenset(), ("TF",), (), 1) for i in (1, 2, 3)]
    result = matching.draw_random(proposals, experts, {}, seed=3)
    assert len(result.pairs) == 2 and sum(result.unfilled.values()) == 1
    assert set(result.unfilled_reasons.values()) == {matching.REASON_LOAD}
    assert matching.check(result, proposals, experts, {}) == []


# --- similarity, explain, check -------------------------------------------------------

def test_similarity_formula():
    p = Proposal(1, frozenset(), ("TF",), ("钢铁", "Deep  Learning"), 1)
    assert matching.similarity(Expert(1, None, ("TF",), ("钢铁", "deep learning"), 1), p) \
        == pytest.approx(1.0)
    assert matching.similarity(Expert(2, None, ("ＴＧ",), (), 1), p) == pytest.approx(0.3)
    assert matching.similarity(Expert(3, None, ("Q1",), ("钢铁", "冶金", "x"), 1), p) \
        == pytest.approx(0.4 * 1 / 4)
    assert matching.similarity(Expert(4, None, (), (), 1), p) == 0.0


def test_explain_names_every_conflict_in_chinese():
    expert = Expert(7, 3, ("TF", "Q1"), ("钢铁", "冶金"), 10, current_load=10)
    proposal = Proposal(9, frozenset({3, 4}), ("TF",), ("钢铁",), 5)
    everything = {(9, 7): [*KINDS, "same_org", "other_code"]}
    info = matching.explain(expert, proposal, everything)
    assert info["may_pair"] is False
    assert info["conflict_labels"] == ["同单位", "申报人或专家声明回避", "近亲属", "师生关系",
                                       "近三年合作（项目、论文、专利）", "申报同一批次",
                                       "科研失信处理期内", "其他回避（other_code）"]
    assert info["summary"].startswith("需回避：同单位、")
    # Same organisation is found without being told.
    assert matching.explain(expert, proposal, None)["conflict_labels"] == ["同单位"]
    free = matching.explain(expert, Proposal(9, frozenset({4}), ("TF",), ("钢铁",), 5), {})
    assert free["may_pair"] is True and free["conflicts"] == []
    assert free["shared_disciplines"] == ["TF"] and free["shared_keywords"] == ["钢铁"]
    assert free["similarity"] == pytest.approx(0.6 + 0.4 * 1 / 2)
    assert "学科代码相同（TF）" in free["summary"] and "负荷已满" in free["summary"]
    away = Expert(8, None, (), (), 1, available=False)
    assert matching.explain(away, proposal, {})["may_pair"] is False


def test_check_lists_each_kind_of_violation():
    experts = [Expert(1, 1, (), (), 1), Expert(2, 2, (), (), 5)]
    proposals = [Proposal(1, frozenset({1}), (), (), 1), Proposal(2, frozenset(), (), (), 2)]
    bad = Assignment(pairs=[(1, 1), (1, 2), (2, 2), (2, 2), (2, 1)], unfilled={},
                     objective=0, explanation={}, reserves={2: [1, 1]})
    found = "\n".join(matching.check(bad, proposals, experts, {(2, 2): ["declared"]}))
    assert "conflicted pair proposal 1 expert 1 (same_org)" in found
    assert "conflicted pair proposal 2 expert 2 (declared)" in found
    assert "duplicate pair proposal 2 expert 2" in found
    assert "load cap exceeded: expert 1" in found
    assert "more than needed: proposal 1" in found
    assert "reserve: duplicate reserve for proposal 2" in found
    assert "both chosen and reserve" in found
    short = Assignment(pairs=[], unfilled={}, objective=0, explanation={})
    found = "\n".join(matching.check(short, proposals, experts, {}))
    assert "shortfall misreported: proposal 1" in found
    assert "shortfall unexplained: proposal 2" in found
