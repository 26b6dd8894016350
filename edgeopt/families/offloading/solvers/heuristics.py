"""The offloading family's heuristics and baselines, as registered solvers.

Slots do not interact (each slot has its own loaded models and its own shares), so every solver works slot
by slot on the slot's option table (``Instance.options(t)``): it picks for each requesting user one option
(a configuration at a place) or refuses the user, then :func:`plans.plan` loads the models the edge options
need and shares every resource. Stage two, the split of each cell's uplink and downlink and each edge's
compute among the users on it, is the solver's ``allocation`` option: ``"closed"`` the square-root rule,
optimal for the fixed choices (the default); ``"slsqp"`` the paper's numerical stage two on the same
problem; ``"equal"`` the naive equal split. The choices never depend on it, so on every instance
closed >= slsqp >= equal in objective (benchmarks/offloading_allocation.py checks it).

- ``all-local``: every requesting user runs its best local option when its device can, else is refused.
- ``all-edge``: every user served at its own edge. Per edge the models are loaded greedily by demand (the
  number of the edge's requesting users with an edge option of the model, most first) while they fit the
  GPU memory; each user takes its best edge option among the loaded models (by its value alone on the
  resources), refused when there is none.
- ``all-cloud``: every user in the cloud with its best cloud option (by its value alone on the radio),
  refused when the cloud is disabled.
- ``random-offload``: per edge a random loaded set that fits (models in a random order, each kept with
  probability ``keep_probability``, 1/2 by default, when it fits), then per user a uniformly random option
  among its feasible ones (local, cloud, edge with a loaded model); refused when it has none.
- ``greedy-offload``: users one at a time, in the order of their best stand-alone value (the best of their
  options alone on the resources, highest first; ``order="index"``: by user index), each taking its best
  response to the users placed before it: the option with the largest marginal change of the slot value
  (closed-form shares), loading its model on the edge when the model fits the memory left, or refusal
  when nothing beats it.
- ``equal-share``: every requesting user takes its best option priced as if each of the ``n_e`` requesting
  users of its cell had an equal share ``1/n_e`` of every resource it uses (``value - n_e * (uplink +
  downlink + compute cost)``), refused when no estimate beats refusal; exact ties go by (model name,
  configuration name, place), never by the order of the file. On an edge whose chosen models overflow the
  GPU memory, models are kept by the number of users who chose them (most first, ties by model name), each
  while it fits, and the users of a dropped model choose again by the same estimate among their other
  options (local, cloud, an edge option of a kept model) or are refused. Parameter-free.
- ``offload-ls``: local search from greedy-offload. A move changes one user's option, or refuses the user,
  and is priced exactly by the change of the slot value with closed-form shares; moves that would overflow
  an edge's memory are not made. ``strategy="best"`` makes the best move of the whole slot each time,
  ``"first"`` lets the next user (cyclically) with an improving move make its best one. It stops when no
  move improves by more than 1e-9 (relative), after ``max_moves`` moves in all, or at the time limit.

Options: ``allocation`` (every solver), ``keep_probability`` (random-offload), ``order`` (greedy-offload and
offload-ls), ``strategy`` and ``max_moves`` (offload-ls).

Every solver is deterministic for a seed (only random-offload draws; ``seed=None`` means 0) unless a time
limit cuts it short: users not yet placed when the time is up are refused, and slots whose SLSQP split
would start after the limit get the closed-form split (both said in ``raw_status`` and ``extra``). None
of them claims optimality; the evaluator prices every plan.
"""
from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgeopt.allocation import SolverFailed
from edgeopt.families.offloading.instance import CLOUD, EDGE, LOCAL, Instance, Solution
from edgeopt.families.offloading.plans import plan, shares, slot_value
from edgeopt.registry import register_solver
from edgeopt.solver import Options, Solver, deadline, option

#: A move must improve the slot value by more than this, relative to max(1, |slot value|): ends the search
#: (every accepted move gains at least this much) and keeps rounding from cycling it.
IMPROVEMENT = 1e-9
#: Relative tolerance of the memory check, the one plans.fits_memory uses.
MEMORY_TOL = 1e-9
#: The words raw_status uses for each allocation.
ALLOCATION_WORDS = {"closed": "closed-form (square-root rule) shares", "slsqp": "SLSQP shares",
                    "equal": "equal shares"}


