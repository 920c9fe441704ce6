"""Choosing review experts (评审专家遴选): optimal matching and the random draw (随机抽取).

Pure: no Flask, no database, no clock. The caller turns rows into :class:`Expert`,
:class:`Proposal` and a conflict table, calls :func:`assign_optimal` or :func:`draw_random`,
and stores the :class:`Assignment`; :func:`explain` answers "why (not) this expert" for one
pair and :func:`check` lists what an assignment breaks.

Eligibility. An expert may review a proposal when the expert is ``available``, has load
left (``load_cap - current_load > 0``) and there is no conflict of interest (回避). Conflicts
are typed strings (``same_org``, ``declared``, ``near_relative``, ``teacher_student``,
``joint_work``, ``same_call``, ``sanctioned``, or any other code the caller uses). They come
from the caller as a mapping ``{(proposal id, expert id): [codes]}`` or a callable
``(proposal id, expert id) -> codes``; ``same_org`` is ALSO derived here from
``Expert.org_id in Proposal.org_ids``, so a caller cannot forget it. An empty list is no
conflict. A callable is asked about every (proposal, expert) pair; for large pools pass a
mapping (only its conflicted pairs are read).

Similarity, in [0, 1] (:func:`similarity`)::

    s = 0.6 * d + 0.4 * j
    d = 1.0  if the two share a discipline code (after normalising: NFKC, trimmed, upper
             case), e.g. "TF" and "TF";
        0.5  else if they share a top-level prefix, the code's first character, e.g. "TF"
             and "TG" (both "T");
        0.0  otherwise (also when either side has no codes);
    j = |K_e ∩ K_p| / |K_e ∪ K_p|, the Jaccard index of the normalised keyword sets
        (NFKC, case-folded, inner whitespace collapsed), 0 when both are empty.

An expert with similarity 0 is still eligible, as a last resort (see the costs), unless
``require_discipline=True``, which admits only experts with ``d > 0``.

Costs (:func:`pair_cost`), integers for the min-cost flow::

    cost = 10 * round(1000 * (1 - s)) + t + (10000 if s == 0 else 0)

where ``t`` in 0..9 is a tie-break, ``9 * current_load // load_cap``, which prefers the
less loaded of two equally similar experts, and the 10000 makes a zero-similarity expert a
last resort. ``Assignment.objective`` is the sum of the costs of the chosen pairs.

Candidates. For each proposal :func:`assign_optimal` keeps the ``max_candidates`` most
similar eligible experts (at least ``needed``). It does not score every expert: only those
sharing a normalised keyword get an individual score (inverted index); every other expert
scores exactly 0.6 (same code), 0.3 (same prefix) or 0, so those tiers are sampled, at most
``max_candidates`` each and only when the better ones do not already fill the list. The
similarities kept are exactly the best ``max_candidates`` of scoring everyone (tested);
among equal scores the choice spreads proposals over the tier and prefers experts with
more load left. Ties are broken by a jitter below 1e-7, smaller than the gap between any
two distinct similarities while keyword lists stay under about 1,000 words.

Exactness of :func:`assign_optimal`:

* The number of reviewers placed is the MAXIMUM possible over the FULL eligibility graph,
  not only the pruned one: after solving, an augmenting-path search over every eligible
  (proposal, expert) pair either finds more reviewers to place (the arcs it used are added
  and the flow is solved again) or proves that none can be placed
  (``explanation["max_flow_certified"]``).
* The cost is the exact minimum over the CANDIDATE graph (min-cost max-flow is solved
  exactly by OR-Tools). Pruning to the ``max_candidates`` most similar experts per proposal
  can in principle miss a cheaper assignment; :func:`optimality_gap` measures it on a given
  instance against the unpruned graph (``max_candidates=None``), and ``bench/assign.py``
  reports it. With ``max_candidates=None`` the result is optimal, full stop.

Which proposals stay short when not all can be served is decided by cost; every shortfall
is listed in ``Assignment.unfilled`` with a reason in ``Assignment.unfilled_reasons`` (and
in ``explanation["unfilled"]`` with the counts behind it): 可用专家不足 (fewer available
experts than needed at all), 冲突回避后可用专家不足 (fewer than needed once conflicts are
avoided; 本学科 when ``require_discipline``), else 专家负荷已满 (enough eligible experts,
but their load is used up, by earlier reviews or by other proposals of this run).
"""

from __future__ import annotations

import itertools
import random
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from ortools.graph.python import min_cost_flow

__all__ = [
    "CONFLICT_LABELS",
    "REASON_CONFLICTS",
    "REASON_DISCIPLINE",
    "REASON_LOAD",
    "REASON_POOL",
    "Assignment",
    "Conflicts",
    "Expert",
    "GapReport",
    "Proposal",
    "assign_optimal",
    "check",
    "conflict_reasons",
    "draw_random",
    "explain",
    "optimality_gap",
    "pair_cost",
    "similarity",
]

W_DISCIPLINE: Final = 0.6
W_KEYWORD: Final = 0.4
PREFIX_MATCH: Final = 0.5  # d for a shared top-level prefix only
COST_SCALE: Final = 1000
TIE_STEPS: Final = 10
LAST_RESORT: Final = 10 * COST_SCALE

CONFLICT_LABELS: Final[dict[str, str]] = {
    "same_org": "同单位",
    "declared": "申报人或专家声明回避",
    "near_relative": "近亲属",
    "teacher_student": "师生关系",
    "joint_work": "近三年合作（项目、论文、专利）",
    "same_call": "申报同一批次",
    "sanctioned": "科研失信处理期内",
    "already_assigned": "已邀请过该专家",
}

REASON_POOL: Final = "可用专家不足"
REASON_CONFLICTS: Final = "冲突回避后可用专家不足"
REASON_DISCIPLINE: Final = "冲突回避后本学科可用专家不足"
REASON_LOAD: Final = "专家负荷已满"

_NEG: Final = -np.inf
_JITTER: Final = 1e-7  # far below the smallest gap between two distinct similarities


