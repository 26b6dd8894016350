"""offload-oa: outer approximation of the convex MIQP on HiGHS, part by part (parts.py), slot by slot.

Per part, with s_r = sum_o sqrt(cost[o, r]) z_o the summed square roots on resource r, the slot's objective
is sum_o value_o z_o + refusal * (refused users) - sum_r s_r^2. Each square gets an epigraph variable
theta_r >= s_r^2, and the MILP keeps only tangent cuts theta_r >= 2 s* s_r - s*^2 (below the parabola, so
the MILP over-estimates the objective and its bound is an upper bound on the part's optimum):

1. start with theta_r >= 0 (the cut at s = 0), the cuts at the largest s_r any choice gives (so the MILP is
   bounded), at a few points in between and at the greedy choice's s;
2. solve the MILP (edgeopt.highs.solve_matrix: relative gap 0, stoppable, deadline-aware; a large one in a child
   process killed just past the deadline: edgeopt.highs.solve_by_deadline);
3. price its choice with the truth (slot_value) and keep the best; stop when the MILP's bound and the best
   true value agree within edgeopt's proof tolerance (1e-6 relative, at least absolute; docs/solvers.md), or when the MILP's optimal value (HiGHS proved
   it at gap 0; its dual bound can sit ~1e-7 above by HiGHS's feasibility tolerances) is within that of
   the best true value: then nothing better than the incumbent exists, by HiGHS's proof;
4. otherwise add the tangent cut at the MILP choice's s* for every resource where theta_r < s*_r^2 - tol and
   go to 2. If no cut is new (the MILP's theta already sits on the parabola up to HiGHS's tolerances), the
   MILP's optimum is the true value of a known choice and the loop stops with the gap it has.

The MILP: binary z per option, binary y per loadable (edge, model) pair, theta per resource; one row per
user (sum z <= 1), one per (user, pair) (its options on that pair <= y_pair), one per edge (memory).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from edgeopt.families.offloading.solvers.parts import (FALLBACK_FLOOR, PROOF_TOL, Part, PartAnswer, greedy_choice,
                                                    solve_by_parts)
from edgeopt.highs import solve_by_deadline
from edgeopt.modeling import Model
from edgeopt.registry import register_solver
from edgeopt.result import Status
from edgeopt.solver import Options, Solver, option


def _cut_tol(s: np.ndarray) -> np.ndarray:
    """How far theta may lie below s^2 before a cut is added (relative to s^2, at least 1e-9)."""
    return 1e-9 * np.maximum(1.0, s ** 2)


class Master:
    """The part's MILP (an edgeopt.modeling.Model built from whole arrays) with the cuts added so far."""

    def __init__(self, part: Part) -> None:
        self.part = part
        m = Model(f"oa-slot{part.t}", sense="max")
        O, P, R = part.num_options, part.num_pairs, part.num_resources
        self.z = m.add_variables("z", (O,), ub=1, integer=True)
        self.y = m.add_variables("y", (P,), ub=1, integer=True)
        s_max = part.s_max()
        self.s_max = s_max
        # Each theta_r is kept in units of its largest value s_max_r^2: the MILP's variable is theta_r / s_max_r^2,
        # in [0, 1], and every cut row is divided by s_max_r^2 (its coefficients at most 2, its bound at most 1).
        # Unscaled, a resource that costs little (a prompt's uplink, 1e-7: theta <= 1e-6, cut rows of 1e-7) made
        # HiGHS's presolve force every z to 0 and "prove" a plan 1.2 below the optimum; one that costs much (cut
        # rows of 1e10 beside theta's 1, a refusal of 4e8) made HiGHS call a plan 8.8e6 below the optimum
        # optimal. (Scaling the objective too, by its largest coefficient, lost differences of 1 beside
        # refusals of 2e7: wrong proofs again.) A resource whose square underflows (s_max below 1e-154) gets no
        # theta and no cut: its cost is below any tolerance.
        square = s_max ** 2
        self.scaled = square > 0
        self.scale = np.where(self.scaled, square, 1.0)
        self.theta = m.add_variables("theta", (R,), lb=0.0, ub=self.scaled.astype(float))
        m.add_objective(self.z, part.value - part.refusal_value)
        m.add_objective(self.theta, -self.scale)
        m.add_objective_constant(part.refusal_value * part.num_users)
        one = m.add_rows("one_choice", (part.num_users,), hi=1.0)
        m.add_terms(one.ids[part.owner], self.z.ids, 1.0)
        if P:
            links = m.add_rows("needs_loaded", (part.link_pair.size,), hi=0.0)
            m.add_terms(links.ids[part.link_group], self.z.ids[part.link_opts], 1.0)
            m.add_terms(links.ids, self.y.ids[part.link_pair], -1.0)
            memory = m.add_rows("memory", (part.edge_memory.size,), hi=part.edge_memory)
            m.add_terms(memory.ids[part.pair_edge], self.y.ids, part.pair_memory)
        self.model = m
        self.cuts: set[tuple[int, float]] = set()
        self.rounds = 0
        # CSR of the roots: resource r's nonzeros, for building cut rows from whole arrays
        roots = part.roots()
        self._ptr, self._cols, self._vals = roots.indptr, roots.indices, roots.data

    def add_cuts(self, resources: np.ndarray, points: np.ndarray) -> int:
        """Tangent cuts theta_r >= 2 p s_r - p^2 at ``points`` (one per resource listed); returns how many
        were new (a cut already in the model is skipped)."""
        keep = [(int(r), float(p)) for r, p in zip(resources, points)
                if (int(r), float(p)) not in self.cuts and p > 0 and self.scaled[int(r)]]
        if not keep:
            return 0
        self.cuts.update(keep)
        r = np.array([k[0] for k in keep], dtype=np.int64)
        p = np.array([k[1] for k in keep])
        scale = self.scale[r]
        self.rounds += 1
        rows = self.model.add_rows(f"cuts{self.rounds}", (r.size,), hi=p ** 2 / scale)
        self.model.add_terms(rows.ids, self.theta.ids[r], -1.0)
        counts = self._ptr[r + 1] - self._ptr[r]
        where = np.concatenate([np.arange(self._ptr[i], self._ptr[i + 1]) for i in r]) if r.size else np.zeros(0, int)
        self.model.add_terms(np.repeat(rows.ids, counts), self.z.ids[self._cols[where]],
                             np.repeat(2.0 * p / scale, counts) * self._vals[where])
        return len(keep)

    def theta_of(self, x: np.ndarray) -> np.ndarray:
        """(R,) theta in the units of s^2, from a MILP solution ``x``."""
        return x[self.theta.ids] * self.scale


