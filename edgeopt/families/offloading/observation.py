"""What a learned offloading policy sees and does, in numpy: the turns of a slot, the option rows a user
scores, its context, the global state, and the reward of a move. The PettingZoo environment (env.py), the
trainer and the policy solvers (solvers/mappo.py) share this module; it imports nothing but numpy and the
family.

**Turns.** A slot's problem splits into its cells (a cell's uplink, downlink and edge compute are shared only
by its own users, and its edge's memory only by its own models), so the users of a cell take turns and the
cells proceed side by side. The users of a cell who ask and have an option take their turns in the order of
their best stand-alone value (highest first; ties by user index), in ``sweeps`` sweeps: in the first every
user places its request, seeing the choices of the users before it and, as aggregates, the pressure the
users still to come could put on each resource; in each later sweep every user may revise its choice,
seeing everyone else's. A sweep in which nobody changes ends the slot early (the next would be the same:
the policy sees nothing that tells two revision sweeps apart). This is the auto-regressive factorisation of
a joint action that the Multi-Agent Transformer uses (Wen et al., "Multi-Agent Reinforcement Learning is a
Sequence Modeling Problem", NeurIPS 2022): one agent's action at a time, each seeing those before it.

**Actions are option rows.** A mover's rows are its own options (configuration x place; those with an
infinite cost never appear) in a canonical order, by model name, configuration name and place, after
one row that refuses the request. However many configurations the instance has and in whatever order its
file lists them, the rows are the same, and so is the policy's decision, bit for bit: every sum the
features use runs over users (in their order) or over canonical indices. The mask allows every row except
an edge option whose model is not loaded on the edge and no longer fits its GPU memory (with what the other
users of the edge need loaded); refusal is always allowed.

**Row features** (``ROW_FIELDS``): what the option is worth now, given the other users' current choices:
with ``R_r`` the summed square roots of the others' costs on resource ``r`` (with optimal shares a resource
costs that sum squared, docs/allocation.md) and ``s_r`` the option's own root, the option adds
``q = value - sum_r s_r (2 R_r + s_r)`` to the slot's objective against refusing; the features are that value
against the user's best allowed row (also magnified 1,000 times, and whether it is that row) and against its
current choice (the move's exact reward), the value and the
per-resource pressure and stand-alone costs, the option's share of each resource's pressure, its place, whether
it is the current choice, whether its model is loaded and what loading it would take of the edge's memory,
its utility and its generation time at the place. Money-valued features are divided by the problem's
``unit`` (the median, over its options, of the larger of |value| and the summed stand-alone cost), so that
multiplying every weight by a constant changes nothing the policy sees, and passed through
``symlog(x) = sign(x) log(1 + |x|)``.

**Context** (``CONTEXT_FIELDS``, appended to each of the mover's rows): whether this is the first sweep,
how many ask in the cell, how far the sweep has come, the share and the summed stand-alone roots of the
users still to place (first sweep), the best row's value over refusal, the number of allowed rows, the
cloud, the refusal penalty.

**State** (``STATE_FIELDS``, one per problem, for a centralised critic): sizes, how far the slot's turns
have come, the cloud, the refusal penalty and cloud price in units, the current choices' shares of the
places, the current objective per request, the mean best stand-alone value.

**Reward** of a move: the exact change of the slot's objective (optimal shares) when the mover switches from
its current choice (refusal before its first turn) to the chosen row, divided by ``unit``; the rewards of a
slot sum to its final objective, plus the refusal penalty of every request, over ``unit``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeopt.families.offloading.instance import CLOUD, EDGE, LOCAL, TOL, Instance

#: Bumped whenever the meaning or the order of a row, context, state or action changes: a policy trained on
#: another layout is refused.
LAYOUT_VERSION = 2
#: Sweeps of turns per slot by default (the first places, the others revise).
SWEEPS = 4

ROW_FIELDS = ("q_vs_best", "q_vs_best_fine", "is_best", "q_vs_current", "value", "pressure_uplink", "pressure_downlink", "pressure_compute",
              "cost_uplink", "cost_downlink", "cost_compute", "share_uplink", "share_downlink", "share_compute",
              "local", "edge", "cloud", "refuse", "is_current", "model_loaded", "load_memory_share",
              "free_memory_after", "utility", "log_generation_seconds", "value_over_refusal")
CONTEXT_FIELDS = ("first_sweep", "cell_requests", "sweep_progress", "still_to_place", "to_place_uplink",
                  "to_place_downlink", "to_place_compute", "best_over_refusal", "allowed_rows", "cloud_enabled",
                  "refusal_penalty")
STATE_FIELDS = ("requests", "users", "cells", "turns_done", "cloud_enabled", "refusal_penalty", "cloud_price",
                "share_local", "share_edge", "share_cloud", "share_refused", "objective_per_request",
                "mean_best_alone")
#: The actor's input per row: the row's features, then its mover's context.
ROW_INPUT = len(ROW_FIELDS) + len(CONTEXT_FIELDS)
CONTEXT = len(CONTEXT_FIELDS)
STATE = len(STATE_FIELDS)
REFUSE_ROW = 0

#: What a policy file must agree with (compared key by key when a policy is loaded).
LAYOUT = {"version": LAYOUT_VERSION, "row": ROW_FIELDS, "context": CONTEXT_FIELDS, "state": STATE_FIELDS}


def symlog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class Board:
    """Slots of one or more instances (``problems``: (instance, slot) pairs) played turn by turn together:
    the options in canonical order, the current choices and what they use, the turn schedule, and the rows,
    context, state and reward of each move. Problems never interact: each has its own users, resources,
    edges and models, so a batch of problems trains (and a multi-slot instance decides) in one pass."""

    def __init__(self, problems: Sequence[tuple[Instance, int]], sweeps: int = SWEEPS):
        if int(sweeps) < 1:
            raise ValueError(f"sweeps must be at least 1, got {sweeps}")
        self.problems = list(problems)
        self.sweeps = int(sweeps)
        cols: dict[str, list] = {k: [] for k in (
            "o_pos", "o_index", "o_value", "o_cost", "o_res", "o_place", "o_pair", "o_seconds", "o_utility",
            "p_problem", "p_cell", "p_user", "p_res", "c_problem", "pair_edge", "pair_memory", "e_capacity",
            "b_unit", "b_refusal", "b_price", "b_cloud", "b_users", "b_cells", "p_best")}
        pos0 = res0 = pair0 = cell0 = 0
        for b, (inst, t) in enumerate(self.problems):
            o = inst.options(t)
            E, M = inst.num_edges, inst.num_models
            n = int(o.users.size)
            standalone = o.value - o.cost.sum(axis=1)
            usable = np.isfinite(standalone) & np.isfinite(o.cost).all(axis=1)
            crank, mrank = inst.config_rank, inst.model_rank
            keep = np.flatnonzero(usable)
            keep = keep[np.lexsort((o.place[keep], crank[o.config[keep]], o.user[keep]))]
            owner = np.searchsorted(o.users, o.user[keep])
            cols["o_pos"].append(pos0 + owner)
            cols["o_index"].append(keep)
            cols["o_value"].append(o.value[keep])
            cols["o_cost"].append(o.cost[keep])
            cols["o_res"].append(res0 + o.resource[keep])
            cols["o_place"].append(o.place[keep])
            cols["o_pair"].append(np.where(o.place[keep] == EDGE, pair0 + o.edge[keep] * M + mrank[o.model[keep]], -1))
            k, place, u = o.config[keep], o.place[keep], o.user[keep]
            speed = np.select([place == LOCAL, place == EDGE],
                              [inst.device_speed[inst.user_device[u]], inst.edge_speed[o.edge[keep]]], inst.cloud_speed)
            cols["o_seconds"].append(inst.config_reference_seconds[k] / np.maximum(speed, 1e-300))
            cols["o_utility"].append(inst.utility_weight * inst.config_utility[k])
            cols["p_problem"].append(np.full(n, b))
            cols["p_cell"].append(cell0 + inst.user_edge[o.users])
            cols["p_user"].append(o.users)
            e = inst.user_edge[o.users]
            cols["p_res"].append(res0 + np.stack([e, E + e, 2 * E + e], axis=1))
            best = np.full(n, -np.inf)
            np.maximum.at(best, owner, standalone[keep])
            cols["p_best"].append(best)
            cols["c_problem"].append(np.full(E, b))
            # pairs (edge, model) in canonical model order: every memory sum runs in that order
            cols["pair_edge"].append(cell0 + np.repeat(np.arange(E), M))
            by_rank = np.empty(M)
            by_rank[mrank] = inst.model_memory_gb
            cols["pair_memory"].append(np.tile(by_rank, E))
            cols["e_capacity"].append(inst.edge_memory_gb * (1 + TOL))
            scale = np.maximum(np.abs(o.value[keep]), o.cost[keep].sum(axis=1))
            unit = float(np.median(scale)) if scale.size else 1.0
            cols["b_unit"].append([max(unit, 1e-9, 1e-12 * float(inst.refusal_penalty))])
            cols["b_refusal"].append([o.refusal_value])
            cols["b_price"].append([inst.cloud_price])
            cols["b_cloud"].append([float(inst.cloud_enabled)])
            cols["b_users"].append([inst.num_users])
            cols["b_cells"].append([E])
            pos0, res0, pair0, cell0 = pos0 + n, res0 + 3 * E, pair0 + E * M, cell0 + E
        cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
        self.num_positions, self.num_resources, self.num_pairs, self.num_cells = pos0, res0, pair0, cell0
        ints = ("o_pos", "o_index", "o_res", "o_place", "o_pair", "p_problem", "p_cell", "p_user", "p_res",
                "c_problem", "pair_edge")
        for key, value in cat.items():
            setattr(self, key, value.astype(np.int64) if key in ints else value.astype(float))
        self.o_cost = self.o_cost.reshape(-1, 3)
        self.o_res = self.o_res.reshape(-1, 3)
        self.p_res = self.p_res.reshape(-1, 3)
        self.o_root = np.sqrt(self.o_cost)
        P = self.num_positions
        self.o_start = np.searchsorted(self.o_pos, np.arange(P), side="left")
        self.o_end = np.searchsorted(self.o_pos, np.arange(P), side="right")
        self.p_unit = self.b_unit[self.p_problem] if P else np.zeros(0)
        self.p_refusal = self.b_refusal[self.p_problem] if P else np.zeros(0)
        # the turn schedule: per cell, the users with an option, best stand-alone value first
        has = self.o_end > self.o_start
        order = np.lexsort((np.arange(P), -self.p_best, self.p_cell))
        order = order[has[order]]
        first = np.searchsorted(self.p_cell[order], self.p_cell[order], side="left")
        self.turn = np.full(P, -1, dtype=np.int64)  # each position's turn within its cell's sweep
        self.turn[order] = np.arange(order.size) - first
        self.cell_turns = np.bincount(self.p_cell[order], minlength=self.num_cells)  # turns per sweep per cell
        self.ticks = int(self.cell_turns.max(initial=0))
        self._movers = [np.zeros(0, dtype=np.int64)] * self.ticks
        if order.size:
            by_turn = order[np.argsort(self.turn[order], kind="stable")]
            bounds = np.searchsorted(self.turn[by_turn], np.arange(self.ticks + 1))
            self._movers = [np.sort(by_turn[bounds[j]:bounds[j + 1]]) for j in range(self.ticks)]
        # the stand-alone roots of each user's best option (what it could add to each resource's pressure)
        self.p_best_root = np.zeros((P, 3))
        if self.o_pos.size:
            alone = self.o_value - self.o_cost.sum(axis=1)
            is_best = alone == self.p_best[self.o_pos]
            first_best = np.full(P, -1, dtype=np.int64)
            idx = np.flatnonzero(is_best)[::-1]
            first_best[self.o_pos[idx]] = idx  # the first (canonical) best option of each user
            ok = first_best >= 0
            self.p_best_root[ok] = self.o_root[first_best[ok]]
        self.reset()

    # -- state -----------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Every request refused, before the first turn; the sweep and tick counters at the start."""
        self.chosen = np.full(self.num_positions, -1, dtype=np.int64)
        self.pair_users = np.zeros(self.num_pairs, dtype=np.int64)
        self.sweep, self.tick = 0, 0
        self.changed_in_sweep = 0
        self.played = 0  # sweeps played to their end
        self._refresh()

    def _refresh(self) -> None:
        """Resource pressures and edge memory in use, recomputed from the choices (no rounding carried)."""
        has = self.chosen >= 0
        picked = self.chosen[has]
        self.roots = np.bincount(self.o_res[picked].ravel(), weights=self.o_root[picked].ravel(),
                                 minlength=self.num_resources)
        loaded = self.pair_users > 0
        self.edge_used = np.bincount(self.pair_edge[loaded], weights=self.pair_memory[loaded],
                                     minlength=self.num_cells)
        # the still-to-place pressure of the first sweep: the stand-alone roots of the users who move after the
        # current tick's movers
        waiting = (self.turn > self.tick) if self.sweep == 0 else np.zeros(self.num_positions, dtype=bool)
        self.waiting_roots = np.bincount(self.p_res[waiting].ravel(), weights=self.p_best_root[waiting].ravel(),
                                         minlength=self.num_resources)
        self.waiting_count = np.bincount(self.p_cell[waiting], minlength=self.num_cells)

    @property
    def done(self) -> bool:
        return self.sweep >= self.sweeps or self.ticks == 0

    def movers(self) -> np.ndarray:
        """The positions whose turn it is (at most one per cell), in position order."""
        return self._movers[self.tick] if not self.done else np.zeros(0, dtype=np.int64)

    # -- what a mover sees -----------------------------------------------------------------------------------
    def rows(self, movers: np.ndarray) -> dict:
        """The movers' rows: ``features`` (N, ROW_INPUT) float32 (row features, then the mover's context),
        ``mover`` (N,) the row's mover (index into ``movers``), ``slot`` (N,) its place among the mover's rows
        (0: refuse), ``option`` (N,) the board option (-1: refuse), ``allowed`` (N,) bool, ``reward`` (N,) the
        move's reward if taken (in units), ``context`` (B, CONTEXT), ``q`` (N,) the row's value in objective
        points, ``unit`` (B,) each mover's problem's unit."""
        movers = np.asarray(movers, dtype=np.int64)
        B = movers.size
        count = self.o_end[movers] - self.o_start[movers]
        n_rows = count + 1
        mover = np.repeat(np.arange(B), n_rows)
        starts = np.cumsum(n_rows) - n_rows
        slot = np.arange(mover.size) - starts[mover]
        option = np.where(slot > 0, self.o_start[movers][mover] + slot - 1, -1)
        is_opt = option >= 0
        opt = np.where(is_opt, option, 0)
        cur = self.chosen[movers]
        cur_ok = cur >= 0
        cur_i = np.where(cur_ok, cur, 0)
        s_cur = np.where(cur_ok[:, None], self.o_root[cur_i], 0.0)
        R = np.maximum(self.roots[self.p_res[movers]] - s_cur, 0.0)  # (B, 3) the others' pressure
        unit = self.p_unit[movers]
        refusal = self.p_refusal[movers]
        s = np.where(is_opt[:, None], self.o_root[opt], 0.0)
        pressure = s * (2.0 * R[mover] + s)
        value = np.where(is_opt, self.o_value[opt], refusal[mover])
        q = value - pressure.sum(axis=1)
        q_cur = np.where(cur_ok, self.o_value[cur_i] - (s_cur * (2.0 * R + s_cur)).sum(axis=1), refusal)
        # memory: an edge option whose model is not loaded (but for the mover itself) must fit what is left
        place = np.where(is_opt, self.o_place[opt], -1)
        pair = np.where(is_opt, self.o_pair[opt], -1)
        on_edge = pair >= 0
        pair_i = np.where(on_edge, pair, 0)
        cur_pair = np.where(cur_ok, self.o_pair[cur_i], -1)
        mine = (cur_pair[mover] == pair) & on_edge
        others = np.where(on_edge, self.pair_users[pair_i] - mine, 0)
        loaded = on_edge & (others > 0)
        cur_pair_i = np.where(cur_pair >= 0, cur_pair, 0)
        frees = np.where((cur_pair >= 0) & (self.pair_users[cur_pair_i] == 1), self.pair_memory[cur_pair_i], 0.0)
        edge = self.p_cell[movers][mover]
        capacity = self.e_capacity[edge]
        need = np.where(on_edge & ~loaded, self.pair_memory[pair_i], 0.0)
        free_after = capacity - self.edge_used[edge] + frees[mover] - need
        allowed = ~on_edge | loaded | (free_after >= 0.0)
        q_best = np.full(B, -np.inf)
        np.maximum.at(q_best, mover, np.where(allowed, q, -np.inf))
        u = unit[mover]
        cost = np.where(is_opt[:, None], self.o_cost[opt], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(s > 0, s / (R[mover] + s), 0.0)
        onehot = np.zeros((mover.size, 4))
        onehot[np.arange(mover.size), np.where(is_opt, place, 3)] = 1.0
        seconds = np.where(is_opt, self.o_seconds[opt], 0.0)
        below = (q - q_best[mover]) / u
        feats = np.column_stack([
            symlog(below), symlog(1000.0 * below), allowed & (q == q_best[mover]), symlog((q - q_cur[mover]) / u),
            symlog(value / u),
            symlog(pressure / u[:, None]), symlog(cost / u[:, None]), share, onehot,
            (option == cur[mover]) & is_opt | (~is_opt & ~cur_ok[mover]),
            loaded, np.where(on_edge & ~loaded, self.pair_memory[pair_i] / capacity, 0.0),
            np.where(on_edge, free_after / capacity, 0.0),
            symlog(np.where(is_opt, self.o_utility[opt], 0.0) / u), np.log10(1.0 + seconds) / 3.0,
            symlog((value - refusal[mover]) / u)])
        context = self.context(movers, q_best, np.bincount(mover, weights=allowed, minlength=B))
        features = np.concatenate([feats, context[mover]], axis=1).astype(np.float32)
        return {"features": features, "mover": mover, "slot": slot, "option": option, "allowed": allowed,
                "reward": (q - q_cur[mover]) / u, "q": q, "context": context, "unit": unit}

    def context(self, movers: np.ndarray, q_best: np.ndarray, allowed_rows: np.ndarray) -> np.ndarray:
        """(B, CONTEXT) the movers' context (``CONTEXT_FIELDS``)."""
        cell = self.p_cell[movers]
        n = self.cell_turns[cell].astype(float)
        unit = self.p_unit[movers]
        res = self.p_res[movers]
        with np.errstate(invalid="ignore", divide="ignore"):
            wait = self.waiting_roots[res]
            to_place = np.where(wait > 0, wait / (self.roots[res] + wait), 0.0)
        problem = self.p_problem[movers]
        return np.column_stack([
            np.full(movers.size, float(self.sweep == 0)), np.log1p(n) / 5.0, self.tick / np.maximum(n, 1.0),
            self.waiting_count[cell] / np.maximum(n, 1.0), to_place,
            symlog((q_best - self.p_refusal[movers]) / unit), np.log1p(allowed_rows) / 5.0,
            self.b_cloud[problem], symlog(-self.b_refusal[problem] / unit)])

    def state(self, problems: np.ndarray | None = None) -> np.ndarray:
        """(len(problems), STATE) float32 the global state of each problem (``STATE_FIELDS``); all by default."""
        nb = len(self.problems)
        problems = np.arange(nb) if problems is None else np.asarray(problems, dtype=np.int64)
        requests = np.bincount(self.p_problem, minlength=nb).astype(float)
        has = self.chosen >= 0
        place = np.where(has, self.o_place[np.where(has, self.chosen, 0)], 3)
        counts = np.zeros((nb, 4))
        np.add.at(counts, (self.p_problem, place), 1.0)
        value = self.objective_parts()
        turns = np.bincount(self.p_problem[self.turn >= 0], minlength=nb).astype(float) * self.sweeps
        done = np.bincount(self.p_problem[(self.turn >= 0) & (self.turn < self.tick)], minlength=nb) + np.bincount(
            self.p_problem[self.turn >= 0], minlength=nb) * min(self.sweep, self.sweeps)
        best = np.bincount(self.p_problem, weights=np.where(np.isfinite(self.p_best), self.p_best, 0.0), minlength=nb)
        r = np.maximum(requests, 1.0)
        s = np.column_stack([
            np.log1p(requests) / 5.0, np.log1p(self.b_users) / 5.0, self.b_cells / 8.0, done / np.maximum(turns, 1.0),
            self.b_cloud, symlog(-self.b_refusal / self.b_unit), symlog(self.b_price / self.b_unit),
            counts / r[:, None], symlog(value / r / self.b_unit), symlog(best / r / self.b_unit)])
        return s[problems].astype(np.float32)

    # -- moves -------------------------------------------------------------------------------------------------
    def apply(self, movers: np.ndarray, options: np.ndarray) -> int:
        """The movers take board options (-1: refuse) and the tick advances (:meth:`move`, :meth:`advance`).
        Returns how many changed their choice."""
        changed = self.move(movers, options)
        self.advance()
        return changed

    def move(self, movers: np.ndarray, options: np.ndarray) -> int:
        """Some of the tick's movers take board options (-1: refuse); how many changed their choice. Movers of
        one tick are in different cells, so moving them one at a time or all at once is the same."""
        movers = np.asarray(movers, dtype=np.int64)
        options = np.asarray(options, dtype=np.int64)
        old = self.chosen[movers]
        changed = old != options
        for picks, sign in ((old, -1), (options, 1)):
            pairs = np.where(picks >= 0, self.o_pair[np.where(picks >= 0, picks, 0)], -1)
            np.add.at(self.pair_users, pairs[changed & (pairs >= 0)], sign)
        self.chosen[movers] = options
        self.changed_in_sweep += int(changed.sum())
        self._refresh()
        return int(changed.sum())

    def advance(self) -> None:
        """To the next tick; after a sweep's last tick, to the next sweep, or to the end when the sweep was a
        revision that changed nothing (the next would be the same) or the last."""
        self.tick += 1
        if self.tick >= self.ticks:
            self.played += 1
            converged = self.sweep > 0 and self.changed_in_sweep == 0
            self.sweep = self.sweeps if converged else self.sweep + 1
            self.tick, self.changed_in_sweep = 0, 0
        self._refresh()

    def objective_parts(self) -> np.ndarray:
        """(problems,) each problem's objective with optimal shares for the current choices."""
        nb = len(self.problems)
        has = self.chosen >= 0
        picked = self.chosen[has]
        value = np.bincount(self.p_problem[has], weights=self.o_value[picked], minlength=nb).astype(float)
        value += np.bincount(self.p_problem[~has], weights=self.p_refusal[~has], minlength=nb)
        res_problem = np.zeros(self.num_resources, dtype=np.int64)
        if self.num_positions:
            res_problem[self.p_res.ravel()] = np.repeat(self.p_problem, 3)
        return value - np.bincount(res_problem, weights=self.roots ** 2, minlength=nb)

    def choices(self) -> list[np.ndarray]:
        """Per problem the choices in the order of its option table's users: an index into
        ``inst.options(t)`` (-1: refused), the form plans.plan takes."""
        out = []
        for b in range(len(self.problems)):
            mine = self.p_problem == b
            c = self.chosen[mine]
            picked = self.o_index[np.where(c >= 0, c, 0)] if self.o_index.size else np.zeros_like(c)
            out.append(np.where(c >= 0, picked, -1))
        return out


__all__ = [
    "CLOUD",
    "CONTEXT",
    "CONTEXT_FIELDS",
    "EDGE",
    "LAYOUT",
    "LAYOUT_VERSION",
    "LOCAL",
    "REFUSE_ROW",
    "ROW_FIELDS",
    "ROW_INPUT",
    "STATE",
    "STATE_FIELDS",
    "SWEEPS",
    "Board",
    "symlog",
]