@dataclass(frozen=True, slots=True)
class Expert:
    id: int
    org_id: int | None
    disciplines: tuple[str, ...]
    keywords: tuple[str, ...]
    load_cap: int
    current_load: int = 0
    available: bool = True


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    org_ids: frozenset[int]  # the applicant's organisation and the team members'
    disciplines: tuple[str, ...]
    keywords: tuple[str, ...]
    needed: int  # reviewers still needed


ConflictFn = Callable[[int, int], Iterable[str] | None]
Conflicts = Mapping[tuple[int, int], Sequence[str]] | ConflictFn | None


@dataclass
class Assignment:
    pairs: list[tuple[int, int]]  # (proposal id, expert id), sorted
    unfilled: dict[int, int]  # proposal id -> reviewers missing
    objective: int  # sum of pair costs
    explanation: dict[str, Any]  # counts and details, JSON-serialisable (string keys)
    reserves: dict[int, list[int]] = field(default_factory=dict)  # 备选, in call order
    unfilled_reasons: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GapReport:
    pruned_objective: int
    exact_objective: int
    pruned_filled: int
    exact_filled: int
    gap: float  # (pruned - exact) / exact; 0.0 when both are 0
    pruned_seconds: float
    exact_seconds: float
    pruned_arcs: int
    exact_arcs: int


# --- normalisation and the reference similarity --------------------------------------