# -- one slot's choices, priced move by move --------------------------------------------------------------
class SlotState:
    """The choices of one slot (``chosen[i]``: an option index for requesting user ``i`` in the order of
    ``opts.users``, -1 refused), with what they use: per resource the sum of sqrt(cost) of its users (with
    closed-form shares a resource costs that sum squared), per (edge, model) the users of its edge options
    and per edge the memory of the models they need. Prices any single-user change exactly."""

    def __init__(self, inst: Instance, t: int):
        o = inst.options(t)
        self.inst, self.t, self.opts = inst, t, o
        self.n = int(o.users.size)
        self.pos = np.searchsorted(o.users, o.user)  # (O,) each option's user, as a position in opts.users
        self.root = np.sqrt(o.cost)  # (O, 3)
        # (n, 3) every requesting user's three resources (the same for all the user's options)
        E = inst.num_edges
        e = inst.user_edge[o.users]
        self.user_resource = np.stack([e, E + e, 2 * E + e], axis=1)
        self.standalone = o.value - o.cost.sum(axis=1)  # each option alone on its resources (whole shares)
        # An option of infinite cost (a spectral efficiency that rounds to 0) is never taken.
        self.usable = np.isfinite(self.standalone)
        self.memory = inst.model_memory_gb
        self.capacity = inst.edge_memory_gb * (1 + MEMORY_TOL)
        self.chosen = np.full(self.n, -1, dtype=np.int64)
        self.roots = np.zeros(3 * E)
        self.users_of = np.zeros((E, inst.num_models), dtype=np.int64)

    def options_of(self, i: int) -> np.ndarray:
        """User ``i``'s usable options."""
        idx = self.opts.of_user[int(self.opts.users[i])]
        return idx[self.usable[idx]]

    def used_memory(self) -> np.ndarray:
        """(E,) GPU memory of the models the edge options chosen need."""
        return (self.users_of > 0) @ self.memory

    def value(self) -> float:
        """The slot's objective with closed-form shares (plans.slot_value, the reference)."""
        return slot_value(self.opts, self.chosen)

    def current_gains(self) -> np.ndarray:
        """(n,) what each user's current choice adds to the slot value, the others' choices fixed."""
        o, has = self.opts, self.chosen >= 0
        cur = np.where(has, self.chosen, 0)
        s = np.where(has[:, None], self.root[cur], 0.0)
        R = self.roots[self.user_resource]
        return np.where(has, o.value[cur], o.refusal_value) - (s * (2.0 * R - s)).sum(axis=1)

    def deltas(self, idx: np.ndarray, gains: np.ndarray | None = None) -> np.ndarray:
        """The change of the slot value if each option's user switched to it (-inf where the switch would
        overflow its edge's memory)."""
        o = self.opts
        idx = np.asarray(idx, dtype=np.int64)
        pos = self.pos[idx]
        gains = self.current_gains() if gains is None else gains
        has = self.chosen[pos] >= 0
        cur = np.where(has, self.chosen[pos], 0)
        s_cur = np.where(has[:, None], self.root[cur], 0.0)
        R = self.roots[self.user_resource[pos]] - s_cur  # the user's resources without the user
        s = self.root[idx]
        delta = o.value[idx] - (s * (2.0 * R + s)).sum(axis=1) - gains[pos]
        # memory: an edge option whose model is not loaded (but for the user itself) must fit what is left
        e, m = o.edge[idx], o.model[idx]
        cur_edge = has & (o.place[cur] == EDGE)
        cur_m = o.model[cur]
        others = self.users_of[e, m] - (cur_edge & (cur_m == m))
        freed = np.where(cur_edge & (self.users_of[e, cur_m] == 1), self.memory[cur_m], 0.0)
        fits = self.used_memory()[e] - freed + self.memory[m] <= self.capacity[e]
        ok = (o.place[idx] != EDGE) | (others > 0) | fits
        return np.where(ok, delta, -np.inf)

    def set(self, i: int, k: int, refresh: bool = True) -> None:
        """User ``i`` takes option ``k`` (-1: refused); the resource sums are recomputed from scratch, so
        that rounding never accumulates (``refresh=False``: not yet, for a baseline whose choices do not depend
        on them; it calls :meth:`refresh` once at the end, instead of once per user: n^2 work)."""
        o = self.opts
        old = int(self.chosen[i])
        if old >= 0 and o.place[old] == EDGE:
            self.users_of[o.edge[old], o.model[old]] -= 1
        if k >= 0 and o.place[k] == EDGE:
            self.users_of[o.edge[k], o.model[k]] += 1
        self.chosen[i] = k
        if refresh:
            self.refresh()

    def refresh(self) -> None:
        """The resource sums of the current choices, from scratch."""
        o = self.opts
        picked = self.chosen[self.chosen >= 0]
        self.roots = np.zeros_like(self.roots)
        np.add.at(self.roots, o.resource[picked].ravel(), self.root[picked].ravel())

    def best_standalone(self) -> np.ndarray:
        """(n,) every user's best option alone on its resources (the refusal value when it has none)."""
        best = np.full(self.n, self.opts.refusal_value)
        np.maximum.at(best, self.pos[self.usable], self.standalone[self.usable])
        return best


