"""``groups``: the deployment MILP decomposed by groups of models, exact when the groups' plans fit together.

The math is in docs/formulations.md (section "Deployment", "Decomposition by groups of models"). Every row of
the MILP but the capacity rows (storage, GPU memory, compute, backhaul; and the cover cuts, if formulated) holds
the columns of one model only, and every capacity row is a sum of non-negative coefficients times non-negative
columns, bounded above. Partition the models into groups; for each group keep its columns, its own rows, and
the capacity rows **with the other models' terms dropped**. Any plan, restricted to a group, satisfies that
group's rows (the dropped terms are >= 0), so the sum of the groups' minima is a lower bound on the minimum
cost; and if the groups' optimal plans, put together, satisfy the whole capacity rows, that plan costs the
bound, so it is optimal.

The solver starts from one group per model, solves each group's MILP with HiGHS (relative gap 0, one thread,
the seed; ``workers`` groups at a time, :func:`edgeopt.highs.solve_many`), and puts the plans together. While a capacity row is violated, it merges, for each row block and
edge, the two groups that use most of the most violated row of that edge (``merge="pair"``) or every group that
uses any of it (``"all"``), and solves the merged groups; the other groups' solutions are kept. The bound is the
sum of the groups' proven dual bounds (only HiGHS's proven bounds are summed); a merged group that HiGHS stops
before a proof (time limit, ``group_nodes``) counts with its parts' bounds summed where that is higher.

Every round's plan, repaired to fit (:func:`~.routing.repair`) and routed (:func:`~.routing.route`), is a
primal candidate priced by the evaluator, beside the greedy plan. The run stops when the plan put together
fits (the bound then meets it: proven optimal), when the bound meets the best plan, or at the time limit (the
clock is checked before every HiGHS call and each gets only the time left). Without a time limit it is
deterministic for a seed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgeopt.families.deployment.evaluate import TOL
from edgeopt.families.deployment.formulate import formulate
from edgeopt.families.deployment.solvers.greedy import greedy_plans
from edgeopt.families.deployment.solvers.incumbent import Incumbent, clock, with_bound
from edgeopt.families.deployment.solvers.routing import repair, route
from edgeopt.highs import solve_many
from edgeopt.modeling import MatrixForm, too_wide
from edgeopt.registry import register_solver
from edgeopt.result import Status
from edgeopt.solver import Options, Solver, option

#: The most groups a run may solve at once (each is one thread and one HiGHS model in memory).
MAX_WORKERS = 8
#: Seconds below which no further HiGHS call is started.
MIN_SECONDS = 0.05
#: A capacity row of the plan put together counts as violated beyond this share of its right-hand side (at
#: least this much in absolute terms): the evaluator's own tolerance, which has the last word on the plan.
VIOLATION_RTOL = TOL


@dataclass(frozen=True)
class GroupsOptions(Options):
    merge: Literal["pair", "all"] = "pair"  # per edge's violated row: merge its two largest users, or all of them
    rounds: int = option(100, at_least=1)  # rounds at most (each solves the groups it has not solved yet)
    compute_cuts: bool = option(False)  # the formulation's valid compute cuts (one model per row) in every group
    workers: int = option(1, at_least=1, at_most=MAX_WORKERS)  # groups solved at once (one HiGHS thread each)
    group_nodes: int | None = option(None, at_least=0)  # HiGHS's node limit per group (its bound then counts)


class Split:
    """The columns of each model, the rows that hold several models' columns, and the MILP of a group of models.

    Checks that the rows holding several models' columns are upper-bounded sums of non-negative coefficients
    times columns that cannot go below 0: only then is dropping some of their terms a relaxation."""

    def __init__(self, inst, form, mf: MatrixForm):
        M = inst.num_models
        self.mf, self.M = mf, M
        self.model_of = np.full(mf.num_cols, -1, dtype=np.int64)
        for name, block in form.blocks.items():
            if block.ids.ndim != 3 or block.ids.shape[1] != M:
                raise ValueError(f"groups: variable block {name!r} of the deployment MILP is not indexed by model "
                                 "second")
            self.model_of[block.ids] = np.broadcast_to(np.arange(M)[None, :, None], block.ids.shape)
        self.A = mf.A.tocsr()
        # a row is shared when the lowest and the highest model among its columns differ
        owners = self.model_of[self.A.indices]
        nonempty = np.flatnonzero(np.diff(self.A.indptr) > 0)
        starts = self.A.indptr[nonempty]
        differ = np.minimum.reduceat(owners, starts) != np.maximum.reduceat(owners, starts)
        self.shared = nonempty[differ]
        part = self.A[self.shared]
        if (np.any(np.isfinite(mf.row_lo[self.shared])) or np.any(part.data < 0)
                or np.any(mf.col_lo[part.indices] < 0)):
            raise ValueError("groups: a row holding several models' columns is not an upper bound on a sum of "
                             "non-negative terms, so dropping terms would not relax it")
        self.shared_A, self.shared_hi = part, mf.row_hi[self.shared]
        names = form.model.row_blocks
        block_of = np.empty(mf.num_rows, dtype=object)
        edge_of = np.full(mf.num_rows, -1, dtype=np.int64)
        for name, rb in names.items():
            block_of[rb.ids] = name
            edge_of[rb.ids] = np.broadcast_to(np.arange(rb.ids.shape[0]).reshape((-1,) + (1,) * (rb.ids.ndim - 1)),
                                              rb.ids.shape)
        self.shared_where = list(zip(block_of[self.shared], edge_of[self.shared]))

    def columns(self, group) -> np.ndarray:
        return np.flatnonzero(np.isin(self.model_of, list(group)))

    def problem(self, group) -> tuple[np.ndarray, MatrixForm]:
        """The group's columns and its MILP: its own rows and the shared rows restricted to its columns."""
        mf, cols = self.mf, self.columns(group)
        sub = self.A[:, cols]
        rows = np.flatnonzero(np.diff(sub.indptr) > 0)
        return cols, MatrixForm(sense=mf.sense, c=mf.c[cols], offset=0.0, A=sub[rows].tocsc(),
                                row_lo=mf.row_lo[rows], row_hi=mf.row_hi[rows], col_lo=mf.col_lo[cols],
                                col_hi=mf.col_hi[cols], integrality=mf.integrality[cols])

    def violated(self, x: np.ndarray) -> np.ndarray:
        """Indices (into ``shared``) of the shared rows the solution vector ``x`` violates, most violated first."""
        over = self.shared_A @ x - self.shared_hi
        bad = np.flatnonzero(over > VIOLATION_RTOL * np.maximum(1.0, np.abs(self.shared_hi)))
        return bad[np.argsort(-over[bad], kind="stable")]

    def users(self, i: int, x: np.ndarray) -> np.ndarray:
        """Each model's use of shared row ``i`` in ``x`` (length M)."""
        row = self.shared_A[i]
        return np.bincount(self.model_of[row.indices], weights=row.data * x[row.indices], minlength=self.M)