def _code(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().upper()


def _keyword(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _codes(values: Iterable[str]) -> frozenset[str]:
    return frozenset(c for c in map(_code, values) if c)


def _keywords(values: Iterable[str]) -> frozenset[str]:
    return frozenset(k for k in map(_keyword, values) if k)


def _prefixes(codes: frozenset[str]) -> frozenset[str]:
    return frozenset(c[0] for c in codes)


def _parts(expert: Expert, proposal: Proposal) -> tuple[float, float, dict[str, list[str]]]:
    e_codes, p_codes = _codes(expert.disciplines), _codes(proposal.disciplines)
    e_kw, p_kw = _keywords(expert.keywords), _keywords(proposal.keywords)
    shared_codes = e_codes & p_codes
    shared_prefixes = _prefixes(e_codes) & _prefixes(p_codes)
    d = 1.0 if shared_codes else PREFIX_MATCH if shared_prefixes else 0.0
    inter, union = len(e_kw & p_kw), len(e_kw | p_kw)
    j = inter / union if union else 0.0
    shared = {"codes": sorted(shared_codes), "prefixes": sorted(shared_prefixes),
              "keywords": sorted(e_kw & p_kw)}
    return d, j, shared


def similarity(expert: Expert, proposal: Proposal) -> float:
    """``0.6 * d + 0.4 * j`` in [0, 1]; see the module docstring."""
    d, j, _ = _parts(expert, proposal)
    # Same operations in the same order as the vectorised scorer, so the floats agree.
    return W_DISCIPLINE * d + W_KEYWORD * j


def _tie(expert: Expert) -> int:
    if expert.load_cap <= 0:
        return TIE_STEPS - 1
    return min(TIE_STEPS - 1, max(0, (TIE_STEPS - 1) * expert.current_load // expert.load_cap))


def pair_cost(expert: Expert, proposal: Proposal) -> int:
    """The flow cost of one pair (lower is better); see the module docstring."""
    s = similarity(expert, proposal)
    return TIE_STEPS * round(COST_SCALE * (1.0 - s)) + _tie(expert) + (
        LAST_RESORT if s <= 0.0 else 0)


def _given(conflicts: Conflicts, proposal_id: int, expert_id: int) -> list[str]:
    if conflicts is None:
        return []
    if isinstance(conflicts, Mapping):
        return list(conflicts.get((proposal_id, expert_id)) or ())
    return list(conflicts(proposal_id, expert_id) or ())


def conflict_reasons(expert: Expert, proposal: Proposal, conflicts: Conflicts) -> list[str]:
    """The conflict codes of one pair, ``same_org`` first when it applies; empty: none."""
    found: list[str] = []
    if expert.org_id is not None and expert.org_id in proposal.org_ids:
        found.append("same_org")
    for code in _given(conflicts, proposal.id, expert.id):
        if code and code not in found:
            found.append(code)
    return found


def _label(code: str) -> str:
    return CONFLICT_LABELS.get(code, f"其他回避（{code}）")


# --- the indexed pool ----------------------------------------------------------------

def _sorted_unique(items: Iterable[Any], what: str) -> list[Any]:
    rows = sorted(items, key=lambda x: x.id)
    for a, b in itertools.pairwise(rows):
        if a.id == b.id:
            raise ValueError(f"duplicate {what} id {a.id}")
    return rows


def _index_lists(lists: dict[Any, list[int]]) -> dict[Any, np.ndarray]:
    return {k: np.asarray(v, dtype=np.intp) for k, v in lists.items()}


class _Pool:
    """Experts and proposals sorted by id, with inverted indexes for vectorised scoring."""

    def __init__(self, proposals: Iterable[Proposal], experts: Iterable[Expert],
                 conflicts: Conflicts, require_discipline: bool) -> None:
        self.experts: list[Expert] = _sorted_unique(experts, "expert")
        self.proposals: list[Proposal] = _sorted_unique(proposals, "proposal")
        for p in self.proposals:
            if p.needed < 0:
                raise ValueError(f"proposal {p.id}: needed must not be negative")
        self.require_discipline = require_discipline
        n_e = len(self.experts)
        self.e_index = {e.id: i for i, e in enumerate(self.experts)}
        self.p_index = {p.id: i for i, p in enumerate(self.proposals)}
        self.available = np.fromiter((e.available for e in self.experts), bool, n_e)
        self.spare = np.fromiter((max(0, e.load_cap - e.current_load) for e in self.experts),
                                 np.int64, n_e)
        self.tie = np.fromiter((_tie(e) for e in self.experts), np.int64, n_e)
        self.need = np.fromiter((p.needed for p in self.proposals), np.int64,
                                len(self.proposals))
        codes: dict[str, list[int]] = {}
        prefixes: dict[str, list[int]] = {}
        words: dict[str, list[int]] = {}
        orgs: dict[int, list[int]] = {}
        n_kw = np.zeros(n_e, dtype=np.float64)
        self.e_codes = [_codes(e.disciplines) for e in self.experts]
        self.e_words = [_keywords(e.keywords) for e in self.experts]
        for i, e in enumerate(self.experts):
            if e.org_id is not None:
                orgs.setdefault(e.org_id, []).append(i)
            if not e.available:  # never scored: the template keeps them at -inf
                continue
            e_codes, e_kw = self.e_codes[i], self.e_words[i]
            n_kw[i] = len(e_kw)
            for c in e_codes:
                codes.setdefault(c, []).append(i)
            for c in _prefixes(e_codes):
                prefixes.setdefault(c, []).append(i)
            for k in e_kw:
                words.setdefault(k, []).append(i)
        self.n_kw = n_kw
        self.code_pool = _index_lists(codes)
        self.prefix_pool = _index_lists(prefixes)
        self.word_pool = _index_lists(words)
        self.org_pool = _index_lists(orgs)
        self.full = np.flatnonzero(self.available & (self.spare <= 0))
        self.room = self.available & (self.spare > 0)
        # Scratch arrays, reset by each user to these values after use. ``_bad``: no load
        # left or unavailable, plus (while a proposal is handled) its conflicted experts.
        self._bad = ~self.room
        self._mark = np.zeros(n_e, dtype=bool)
        self._masks: dict[tuple[str, str], np.ndarray] = {}
        self._unions: dict[tuple[str, frozenset[str]], np.ndarray] = {}
        start = _NEG if require_discipline else 0.0
        self.template = np.where(self.available, start, _NEG)
        self.p_codes = [_codes(p.disciplines) for p in self.proposals]
        self.p_prefixes = [_prefixes(c) for c in self.p_codes]
        self.p_words = [_keywords(p.keywords) for p in self.proposals]
        self.blocked, self.declared_pairs = self._blocked(conflicts)
        self.same_org_pairs = sum(
            int(self.org_pool[o].size) for p in self.proposals for o in p.org_ids
            if o in self.org_pool)

    def _blocked(self, conflicts: Conflicts) -> tuple[dict[int, np.ndarray], int]:
        lists: dict[int, list[int]] = {}
        if conflicts is None:
            pass
        elif isinstance(conflicts, Mapping):
            for key, codes in conflicts.items():
                if not codes:
                    continue
                pi, ei = self.p_index.get(key[0]), self.e_index.get(key[1])
                if pi is not None and ei is not None:
                    lists.setdefault(pi, []).append(ei)
        else:
            for pi, p in enumerate(self.proposals):
                for ei, e in enumerate(self.experts):
                    if list(conflicts(p.id, e.id) or ()):
                        lists.setdefault(pi, []).append(ei)
        return _index_lists(lists), sum(len(v) for v in lists.values())

    def scores(self, pi: int, with_capacity: bool = True) -> np.ndarray:
        """Similarity to every expert, ``-inf`` where the pair is not eligible."""
        s: np.ndarray = self.template.copy()
        for c in self.p_prefixes[pi]:
            idx = self.prefix_pool.get(c)
            if idx is not None:
                s[idx] = W_DISCIPLINE * PREFIX_MATCH
        for c in self.p_codes[pi]:
            idx = self.code_pool.get(c)
            if idx is not None:
                s[idx] = W_DISCIPLINE * 1.0
        words = self.p_words[pi]
        hits = [self.word_pool[k] for k in words if k in self.word_pool]
        if hits:
            count = np.bincount(np.concatenate(hits) if len(hits) > 1 else hits[0],
                                minlength=s.size)
            u = np.flatnonzero(count > 0)
            inter = count[u].astype(np.float64)
            union = len(words) + self.n_kw[u] - inter
            s[u] = s[u] + W_KEYWORD * (inter / union)
        for o in self.proposals[pi].org_ids:
            idx = self.org_pool.get(o)
            if idx is not None:
                s[idx] = _NEG
        idx = self.blocked.get(pi)
        if idx is not None:
            s[idx] = _NEG
        if with_capacity and self.full.size:
            s[self.full] = _NEG
        return s

    def union(self, kind: str, keys: frozenset[str]) -> np.ndarray:
        """Sorted indices of the available experts holding any of these codes/prefixes."""
        got = self._unions.get((kind, keys))
        if got is None:
            pools = self.code_pool if kind == "code" else self.prefix_pool
            parts = [pools[k] for k in keys if k in pools]
            got = (np.zeros(0, dtype=np.intp) if not parts else parts[0] if len(parts) == 1
                   else np.unique(np.concatenate(parts)))
            self._unions[(kind, keys)] = got
        return got

    def _holds(self, kind: str, keys: frozenset[str], idx: np.ndarray) -> np.ndarray:
        """Which experts ``idx`` hold any of these codes (or prefixes)."""
        out = np.zeros(idx.size, dtype=bool)
        pools = self.code_pool if kind == "code" else self.prefix_pool
        for key in keys:
            if key not in pools:
                continue
            mask = self._masks.get((kind, key))
            if mask is None:  # one byte per expert, per code asked about
                mask = np.zeros(len(self.experts), dtype=bool)
                mask[pools[key]] = True
                self._masks[(kind, key)] = mask
            out |= mask[idx]
        return out

    def _conflicted(self, pi: int, on: bool) -> None:
        """Mark the proposal's conflicted experts in ``_bad`` (``on``), or restore it."""
        parts = [self.org_pool[o] for o in self.proposals[pi].org_ids if o in self.org_pool]
        idx = self.blocked.get(pi)
        if idx is not None:
            parts.append(idx)
        for part in parts:
            self._bad[part] = True if on else ~self.room[part]

    def top(self, pi: int, k: int, jitter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar eligible experts and their similarities, without scoring
        every expert: the same scores as the top ``k`` of :meth:`scores` (ties aside).

        Every expert outside the keyword matches scores exactly 0.6 (same code), 0.3 (same
        prefix) or 0, so those tiers are only sampled, ``k`` at most each, and only when
        the better ones do not already give ``k``."""
        bad, mark = self._bad, self._mark
        self._conflicted(pi, True)
        try:
            words = self.p_words[pi]
            hits = [self.word_pool[w] for w in words if w in self.word_pool]
            if hits:
                count = np.bincount(np.concatenate(hits) if len(hits) > 1 else hits[0],
                                    minlength=bad.size)
                count[bad] = 0
                u = np.flatnonzero(count > 0)
                inter = count[u].astype(np.float64)
                d = np.where(self._holds("code", self.p_codes[pi], u), W_DISCIPLINE * 1.0,
                             np.where(self._holds("prefix", self.p_prefixes[pi], u),
                                      W_DISCIPLINE * PREFIX_MATCH, 0.0))
                union = len(words) + self.n_kw[u] - inter
                s = d + W_KEYWORD * (inter / union)
                if self.require_discipline:
                    u, s = u[d > 0], s[d > 0]
            else:
                u, s = np.zeros(0, dtype=np.intp), np.zeros(0)
            idx_parts, s_parts = [u], [s]
            mark[u] = True
            taken = 0  # experts taken from the tiers so far
            for level, kind in ((W_DISCIPLINE * 1.0, "code"),
                                (W_DISCIPLINE * PREFIX_MATCH, "prefix"), (0.0, "")):
                if int(np.count_nonzero(s > level)) + taken >= k:
                    break
                if kind:
                    pool = self.union(kind, self.p_prefixes[pi] if kind == "prefix"
                                      else self.p_codes[pi])
                    tier = pool[~(bad[pool] | mark[pool])]
                elif self.require_discipline:
                    break
                else:
                    outside = ~(bad | mark)
                    outside[self.union("prefix", self.p_prefixes[pi])] = False
                    tier = np.flatnonzero(outside)
                if tier.size > k:
                    # Equal scores: a window at an offset that moves with the proposal
                    # spreads the proposals over the whole tier.
                    start = (pi * 7919) % tier.size
                    tier = np.roll(tier, -start)[:k]
                mark[tier] = True
                taken += tier.size
                idx_parts.append(tier)
                s_parts.append(np.full(tier.size, level))
            idx = np.concatenate(idx_parts) if len(idx_parts) > 1 else u
            val = np.concatenate(s_parts) if len(s_parts) > 1 else s
            mark[idx] = False
        finally:
            self._conflicted(pi, False)
        if idx.size > k:
            best = np.argpartition(-(val + jitter[idx]), k - 1)[:k]
            idx, val = idx[best], val[best]
        return idx, val

    def pair_similarity(self, pi: int, ei: int) -> float:
        """:func:`similarity` from the normalised sets kept here."""
        e_codes, p_codes = self.e_codes[ei], self.p_codes[pi]
        d = 1.0 if e_codes & p_codes else PREFIX_MATCH if (
            _prefixes(e_codes) & self.p_prefixes[pi]) else 0.0
        e_kw, p_kw = self.e_words[ei], self.p_words[pi]
        union = len(e_kw | p_kw)
        j = len(e_kw & p_kw) / union if union else 0.0
        return W_DISCIPLINE * d + W_KEYWORD * j

    def costs(self, exp_idx: np.ndarray, score: np.ndarray) -> np.ndarray:
        base = np.rint(COST_SCALE * (1.0 - score)).astype(np.int64)
        out: np.ndarray = TIE_STEPS * base + self.tie[exp_idx]
        out[score <= 0.0] += LAST_RESORT
        return out

    def shortfall(self, pi: int) -> dict[str, Any]:
        """Why a proposal could not get all its reviewers, with the counts behind it."""
        s = self.scores(pi, with_capacity=False)
        ok = s > _NEG
        need = int(self.need[pi])
        eligible = int(np.count_nonzero(ok))
        with_load = int(np.count_nonzero(ok & (self.spare > 0)))
        if int(np.count_nonzero(self.available)) < need:
            reason = REASON_POOL
        elif eligible < need:
            reason = REASON_DISCIPLINE if self.require_discipline else REASON_CONFLICTS
        else:
            reason = REASON_LOAD
        return {"needed": need, "eligible": eligible, "eligible_with_load_left": with_load,
                "reason": reason}


# --- optimal matching ----------------------------------------------------------------

@dataclass
class _Graph:
    prop: np.ndarray  # proposal index per candidate arc
    exp: np.ndarray  # expert index per candidate arc
    score: np.ndarray  # similarity per candidate arc
    capped: int  # proposals whose candidate list reached the cap (possibly pruned)


def _candidates(pool: _Pool, max_candidates: int | None, seed: int) -> _Graph:
    n_e = len(pool.experts)
    rng = np.random.default_rng(seed)
    rows = max(1, min(64, len(pool.proposals)))
    # Ties (many experts at exactly 0.6, or at 0) are broken towards spare load and then
    # at random, so that proposals do not all crowd onto the same few fallback experts.
    spare_share = pool.spare / max(1, int(pool.spare.max(initial=1)))
    jitter = _JITTER * (0.5 * spare_share + 0.5 * rng.random((rows, n_e)))
    props: list[np.ndarray] = []
    exps: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    capped = 0
    for pi in range(len(pool.proposals)):
        need = int(pool.need[pi])
        if need <= 0:
            continue
        k = n_e if max_candidates is None else max(max_candidates, need)
        if k >= n_e:
            s = pool.scores(pi)
            cand = np.flatnonzero(s > _NEG)
            val = s[cand]
        else:
            cand, val = pool.top(pi, k, jitter[pi % rows])
            capped += cand.size == k
        if cand.size:
            props.append(np.full(cand.size, pi, dtype=np.intp))
            exps.append(cand)
            scores.append(val)
    if not props:
        empty = np.zeros(0, dtype=np.intp)
        return _Graph(empty, empty, np.zeros(0), capped)
    return _Graph(np.concatenate(props), np.concatenate(exps), np.concatenate(scores), capped)


def _solve(pool: _Pool, graph: _Graph) -> tuple[np.ndarray, int]:
    """Max flow at min cost on the candidate graph: (flow per candidate arc, cost)."""
    n_p = len(pool.proposals)
    props = np.flatnonzero(pool.need > 0)
    exps = np.flatnonzero(pool.available & (pool.spare > 0))
    total = int(pool.need[props].sum())
    if total == 0 or graph.prop.size == 0:
        return np.zeros(graph.prop.size, dtype=bool), 0
    source, sink, p0, e0 = 0, 1, 2, 2 + n_p
    tails = np.concatenate([np.full(props.size, source), p0 + graph.prop, e0 + exps])
    heads = np.concatenate([p0 + props, e0 + graph.exp, np.full(exps.size, sink)])
    caps = np.concatenate([pool.need[props], np.ones(graph.prop.size, dtype=np.int64),
                           pool.spare[exps]])
    costs = np.concatenate([np.zeros(props.size, dtype=np.int64),
                            pool.costs(graph.exp, graph.score),
                            np.zeros(exps.size, dtype=np.int64)])
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64),
        costs.astype(np.int64))
    flow.set_nodes_supplies(np.array([source, sink], dtype=np.int32),
                            np.array([total, -total], dtype=np.int64))
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed: {status}")
    first = props.size
    arcs = np.arange(first, first + graph.prop.size, dtype=np.int32)
    used = np.asarray(flow.flows(arcs)) > 0
    return used, int(flow.optimal_cost())


def _with_arcs(pool: _Pool, graph: _Graph, pairs: list[tuple[int, int]]) -> _Graph:
    ps = np.fromiter((p for p, _ in pairs), np.intp, len(pairs))
    es = np.fromiter((e for _, e in pairs), np.intp, len(pairs))
    scores: dict[int, np.ndarray] = {}
    sc = np.empty(len(pairs), dtype=np.float64)
    for i, (p, e) in enumerate(pairs):
        if p not in scores:
            scores[p] = pool.scores(p)
        sc[i] = scores[p][e]
    return _Graph(np.concatenate([graph.prop, ps]), np.concatenate([graph.exp, es]),
                  np.concatenate([graph.score, sc]), graph.capped)


def _residual(pool: _Pool, graph: _Graph, used: np.ndarray) -> np.ndarray:
    load = np.bincount(graph.exp[used], minlength=len(pool.experts))
    residual: np.ndarray = np.where(pool.room, pool.spare - load, 0)
    return residual


def _short(pool: _Pool, graph: _Graph, used: np.ndarray) -> np.ndarray:
    counts = np.bincount(graph.prop[used], minlength=len(pool.proposals))
    short: np.ndarray = np.flatnonzero(counts < pool.need)
    return short


def _extension(pool: _Pool, graph: _Graph, used: np.ndarray, k: int
               ) -> list[tuple[int, int]]:
    """New arcs from each short proposal to its best eligible experts with load left."""
    short = _short(pool, graph, used)
    free = _residual(pool, graph, used) > 0
    if not short.size or not free.any():
        return []
    counts = np.bincount(graph.prop[used], minlength=len(pool.proposals))
    existing: dict[int, list[int]] = {}
    sel = np.isin(graph.prop, short)
    for p, e in zip(graph.prop[sel].tolist(), graph.exp[sel].tolist(), strict=True):
        existing.setdefault(p, []).append(e)
    out: list[tuple[int, int]] = []
    for pi in short.tolist():
        s = pool.scores(pi)
        s[~free] = _NEG
        s[existing.get(pi, [])] = _NEG
        cand = np.flatnonzero(s > _NEG)
        m = max(k, 2 * int(pool.need[pi] - counts[pi]))
        if cand.size > m:
            cand = cand[np.argpartition(-s[cand], m - 1)[:m]]
        out.extend((pi, int(e)) for e in cand.tolist())
    return out


def _augmenting_arcs(pool: _Pool, graph: _Graph, used: np.ndarray, k: int
                     ) -> list[tuple[int, int]]:
    """Arcs missing from the candidate graph that open augmenting paths in the FULL graph.

    Breadth-first search of the residual network from the short proposals: forward along
    an eligible pair not in the flow, backward from an expert to a proposal holding it.
    When some path reaches an expert with load left, the answer is the whole search tree
    (one arc per expert reached) plus, for every proposal reached, arcs to up to ``k`` of
    its best experts with load left: enough for the next solve to place many reviewers at
    once. An empty answer is the proof that no more reviewers can be placed."""
    residual = _residual(pool, graph, used)
    short = _short(pool, graph, used)
    if not short.size or not (residual > 0).any():
        return []
    n_p, n_e = len(pool.proposals), len(pool.experts)
    assigned: dict[int, list[int]] = {}
    holders: dict[int, list[int]] = {}
    for p, e in zip(graph.prop[used].tolist(), graph.exp[used].tolist(), strict=True):
        assigned.setdefault(p, []).append(e)
        holders.setdefault(e, []).append(p)
    from_prop = np.full(n_e, -1, dtype=np.intp)  # expert reached from which proposal
    seen = np.zeros(n_p, dtype=bool)
    seen[short] = True
    queue = deque(short.tolist())
    found = False
    have_room = residual > 0
    to_room: list[tuple[int, int]] = []
    while queue:
        p = queue.popleft()
        s = pool.scores(p)
        s[assigned.get(p, [])] = _NEG
        ok = s > _NEG
        room = np.flatnonzero(ok & have_room)
        if room.size:
            found = True
            if room.size > k:
                room = room[np.argpartition(-s[room], k - 1)[:k]]
            to_room.extend((p, int(e)) for e in room.tolist())
        new = np.flatnonzero(ok & (from_prop < 0))
        from_prop[new] = p
        for e in new[~have_room[new]].tolist():
            for q in holders.get(e, ()):
                if not seen[q]:
                    seen[q] = True
                    queue.append(q)
    if not found:
        return []
    have = set(zip(graph.prop.tolist(), graph.exp.tolist(), strict=True))
    reached = np.flatnonzero(from_prop >= 0)
    arcs = dict.fromkeys(pe for pe in zip(from_prop[reached].tolist(), reached.tolist(),
                                          strict=True) if pe not in have)
    arcs.update(dict.fromkeys(pe for pe in to_room if pe not in have))
    return list(arcs)


def _reserves(pool: _Pool, graph: _Graph, used: np.ndarray, reserves: int
              ) -> dict[int, list[int]]:
    """Per proposal, its most similar candidates not chosen that still have load left."""
    if reserves <= 0 or not graph.prop.size:
        return {}
    free = _residual(pool, graph, used) > 0
    idx = np.flatnonzero(~used & free[graph.exp])
    idx = idx[np.lexsort((graph.exp[idx], -graph.score[idx], graph.prop[idx]))]
    props = graph.prop[idx]
    _, start, size = np.unique(props, return_index=True, return_counts=True)
    rank = np.arange(idx.size) - np.repeat(start, size)
    keep = idx[rank < reserves]
    out: dict[int, list[int]] = {p.id: [] for p, n in zip(pool.proposals, pool.need.tolist(),
                                                             strict=True) if n > 0}
    for p, e in zip(graph.prop[keep].tolist(), graph.exp[keep].tolist(), strict=True):
        out[pool.proposals[p].id].append(pool.experts[e].id)
    return out


def _result(pool: _Pool, prop: np.ndarray, exp: np.ndarray, score: np.ndarray,
            objective: int, explanation: dict[str, Any],
            reserves: dict[int, list[int]] | None = None) -> Assignment:
    counts = np.bincount(prop, minlength=len(pool.proposals)) if prop.size else \
        np.zeros(len(pool.proposals), dtype=np.int64)
    pairs = sorted(zip((pool.proposals[p].id for p in prop.tolist()),
                       (pool.experts[e].id for e in exp.tolist()), strict=True))
    unfilled: dict[int, int] = {}
    reasons: dict[int, str] = {}
    detail: dict[str, Any] = {}
    for pi in np.flatnonzero(counts < pool.need).tolist():
        pid = pool.proposals[pi].id
        missing = int(pool.need[pi] - counts[pi])
        unfilled[pid] = missing
        info = pool.shortfall(pi)
        reasons[pid] = info["reason"]
        detail[str(pid)] = {**info, "assigned": int(counts[pi]), "missing": missing}
    explanation.update({
        "proposals": len(pool.proposals),
        "experts": len(pool.experts),
        "experts_available": int(np.count_nonzero(pool.available)),
        "experts_with_load_left": int(np.count_nonzero(pool.available & (pool.spare > 0))),
        "reviewers_needed": int(pool.need.sum()),
        "pairs": len(pairs),
        "proposals_filled": int(np.count_nonzero((counts >= pool.need) & (pool.need > 0))),
        "unfilled_proposals": len(unfilled),
        "unfilled_reviewers": sum(unfilled.values()),
        "unfilled": detail,
        "conflict_pairs_same_org": pool.same_org_pairs,
        "conflict_pairs_given": pool.declared_pairs,
        "similarity_mean": round(float(score.mean()), 4) if score.size else 0.0,
        "similarity_min": round(float(score.min()), 4) if score.size else 0.0,
        "last_resort_pairs": int(np.count_nonzero(score <= 0.0)),
        "objective": objective,
    })
    return Assignment(pairs=pairs, unfilled=unfilled, objective=objective,
                      explanation=explanation, reserves=reserves or {},
                      unfilled_reasons=reasons)


def assign_optimal(proposals: Iterable[Proposal], experts: Iterable[Expert],
                   conflicts: Conflicts, *, max_candidates: int | None = 60,
                   require_discipline: bool = False, seed: int = 0,
                   reserves: int = 2) -> Assignment:
    """Give every proposal its reviewers at the least total cost (min-cost max-flow).

    Network: source → proposal (capacity ``needed``) → expert (capacity 1, cost
    :func:`pair_cost`) → sink (capacity ``load_cap - current_load``). Each proposal keeps
    its ``max(max_candidates, needed)`` most similar eligible experts as candidates
    (``None``: all of them, the exact but dense graph). The flow is maximised first, then
    its cost minimised; then an augmenting-path search over ALL eligible pairs proves the
    number placed is the maximum (or places more and solves again). The cost is exact on
    the candidate graph; see the module docstring for the pruning caveat. ``seed`` only
    breaks ties among equally similar experts when pruning; the result is deterministic
    and independent of the input order. ``reserves`` reserve experts (备选) per proposal
    are its most similar candidates not chosen that still have load left after this run
    (fewer when there are none; they hold no load).
    """
    if reserves < 0:
        raise ValueError("reserves must not be negative")
    if max_candidates is not None and max_candidates < 1:
        raise ValueError("max_candidates must be at least 1 (or None for no pruning)")
    t0 = time.perf_counter()
    pool = _Pool(proposals, experts, conflicts, require_discipline)
    t1 = time.perf_counter()
    graph = _candidates(pool, max_candidates, seed)
    t2 = time.perf_counter()
    used, objective = _solve(pool, graph)
    t3 = time.perf_counter()
    placed = int(np.count_nonzero(used))
    rounds, added, certified = 0, 0, max_candidates is None or placed == int(pool.need.sum())
    if not certified:
        # Widen the short proposals' lists to experts with load left (cheap, usually
        # enough), then follow augmenting paths through the full graph until none is left.
        extend: list[tuple[int, int]] = _extension(pool, graph, used, max_candidates or 1)
        while True:
            arcs = extend or _augmenting_arcs(pool, graph, used, max_candidates or 1)
            extend = []
            if not arcs:
                certified = True
                break
            graph = _with_arcs(pool, graph, arcs)
            rounds += 1
            added += len(arcs)
            used, objective = _solve(pool, graph)
            if int(np.count_nonzero(used)) == int(pool.need.sum()):
                certified = True
                break
    t4 = time.perf_counter()
    explanation: dict[str, Any] = {
        "mode": "optimal",
        "max_candidates": max_candidates,
        "require_discipline": require_discipline,
        "candidate_arcs": int(graph.prop.size),
        "proposals_at_candidate_cap": graph.capped,
        "repair_rounds": rounds,
        "repair_arcs": added,
        "repaired_reviewers": int(np.count_nonzero(used)) - placed,
        "max_flow_certified": certified,
        "cost_exact": max_candidates is None or graph.capped == 0,
        "seconds": {"index": round(t1 - t0, 4), "candidates": round(t2 - t1, 4),
                    "solve": round(t3 - t2, 4), "repair": round(t4 - t3, 4)},
    }
    backups = _reserves(pool, graph, used, reserves)
    explanation["reserves_per_proposal"] = reserves
    explanation["reserves_short"] = {str(p): reserves - len(b) for p, b in backups.items()
                                     if len(b) < reserves}
    return _result(pool, graph.prop[used], graph.exp[used], graph.score[used], objective,
                   explanation, backups)


def optimality_gap(proposals: Sequence[Proposal], experts: Sequence[Expert],
                   conflicts: Conflicts, *, max_candidates: int = 60,
                   require_discipline: bool = False, seed: int = 0) -> GapReport:
    """Solve with pruning and without (every eligible pair an arc) and compare.

    The unpruned solve has ``proposals × experts`` arcs: use it on instances of a few
    thousand proposals at most."""
    t0 = time.perf_counter()
    pruned = assign_optimal(proposals, experts, conflicts, max_candidates=max_candidates,
                            require_discipline=require_discipline, seed=seed)
    t1 = time.perf_counter()
    exact = assign_optimal(proposals, experts, conflicts, max_candidates=None,
                           require_discipline=require_discipline, seed=seed)
    t2 = time.perf_counter()
    gap = 0.0 if exact.objective == pruned.objective else (
        (pruned.objective - exact.objective) / exact.objective if exact.objective else
        float("inf"))
    return GapReport(pruned_objective=pruned.objective, exact_objective=exact.objective,
                     pruned_filled=len(pruned.pairs), exact_filled=len(exact.pairs), gap=gap,
                     pruned_seconds=t1 - t0, exact_seconds=t2 - t1,
                     pruned_arcs=int(pruned.explanation["candidate_arcs"]),
                     exact_arcs=int(exact.explanation["candidate_arcs"]))


# --- the random draw -----------------------------------------------------------------

def _lottery(rng: random.Random, idx: np.ndarray) -> list[int]:
    """``idx`` (ascending expert indices) in the order of one fresh lottery number each."""
    keyed = [(rng.random(), i) for i in idx.tolist()]
    keyed.sort()
    return [i for _, i in keyed]


def _draw(rng: random.Random, idx: np.ndarray, m: int) -> list[int]:
    """Up to ``m`` distinct members of ``idx`` (ascending) in the order drawn, uniformly at
    random. Only ``rng.random()`` is used, whose output Python keeps stable."""
    n = int(idx.size)
    if m <= 0 or n == 0:
        return []
    if 4 * m >= n:  # most of the pool: a lottery number each
        return _lottery(rng, idx)[:m]
    picked: list[int] = []
    seen: set[int] = set()
    while len(picked) < m:
        i = int(rng.random() * n)
        if i not in seen:
            seen.add(i)
            picked.append(int(idx[i]))
    return picked


def draw_random(proposals: Iterable[Proposal], experts: Iterable[Expert],
                conflicts: Conflicts, *, seed: int, reserves: int = 2,
                require_discipline: bool = False) -> Assignment:
    """The bureau's random draw (随机抽取), reproducible from ``seed``.

    Proposals are taken in an order drawn from the seed (not by id, so that no proposal
    always picks first). For each, the pool is the eligible experts with load left who
    share at least the top-level discipline prefix; ``needed`` experts are drawn from it
    uniformly at random, then ``reserves`` reserve experts (备选) from what is left of it.
    Only when that pool is too small are the remaining places (chosen, then reserves)
    drawn from all other eligible experts, which the explanation records (``fallback``,
    ``reserves_outside_field``); ``require_discipline=True`` forbids this. Reserves are
    conflict-free and distinct from the chosen, but hold no load: the caller checks the load
    again when a reserve is called up.

    Every random number comes from ``random.Random`` seeded with a string built from the
    seed and the proposal id; inputs are sorted by id first, so the order they are passed
    in does not matter. Same inputs and seed, same draw.
    """
    if reserves < 0:
        raise ValueError("reserves must not be negative")
    pool = _Pool(proposals, experts, conflicts, require_discipline)
    remaining = pool.spare.copy()
    remaining[~pool.available] = 0
    # Not for secrecy: the draw must be reproducible by anyone holding the seed.
    order_rng = random.Random(f"kjflow-draw:{seed}:order")  # noqa: S311
    order = sorted((order_rng.random(), pi) for pi in range(len(pool.proposals)))
    props: list[int] = []
    exps: list[int] = []
    sims: list[float] = []
    reserve_ids: dict[int, list[int]] = {}
    fallback: dict[str, str] = {}
    reserve_short: dict[str, int] = {}
    reserves_outside: dict[str, int] = {}
    bad = pool._bad
    for _, pi in order:
        need = int(pool.need[pi])
        if need <= 0:
            continue
        p = pool.proposals[pi]
        rng = random.Random(f"kjflow-draw:{seed}:{p.id}")  # noqa: S311
        field_pool = pool.union("prefix", pool.p_prefixes[pi])
        pool._conflicted(pi, True)
        try:
            inside = field_pool[(remaining[field_pool] > 0) & ~bad[field_pool]]
            drawn = _draw(rng, inside, need + reserves)
            outside: list[int] = []
            if len(drawn) < need + reserves and not require_discipline:
                others = (remaining > 0) & ~bad
                others[field_pool] = False
                outside = _draw(rng, np.flatnonzero(others), need + reserves - len(drawn))
        finally:
            pool._conflicted(pi, False)
        chosen, backup = drawn[:need], drawn[need:]
        if len(chosen) < need and outside:
            took = outside[:need - len(chosen)]
            outside = outside[len(took):]
            chosen = chosen + took
            prefixes = "、".join(sorted(pool.p_prefixes[pi])) or "未填"
            fallback[str(p.id)] = (f"本学科（{prefixes}）可用专家{inside.size}人，不足{need}人，"
                                   f"已从其他符合回避要求的专家中随机补足{len(took)}人")
        if outside:
            reserves_outside[str(p.id)] = len(outside)
            backup = backup + outside
        if len(backup) < reserves:
            reserve_short[str(p.id)] = reserves - len(backup)
        for e in chosen:
            remaining[e] -= 1
            props.append(pi)
            exps.append(e)
            sims.append(pool.pair_similarity(pi, e))
        reserve_ids[p.id] = [pool.experts[e].id for e in backup]
    prop = np.asarray(props, dtype=np.intp)
    exp = np.asarray(exps, dtype=np.intp)
    score = np.asarray(sims, dtype=np.float64)
    objective = int(pool.costs(exp, score).sum()) if exp.size else 0
    explanation: dict[str, Any] = {
        "mode": "random", "seed": seed, "reserves_per_proposal": reserves,
        "require_discipline": require_discipline, "fallback": fallback,
        "reserves_short": reserve_short, "reserves_outside_field": reserves_outside,
    }
    return _result(pool, prop, exp, score, objective, explanation, reserve_ids)


# --- explaining and checking ---------------------------------------------------------

def explain(expert: Expert, proposal: Proposal, conflicts: Conflicts) -> dict[str, Any]:
    """Whether this expert may review this proposal, why not, and how well they match."""
    codes = conflict_reasons(expert, proposal, conflicts)
    d, j, shared = _parts(expert, proposal)
    s = W_DISCIPLINE * d + W_KEYWORD * j
    load_left = max(0, expert.load_cap - expert.current_load)
    may = expert.available and not codes
    if not expert.available:
        summary = "专家暂不可遴选"
    elif codes:
        summary = "需回避：" + "、".join(_label(c) for c in codes)
    else:
        if shared["codes"]:
            field_text = "学科代码相同（" + "、".join(shared["codes"]) + "）"
        elif shared["prefixes"]:
            field_text = "同一学科门类（" + "、".join(shared["prefixes"]) + "）"
        else:
            field_text = "学科不同（仅作兜底）"
        words = "、".join(shared["keywords"]) or "无"
        summary = f"可以评审；{field_text}；共同关键词：{words}；匹配度{s:.2f}"
        if load_left <= 0:
            summary += "；但评审负荷已满"
    return {
        "expert_id": expert.id,
        "proposal_id": proposal.id,
        "may_pair": may,
        "available": expert.available,
        "load_left": load_left,
        "conflicts": [{"code": c, "label": _label(c)} for c in codes],
        "conflict_labels": [_label(c) for c in codes],
        "similarity": s,
        "discipline_score": d,
        "keyword_score": j,
        "shared_disciplines": shared["codes"],
        "shared_discipline_prefixes": shared["prefixes"],
        "shared_keywords": shared["keywords"],
        "cost": pair_cost(expert, proposal),
        "summary": summary,
    }


def check(assignment: Assignment, proposals: Iterable[Proposal], experts: Iterable[Expert],
          conflicts: Conflicts) -> list[str]:
    """Every rule the assignment breaks, one line each; empty when it is sound."""
    props = {p.id: p for p in proposals}
    exps = {e.id: e for e in experts}
    out: list[str] = []
    seen: set[tuple[int, int]] = set()
    per_prop: dict[int, int] = {}
    per_exp: dict[int, int] = {}

    def pair_problems(pid: int, eid: int, what: str) -> bool:
        if pid not in props:
            out.append(f"{what}: unknown proposal {pid}")
            return False
        if eid not in exps:
            out.append(f"{what}: unknown expert {eid}")
            return False
        found = conflict_reasons(exps[eid], props[pid], conflicts)
        if found:
            out.append(f"{what}: conflicted pair proposal {pid} expert {eid} "
                       f"({', '.join(found)})")
        if not exps[eid].available:
            out.append(f"{what}: unavailable expert {eid} for proposal {pid}")
        return True

    for pid, eid in assignment.pairs:
        if (pid, eid) in seen:
            out.append(f"duplicate pair proposal {pid} expert {eid}")
            continue
        seen.add((pid, eid))
        if pair_problems(pid, eid, "pair"):
            per_prop[pid] = per_prop.get(pid, 0) + 1
            per_exp[eid] = per_exp.get(eid, 0) + 1
    for eid, n in sorted(per_exp.items()):
        e = exps[eid]
        if n > max(0, e.load_cap - e.current_load):
            out.append(f"load cap exceeded: expert {eid} has {e.current_load} + {n} "
                       f"> {e.load_cap}")
    for pid, p in sorted(props.items()):
        n = per_prop.get(pid, 0)
        if n > p.needed:
            out.append(f"more than needed: proposal {pid} got {n} > {p.needed}")
        missing = max(0, p.needed - n)
        if assignment.unfilled.get(pid, 0) != missing:
            out.append(f"shortfall misreported: proposal {pid} misses {missing}, "
                       f"unfilled says {assignment.unfilled.get(pid, 0)}")
        if missing and not assignment.unfilled_reasons.get(pid):
            out.append(f"shortfall unexplained: proposal {pid}")
    for pid, backups in sorted(assignment.reserves.items()):
        if len(set(backups)) != len(backups):
            out.append(f"reserve: duplicate reserve for proposal {pid}")
        for eid in backups:
            if (pid, eid) in seen:
                out.append(f"reserve: expert {eid} is both chosen and reserve for {pid}")
            pair_problems(pid, eid, "reserve")
    return out