def start_cuts(master: "Master", points: int, extra: np.ndarray | None = None) -> None:
    """The first cuts: at ``points`` evenly spaced s in (0, s_max] per resource (theta >= 0 is the cut at 0),
    and at ``extra`` (the greedy choice's s)."""
    resources = np.arange(master.part.num_resources)
    for k in range(1, points + 1):
        master.add_cuts(resources, master.s_max * k / points)
    if extra is not None:
        master.add_cuts(resources, extra)


#: Tangent points per resource of the LP that bounds a part the time limit left without a MILP bound.
LP_POINTS = 16
#: At most about this many nonzeros in that LP's cuts: a part of 500,000 options (the most an instance may
#: have, edgeopt.mec.MAX_OPTION_ROWS) gets fewer points, a weaker bound, not 16 (which took 1 GB more).
LP_CUT_NONZEROS = 4_000_000


def lp_bound(parts: list[Part], seconds: float | None) -> list[float | None]:
    """Upper bounds on the optima of ``parts``: the LP relaxation of each part's first MILP with tangent cuts at
    ``LP_POINTS`` points per resource (fewer on a part so large that they would pass ``LP_CUT_NONZEROS``),
    solved by HiGHS, widened by 1e-6 relative (its tolerances); None for a part whose LP did not finish within
    ``seconds`` (all parts together)."""
    until = None if seconds is None else time.perf_counter() + seconds
    out: list[float | None] = []
    for part in parts:
        if until is not None and time.perf_counter() >= until:
            out.append(None)
            continue
        master = Master(part)
        points = max(1, min(LP_POINTS, LP_CUT_NONZEROS // max(1, part.root_vals.size)))
        start_cuts(master, points, _s_of_choice(part, greedy_choice(part)))
        mf = master.model.matrix()
        lp = solve_by_deadline(replace(mf, integrality=np.zeros_like(mf.integrality)), until)
        ok = lp.status == Status.OPTIMAL and lp.objective is not None
        out.append(lp.objective + 1e-6 * max(1.0, abs(lp.objective)) if ok else None)
    return out


lp_bound.what = "the LP relaxation with tangent cuts (HiGHS)"


def solve_part(part: Part, until: float | None, *, seed: int | None, start_points: int,
               max_rounds: int) -> PartAnswer:
    """Outer approximation of one part until the MILP's bound meets the best true value (module docstring)."""
    best = greedy_choice(part)
    if until is not None and time.perf_counter() >= until:
        return PartAnswer(best, None, False, "outer approximation: time limit before the first MILP", stopped=True)
    master = Master(part)
    best_value = part.value_of(best)
    start_cuts(master, start_points, _s_of_choice(part, best))
    bound, iterations, stopped, proven, raw = None, 0, False, False, ""
    while True:
        left = None if until is None else until - time.perf_counter()
        if left is not None and left <= 0:
            stopped, raw = True, "time limit between MILPs"
            break
        if iterations >= max_rounds:
            raw = f"max_rounds={max_rounds} MILPs solved"
            break
        iterations += 1
        out = solve_by_deadline(master.model.matrix(), until, seed=seed)
        if out.bound is not None:
            bound = out.bound if bound is None else min(bound, out.bound)
        if out.x is None:
            stopped = out.status == Status.TIME_LIMIT
            raw = f"HiGHS: {out.raw_status}"
            break
        z = np.round(out.x[master.z.ids])
        choice = part.chosen(z)
        value = part.value_of(choice)
        if value > best_value and part.fits(choice):  # (HiGHS's 1e-6 integrality tolerance, rounded away)
            best, best_value = choice, value
        if out.status != Status.OPTIMAL:
            stopped = out.status == Status.TIME_LIMIT
            raw = f"HiGHS: {out.raw_status}"
            break
        tol = PROOF_TOL * max(1.0, abs(best_value))
        if bound is not None and bound - best_value <= tol:
            proven, raw = True, "bound met"
            break
        if out.objective is not None and out.objective - best_value <= tol:
            # HiGHS proved the MILP's optimum (a relaxation's) is attained by a true value: optimal by HiGHS's
            # own standard; its dual bound may exceed its optimum by its tolerances (~1e-7 absolute).
            proven, raw = True, "MILP optimum met (HiGHS's bound within its tolerances)"
            break
        s = part.s_of(z)
        theta = master.theta_of(out.x)
        short = np.flatnonzero(theta < s ** 2 - _cut_tol(s))
        if master.add_cuts(short, s[short]) == 0:
            raw = "no new cut (the MILP's theta lies on the parabola within HiGHS's tolerances)"
            break
    stats = {"milps": iterations, "cuts": len(master.cuts)}
    return PartAnswer(best, bound, proven, f"outer approximation: {raw}", stopped=stopped, stats=stats)


def _s_of_choice(part: Part, chosen: np.ndarray) -> np.ndarray:
    z = np.zeros(part.num_options)
    z[chosen[chosen >= 0]] = 1.0
    return part.s_of(z)


@dataclass(frozen=True)
class OuterApproximationOptions(Options):
    #: Initial tangent cuts per resource, evenly spaced from the largest possible s down (besides s = 0); at most
    #: 1,000, as for the serving exact methods: the cuts are added before the clock is looked at (100,000 took
    #: 10 s and 675 MB past a 2-s limit on offload-medium-1; 1,000 takes 0.6 s past it on offload-large-2).
    start_points: int = option(4, at_least=1, at_most=1000)
    #: At most this many MILPs per part (then the best plan and the last bound are returned, not optimal).
    max_rounds: int = option(10_000, at_least=1)
    #: Solve a slot's independent parts (users sharing no resource or edge memory) separately.
    split: bool = True


@register_solver
class OuterApproximation(Solver):
    """Exact outer approximation on HiGHS: the convex MIQP's squares replaced by tangent cuts, cut at each MILP
    choice until the MILP's bound meets the best true value (the proof tolerance, 1e-6 relative); independent
    parts of a slot solved apart."""

    name, family, Options = "offload-oa", "offloading", OuterApproximationOptions
    requires = ("highspy",)
    exact = gives_bound = True

    def run(self, instance, options, *, time_limit, seed, started):
        def one(part, until):
            return solve_part(part, until, seed=seed, start_points=options.start_points,
                              max_rounds=options.max_rounds)

        return solve_by_parts(self, instance, one, split=options.split, time_limit=time_limit, started=started,
                              fallback_bound=lp_bound, fallback_seconds=FALLBACK_FLOOR + 0.02 * (time_limit or 0.0))