def merged(groups: list[tuple[int, ...]], split: Split, bad: np.ndarray, x: np.ndarray, how: str):
    """The groups after one round of merging for the violated shared rows ``bad`` (most violated first)."""
    parent = {g: g for g in groups}
    owner = {m: g for g in groups for m in g}

    def find(g):
        while parent[g] != g:
            g = parent[g]
        return g

    done = set()
    for i in bad:
        where = split.shared_where[i]
        if how == "pair" and where in done:
            continue
        use = split.users(i, x)
        per_group: dict = {}
        for m in np.flatnonzero(use > 0):
            g = find(owner[int(m)])
            per_group[g] = per_group.get(g, 0.0) + float(use[m])
        ranked = sorted(per_group, key=lambda g: (-per_group[g], g))
        if how == "pair":
            ranked = ranked[:2]
        if len(ranked) < 2:
            continue
        done.add(where)
        for g in ranked[1:]:
            parent[find(g)] = find(ranked[0])
    out: dict = {}
    for g in groups:
        out.setdefault(find(g), []).extend(g)
    return sorted(tuple(sorted(members)) for members in out.values())


@register_solver
class Groups(Solver):
    """Decomposition by groups of models: one exact HiGHS MILP per group with the shared capacity rows restricted to
    it, groups merged until their plans fit together; a lower bound of its own, and proven optimal when they fit.

    Seeded; the plan is priced by the evaluator; the bound is the sum of the groups' proven bounds
    (docs/formulations.md, "Decomposition by groups of models").
    """

    name, family, Options = "groups", "deployment", GroupsOptions
    requires = ("highspy",)
    gives_bound = True

    def run(self, instance, options, *, time_limit, seed, started):
        until, _, out_of_time = clock(started, time_limit, MIN_SECONDS)
        seed = 0 if seed is None else int(seed)
        inst = instance
        form = formulate(inst, cuts=("compute",) if options.compute_cuts else ())
        mf = form.model.matrix()
        split = Split(inst, form, mf)
        trusted = too_wide(mf, form.model) is None
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        best_plan = Incumbent(inst)
        offer = best_plan.offer

        if not out_of_time():
            for stored, loaded in greedy_plans(inst):
                offer(route(inst, stored, loaded), "greedy")

        node_limit = None if options.group_nodes is None else {"mip_max_nodes": int(options.group_nodes)}
        groups = [(m,) for m in range(inst.num_models)]
        solved: dict = {}  # group -> (columns, solution vector, proven bound)
        floor: dict = {}  # a merged group -> the sum of its parts' proven bounds
        best_bound, rounds, history, seconds, sizes, stop = -np.inf, 0, [], [], [], "rounds"
        while rounds < options.rounds:
            # the largest groups first: with several workers, the longest solves start first
            todo = sorted((g for g in groups if g not in solved), key=lambda g: (-len(g), g))
            problems = [split.problem(g) for g in todo]
            outs = solve_many([sub for _, sub in problems], workers=options.workers, until=until, seed=seed,
                              min_seconds=MIN_SECONDS, options=node_limit)
            for g, (cols, sub), out in zip(todo, problems, outs):
                if out is not None and out.status == Status.INFEASIBLE and trusted:
                    names = ", ".join(inst.model_names[m] for m in g)
                    return self.no_plan(f"HiGHS proves the group of models {names} infeasible with only its own "
                                        "share of the capacities, so the instance has no plan",
                                        build_seconds=build, solve_seconds=time.perf_counter() - t1)
                if out is None or out.x is None:
                    continue
                # integer columns rounded: the plan put together is checked as the evaluator will read it
                # a group stopped short of a proof (time or node limit) keeps the bound of its parts if higher:
                # the parts' MILPs, solved apart, relax the group's
                bound = max(out.bound if out.bound is not None else -np.inf, floor.get(g, -np.inf))
                solved[g] = (cols, np.where(sub.integrality, np.round(out.x), out.x), bound)
            if any(g not in solved for g in groups):
                stop = "time limit" if out_of_time() else "a group without a plan"
                break
            rounds += 1
            x = np.zeros(mf.num_cols)
            bound = float(mf.offset)
            for g in groups:
                cols, xs, b = solved[g]
                x[cols] = xs
                bound += b
            best_bound = max(best_bound, bound)
            history.append(round(bound, 6))
            seconds.append(round(time.perf_counter() - started, 2))
            sizes.append(max(len(g) for g in groups))
            together = form.decode(x)
            bad = split.violated(x)
            if not len(bad):
                offer(together, f"round {rounds}, as solved")
            xs_, ys_ = repair(inst, together.stored[None], together.loaded[None])
            offer(route(inst, xs_[0], ys_[0]), f"round {rounds}, repaired")
            if best_plan.meets(best_bound):
                stop = "bound meets plan" if len(bad) else "the groups' plans fit together"
                break
            if not len(bad):
                stop = "the groups' plans fit together"  # some group stopped short of a proof
                break
            if len(groups) == 1:
                stop = "one group left"
                break
            new = merged(groups, split, bad, x, options.merge)
            if new == groups:  # every violated row has one user: a group's own plan, within HiGHS's tolerance
                stop = "a violated row with one group only"
                break
            floor = {g: sum(solved[h][2] for h in groups if set(h) <= set(g)) for g in new if g not in solved}
            groups = new

        if best_plan.plan is None:
            return self.no_plan("no greedy or group plan serves every request, and the cloud is disabled",
                                build_seconds=build, solve_seconds=time.perf_counter() - t1)
        group_bound = best_bound if np.isfinite(best_bound) else None
        extra = {"rounds": rounds, "stop": stop, "bounds": history, "bound_seconds": seconds,
                 "largest_group": sizes, "groups": [list(g) for g in groups], "plan": best_plan.origin}
        result = self.plan_result(inst, best_plan.plan, build_seconds=build, solve_seconds=time.perf_counter() - t1,
                                  raw_status=f"{rounds} rounds, stopped: {stop}", extra=extra)
        return with_bound(result, group_bound, inst.sense, trusted, "the groups' bound")