def _past(stop: float | None) -> bool:
    return stop is not None and time.perf_counter() >= stop


def _argmax(values: np.ndarray) -> int:
    return int(np.argmax(values))


# -- the choices of each solver, per slot ---------------------------------------------------------------
def all_local(state: SlotState) -> None:
    o = state.opts
    for i in range(state.n):
        idx = state.options_of(i)
        idx = idx[o.place[idx] == LOCAL]
        if idx.size:
            state.set(i, int(idx[_argmax(o.value[idx])]), refresh=False)
    state.refresh()


def all_cloud(state: SlotState) -> None:
    o = state.opts
    for i in range(state.n):
        idx = state.options_of(i)
        idx = idx[o.place[idx] == CLOUD]
        if idx.size:
            state.set(i, int(idx[_argmax(state.standalone[idx])]), refresh=False)
    state.refresh()


def demand_loading(state: SlotState) -> np.ndarray:
    """(E, M) per edge the models loaded greedily by demand (users with an edge option of the model, most
    first, ties by catalogue order) while they fit the edge's GPU memory."""
    o, inst = state.opts, state.inst
    E, M = inst.num_edges, inst.num_models
    edge_opts = np.flatnonzero((o.place == EDGE) & state.usable)
    # the distinct (edge, model, user) triples, counted per (edge, model): no E x M x users array (10,000 cells
    # of 10 users took 1 GB)
    n = max(state.n, 1)
    wants = np.unique((o.edge[edge_opts] * M + o.model[edge_opts]) * n + state.pos[edge_opts])
    demand = np.bincount(wants // n, minlength=E * M).reshape(E, M)
    loaded = np.zeros((E, M), dtype=bool)
    for e in range(E):
        used = 0.0
        for m in np.argsort(-demand[e], kind="stable"):
            if demand[e, m] > 0 and used + state.memory[m] <= state.capacity[e]:
                loaded[e, m] = True
                used += state.memory[m]
    return loaded


def all_edge(state: SlotState) -> None:
    o = state.opts
    loaded = demand_loading(state)
    for i in range(state.n):
        idx = state.options_of(i)
        idx = idx[(o.place[idx] == EDGE) & loaded[o.edge[idx], o.model[idx]]]
        if idx.size:
            state.set(i, int(idx[_argmax(state.standalone[idx])]), refresh=False)
    state.refresh()


def random_offload(state: SlotState, rng: np.random.Generator, keep: float = 0.5) -> None:
    o, inst = state.opts, state.inst
    loaded = np.zeros((inst.num_edges, inst.num_models), dtype=bool)
    for e in range(inst.num_edges):
        used = 0.0
        for m in rng.permutation(inst.num_models):
            if rng.random() < keep and used + state.memory[m] <= state.capacity[e]:
                loaded[e, m] = True
                used += state.memory[m]
    for i in range(state.n):
        idx = state.options_of(i)
        idx = idx[(o.place[idx] != EDGE) | loaded[o.edge[idx], o.model[idx]]]
        if idx.size:
            state.set(i, int(idx[rng.integers(idx.size)]), refresh=False)
    state.refresh()


def equal_share(state: SlotState) -> None:
    """Every requesting user's best option at an equal share 1/n_e of each resource it uses (n_e: the
    requesting users of its cell), exact ties by (model name, configuration name, place), refused when no
    estimate beats refusal; then, per edge, the chosen models kept by users (most first, ties by name) while
    they fit the GPU memory, and the users of a dropped model choosing again without it."""
    o, inst = state.opts, state.inst
    cell = inst.user_edge[o.users]  # (n,) each requesting user's cell
    n_e = np.bincount(cell, minlength=inst.num_edges)[o.edge]  # (O,) the requesters of the option's cell
    estimate = o.value - n_e * (o.cost[:, 0] + o.cost[:, 1] + o.cost[:, 2])
    tie = inst.config_rank[o.config] * 3 + o.place  # (O,) smaller first among equal estimates

    def best(idx: np.ndarray) -> int:
        if idx.size == 0:
            return -1
        k = int(idx[np.lexsort((tie[idx], -estimate[idx]))[0]])
        return k if estimate[k] > o.refusal_value else -1

    for i in range(state.n):
        state.set(i, best(state.options_of(i)), refresh=False)
    for e in range(inst.num_edges):
        count = state.users_of[e]
        kept = np.zeros(inst.num_models, dtype=bool)
        used = 0.0
        for m in sorted(np.flatnonzero(count), key=lambda j: (-int(count[j]), inst.model_names[j])):
            if used + state.memory[m] <= state.capacity[e]:
                kept[m] = True
                used += state.memory[m]
        for i in np.flatnonzero(cell == e):
            k = int(state.chosen[i])
            if k >= 0 and o.place[k] == EDGE and not kept[o.model[k]]:
                idx = state.options_of(int(i))
                state.set(int(i), best(idx[(o.place[idx] != EDGE) | kept[o.model[idx]]]), refresh=False)
    state.refresh()


def user_order(state: SlotState, order: str) -> np.ndarray:
    """Positions of the requesting users in the order greedy places them."""
    if order == "index":
        return np.arange(state.n)
    return np.argsort(-state.best_standalone(), kind="stable")


def greedy(state: SlotState, order: str, stop: float | None) -> bool:
    """Each user in turn takes its best response to the users placed before it (refused when no option
    beats refusal). False when the time limit stopped it (the users not reached stay refused)."""
    for i in user_order(state, order):
        if _past(stop):
            return False
        idx = state.options_of(int(i))
        if idx.size == 0:
            continue
        delta = state.deltas(idx)
        k = _argmax(delta)
        if delta[k] > 0.0:
            state.set(int(i), int(idx[k]))
    return True


def local_search(state: SlotState, strategy: str, stop: float | None, max_moves: int | None = None
                 ) -> tuple[int, bool]:
    """Single-user moves (another option, or refusal) while one improves the slot value; returns the number
    of moves made and whether the search converged (False: stopped by the time limit or ``max_moves``)."""
    moves = 0
    every = np.flatnonzero(state.usable)
    if every.size == 0:  # no request of the slot can be served anywhere: refusing them all is the only plan
        return 0, True
    i = 0
    quiet = 0  # users examined in a row without an improving move ("first")
    while True:
        if _past(stop) or (max_moves is not None and moves >= max_moves):
            return moves, False
        eps = IMPROVEMENT * max(1.0, abs(state.value()))
        gains = state.current_gains()
        refuse = np.where(state.chosen >= 0, state.opts.refusal_value - gains, -np.inf)
        if strategy == "best":
            delta = state.deltas(every, gains)
            k = _argmax(delta) if delta.size else -1
            r = _argmax(refuse) if refuse.size else -1
            best_option = delta[k] if k >= 0 else -np.inf
            best_refusal = refuse[r] if r >= 0 else -np.inf
            if max(best_option, best_refusal) <= eps:
                return moves, True
            if best_option >= best_refusal:
                state.set(int(state.pos[every[k]]), int(every[k]))
            else:
                state.set(r, -1)
            moves += 1
            continue
        if state.n == 0 or quiet >= state.n:
            return moves, True
        idx = state.options_of(i)
        delta = state.deltas(idx, gains) if idx.size else np.empty(0)
        k = _argmax(delta) if delta.size else -1
        best_option = delta[k] if k >= 0 else -np.inf
        if max(best_option, refuse[i]) > eps:
            state.set(i, int(idx[k]) if best_option >= refuse[i] else -1)
            moves += 1
            quiet = 0
        else:
            quiet += 1
        i = (i + 1) % state.n


# -- from the choices to the Result ---------------------------------------------------------------------
def _plan(inst: Instance, chosen: list[np.ndarray], allocation: str, stop: float | None) -> tuple[Solution, list]:
    """The complete plan of the choices with the shares of ``allocation``, and the slots where the closed form
    stood in for SLSQP (past the time limit, or SLSQP failed) with why."""
    sol = plan(inst, chosen, "closed" if allocation == "slsqp" else allocation)
    if allocation != "slsqp":
        return sol, []
    x = np.array(sol.shares)
    fallback = []
    for t, c in enumerate(chosen):
        if _past(stop):
            fallback.append((t, "time limit"))
            continue
        try:
            x[:, t] = shares(inst, inst.options(t), c, "slsqp")
        except SolverFailed as exc:
            fallback.append((t, str(exc)))
    # SLSQP meets its budget row only up to its tolerance: never hand out more than the whole resource.
    total = np.zeros((inst.num_edges, inst.slots, 3))
    np.add.at(total, inst.user_edge, x)
    over = np.maximum(total, 1.0)
    x = x / over[inst.user_edge]
    return Solution(sol.config, sol.place, sol.loaded, x), fallback


def _result(solver: Solver, inst: Instance, chosen: list[np.ndarray], allocation: str, *, started: float,
            built: float, stop: float | None, what: str, extra: dict | None = None):
    sol, fallback = _plan(inst, chosen, allocation, stop)
    served = int(sum(int((c >= 0).sum()) for c in chosen))
    requests = int(sum(c.size for c in chosen))
    raw = f"{what}; {served} of {requests} request(s) served; {ALLOCATION_WORDS[allocation]}"
    info = {"allocation": allocation, **(extra or {})}
    if fallback:
        slots = [t for t, _ in fallback]
        raw += f" (closed-form shares in slot(s) {', '.join(map(str, slots))}: {fallback[0][1]})"
        info["closed_form_slots"] = slots
    return solver.plan_result(inst, sol, build_seconds=built - started, solve_seconds=time.perf_counter() - built,
                              raw_status=raw, extra=info)


# -- the solvers ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AllocationOptions(Options):
    allocation: Literal["closed", "slsqp", "equal"] = "closed"


@dataclass(frozen=True)
class RandomOptions(AllocationOptions):
    keep_probability: float = option(0.5, above=0.0, at_most=1.0)  # a model that fits is loaded with it


@dataclass(frozen=True)
class GreedyOptions(AllocationOptions):
    order: Literal["value", "index"] = "value"


@dataclass(frozen=True)
class LocalSearchOptions(GreedyOptions):
    strategy: Literal["best", "first"] = "best"
    max_moves: int | None = option(None, at_least=0)  # None: until no move improves


class _PerSlot(Solver, abc.ABC):
    """Base: build every slot's option table (the build time), then ``choose`` slot by slot."""

    family, Options = "offloading", AllocationOptions
    what = ""

    @abc.abstractmethod
    def choose(self, state: SlotState, options, rng, stop) -> bool:
        """Make the slot's choices in ``state``; False when the time limit stopped it. Every subclass has one."""

    def run(self, instance, options, *, time_limit, seed, started):
        stop = deadline(started, time_limit)
        states = [SlotState(instance, t) for t in range(instance.slots)]
        built = time.perf_counter()
        rng = np.random.default_rng(0 if seed is None else seed)
        done = 0
        for state in states:
            if _past(stop) or not self.choose(state, options, rng, stop):
                break
            done += 1
        what = self.what if done == instance.slots else (
            f"{self.what}, stopped by the time limit after {done} of {instance.slots} slot(s) (the rest refused)")
        return _result(self, instance, [s.chosen for s in states], options.allocation, started=started,
                       built=built, stop=stop, what=what)


@register_solver
class AllLocal(_PerSlot):
    """Baseline: every requesting user runs its best local option when its device can, else is refused."""

    name, what = "all-local", "all local"

    def choose(self, state, options, rng, stop):
        all_local(state)
        return True


@register_solver
class AllEdge(_PerSlot):
    """Baseline: every user at its own edge, the models loaded greedily by demand under the GPU memory, each
    user's best edge option among them; refused when it has none."""

    name, what = "all-edge", "all at the edge, models loaded by demand"

    def choose(self, state, options, rng, stop):
        all_edge(state)
        return True


@register_solver
class AllCloud(_PerSlot):
    """Baseline: every user in the cloud with its best cloud option; refused when the cloud is disabled."""

    name, what = "all-cloud", "all in the cloud"

    def choose(self, state, options, rng, stop):
        all_cloud(state)
        return True


@register_solver
class EqualShare(_PerSlot):
    """Baseline: every requesting user takes its best option as if it had an equal share of each resource
    with the other requesters of its cell, refused when none beats refusal; on an edge whose memory
    overflows, the models most users chose are kept and the users of the others choose again.

    Parameter-free and deterministic; exact ties go by (model name, configuration name, place), never by the
    order of the file."""

    name, what = "equal-share", "best options at equal shares, models kept by users under the GPU memory"

    def choose(self, state, options, rng, stop):
        equal_share(state)
        return True


@register_solver
class RandomOffload(_PerSlot):
    """Baseline: a seeded random loaded set that fits each edge, then a uniformly random feasible option per
    user."""

    name, what, Options = "random-offload", "random feasible choices", RandomOptions

    def choose(self, state, options, rng, stop):
        random_offload(state, rng, options.keep_probability)
        return True


@register_solver
class GreedyOffload(_PerSlot):
    """Users one at a time (best stand-alone value first), each taking its best response to the contention
    so far (the marginal change of the slot value), loading a model when it fits."""

    name, what, Options = "greedy-offload", "greedy best responses", GreedyOptions

    def choose(self, state, options, rng, stop):
        return greedy(state, options.order, stop)


@register_solver
class OffloadLocalSearch(Solver):
    """Local search from greedy-offload: one user's option changed (or the user refused) at a time while the
    slot value improves, the shares reallocated in closed form."""

    name, family, Options = "offload-ls", "offloading", LocalSearchOptions

    def run(self, instance, options, *, time_limit, seed, started):
        stop = deadline(started, time_limit)
        states = [SlotState(instance, t) for t in range(instance.slots)]
        built = time.perf_counter()
        greedy_done = 0
        for state in states:
            if _past(stop) or not greedy(state, options.order, stop):
                break
            greedy_done += 1
        start_value = sum(s.value() for s in states)
        moves, converged = 0, 0
        if greedy_done == instance.slots:
            for state in states:
                left = None if options.max_moves is None else options.max_moves - moves
                made, ok = local_search(state, options.strategy, stop, left)
                moves += made
                if not ok:
                    break
                converged += 1
        if greedy_done < instance.slots:
            what = (f"stopped by the time limit in the greedy start after {greedy_done} of {instance.slots} "
                    "slot(s) (the rest refused)")
        elif converged == instance.slots:
            what = f"local search ({options.strategy} improvement) converged after {moves} move(s)"
        else:
            why = "the time limit" if _past(stop) else f"max_moves={options.max_moves}"
            what = (f"local search ({options.strategy} improvement) stopped by {why} after {moves} move(s), "
                    f"{converged} of {instance.slots} slot(s) converged")
        return _result(self, instance, [s.chosen for s in states], options.allocation, started=started,
                       built=built, stop=stop, what=what,
                       extra={"moves": moves, "greedy_value": start_value,
                              "converged_slots": converged})
