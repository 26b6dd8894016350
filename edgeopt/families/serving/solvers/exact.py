"""The serving family's exact yardsticks and the methods built on the exact window (solvers/window.py).

- ``hindsight``: the optimum of the whole horizon with every arrival known (not an online method: it is the
  bound every online method is judged against), one window per cell over all slots, outer approximation on
  HiGHS; ``optimal`` only when every cell was proven.
- ``myopic``: online; in each slot, per cell, the exact optimum of that slot alone from the state it starts
  in (its loads and the backlog at its end counted; what that backlog and those models mean for later
  slots not).
- ``mpc``: online; in each slot, per cell, the exact optimum of a rolling window of ``horizon`` slots whose
  later slots are forecast from what has arrived (``forecast="persistence"``: the slot's own requests asked
  again in each later slot of the window), of which only the first slot's decisions are kept.

Both online methods then **keep what they need not evict** (:func:`keep_unused`): a model loaded in the state
the slot starts from that no request of the slot uses is a tie in the window's MILP (evicting is free, holding
costs nothing), so the solver's answer may drop it, and a later slot would pay to load it again. After the
answer for the first slot is applied, each edge takes back the models it held at the slot's start and the
answer dropped, most recently used first (``View.last_used``; ties, and models never used, by model index),
each one only if it fits in the edge's memory beside the models already held (within ``1 + 1e-9`` of it, as
online.check_decision). This never lowers the slot's value (the models are loaded already: no load seconds, no
cost) and spares later slots their reloading; later slots may then choose differently, and as myopic is blind
to the future that is usually, not always, for the better.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgeopt.families.serving.instance import Instance, Solution
from edgeopt.families.serving.solvers.online import Decision, View, run_online
from edgeopt.families.serving.solvers.window import (State, Statics, Window, WindowAnswer, build_window,
                                                      minimal_loaded, solve_oa, window_value)
from edgeopt.mec import EDGE, shares
from edgeopt.registry import register_solver
from edgeopt.result import Result, Status, relative_gap
from edgeopt.solver import Options, Solver, deadline, option


def assemble(inst: Instance, chosen: list[np.ndarray], loaded: np.ndarray) -> Solution:
    """The Solution of a choice per requesting user in every slot and the loaded models (E, M, T), every
    resource shared by the square-root rule."""
    U, T = inst.num_users, inst.slots
    k, p = np.full((U, T), -1, np.int64), np.full((U, T), -1, np.int64)
    x = np.zeros((U, T, 3))
    for t in range(T):
        o = inst.options(t)
        c = np.asarray(chosen[t], dtype=np.int64)
        served = c >= 0
        k[o.users[served], t] = o.config[c[served]]
        p[o.users[served], t] = o.place[c[served]]
        x[:, t] = shares(inst, o, c)
    return Solution(k, p, np.asarray(loaded, dtype=bool), x)


def online_result(solver: Solver, instance: Instance, decide, what: str, *, started: float,
                  until: float | None) -> Result:
    """Play ``decide`` over the instance under the information rule (online.run_online) and price the plan;
    slots the time limit left undecided refuse their requests, which ``raw_status`` says. ``extra`` has the
    time spent in ``decide`` (``decision_seconds``) and per slot decided (``decision_ms_per_slot``): the
    decisions alone, without the driver's checks or the final pricing."""
    built = time.perf_counter()
    spent = [0.0]

    def timed(view):
        t0 = time.perf_counter()
        try:
            return decide(view)
        finally:
            spent[0] += time.perf_counter() - t0

    timed.__qualname__ = getattr(decide, "__qualname__", "the method")
    chosen, loaded, done = run_online(instance, timed, until)
    if done < instance.slots:
        what += f"; stopped by the time limit after {done} of {instance.slots} slot(s) (later requests refused)"
    return solver.plan_result(instance, assemble(instance, chosen, loaded), build_seconds=built - started,
                              solve_seconds=time.perf_counter() - built, raw_status=what,
                              extra={"slots_decided": done, "decision_seconds": spent[0],
                                     "decision_ms_per_slot": 1000.0 * spent[0] / max(done, 1)})


def greedy_start(w: Window) -> tuple[np.ndarray, np.ndarray]:
    """A feasible start for a window: per slot, each request's best option alone that needs no model beyond
    what fits with those already chosen in the slot (largest value first), the models it needs loaded."""
    choice = np.full(w.R, -1, dtype=np.int64)
    alone = w.value - (w.root ** 2).sum(axis=1)
    for j in range(w.L):
        used = np.zeros(w.M, dtype=bool)
        for r in np.flatnonzero(w.req_slot == j):
            idx = np.flatnonzero(w.opt_req == r)
            for o in idx[np.argsort(-alone[idx], kind="stable")]:
                if alone[o] <= w.refusal[r]:
                    break
                if w.place[o] == EDGE and not used[w.model[o]]:
                    if (used @ w.memory) + w.memory[w.model[o]] > w.capacity:
                        continue
                    used[w.model[o]] = True
                choice[r] = o
                break
    return choice, minimal_loaded(w, choice)


def solve_window(w: Window, until: float | None, seed: int | None, start_points: int) -> WindowAnswer:
    return solve_oa(w, greedy_start(w), until, seed=seed, start_points=start_points)


def _apply(answer: WindowAnswer, w: Window, j: int, chosen: np.ndarray, loaded: np.ndarray) -> None:
    """Write slot ``j`` of a window's answer into a slot's choices (indices into its table) and loaded set."""
    mine = np.flatnonzero(w.req_slot == j)
    c = answer.choice[mine]
    if w.O:  # (a window whose requests can be served nowhere has no option: they stay refused)
        chosen[w.req_pos[mine]] = np.where(c >= 0, w.opt_id[np.maximum(c, 0)], -1)
    loaded[w.edge] = answer.y[j]


@dataclass(frozen=True)
class ExactOptions(Options):
    #: Initial tangent cuts per slot and resource, evenly spaced up to the largest possible summed root.
    start_points: int = option(4, at_least=1, at_most=1000)


def horizon_result(solver: Solver, instance: Instance, windows: list[Window], answers: list[WindowAnswer], *,
                   started: float, built: float) -> Result:
    """The Result of one answer per cell over the whole horizon: the plan (choices, held models, square-root
    shares) priced by the evaluator, ``optimal`` only when every cell was proven, the summed bounds."""
    chosen = [np.full(instance.options(t).users.size, -1, dtype=np.int64) for t in range(instance.slots)]
    loaded = np.zeros((instance.num_edges, instance.num_models, instance.slots), dtype=bool)
    for w, a in zip(windows, answers):
        for j in range(w.L):
            loaded_j = loaded[:, :, j].copy()
            _apply(a, w, j, chosen[j], loaded_j)
            loaded[:, :, j] = loaded_j
    sol = assemble(instance, chosen, loaded)
    proven = all(a.proven for a in answers)
    value = float(sum(a.value for a in answers))
    bounds = [a.bound for a in answers]
    bound = float(sum(bounds)) if all(b is not None for b in bounds) else None
    status = Status.OPTIMAL if proven else (Status.TIME_LIMIT if any(a.stopped for a in answers) else Status.FEASIBLE)
    if proven:
        bound = max(bound, value)
    raw = f"{len(windows)} cell(s) over {instance.slots} slot(s): " + "; ".join(sorted({a.raw for a in answers}))
    result = solver.plan_result(instance, sol, build_seconds=built - started,
                                solve_seconds=time.perf_counter() - built, raw_status=raw,
                                extra={"milps": int(sum(a.milps for a in answers)), "windows_value": value,
                                       "proven_cells": int(sum(a.proven for a in answers))})
    if result.status == Status.ERROR:
        return result
    return Result(status=status, solver=solver.name, objective=result.objective, bound=bound,
                  gap=None if bound is None else relative_gap(result.objective, bound, "max"), solution=sol,
                  evaluation=result.evaluation, build_seconds=result.build_seconds,
                  solve_seconds=result.solve_seconds, raw_status=raw, extra=result.extra)


@register_solver
class Hindsight(Solver):
    """Exact hindsight optimum (every arrival known): one MILP per cell over the whole horizon, outer
    approximation on HiGHS; the bound every online method is judged against."""

    name, family, Options = "hindsight", "serving", ExactOptions
    requires = ("highspy",)
    exact = gives_bound = True

    def run(self, instance, options, *, time_limit, seed, started):
        until = deadline(started, time_limit)
        statics, state = Statics.of(instance), State.initial(instance)
        tables = [instance.options(t) for t in range(instance.slots)]
        windows = [build_window(statics, e, tables, state) for e in range(instance.num_edges)]
        built = time.perf_counter()
        answers = []
        for w in windows:
            if until is not None and time.perf_counter() >= until:
                choice, y = greedy_start(w)
                answers.append(WindowAnswer(choice, y, window_value(w, choice, y), None, False, True, "not reached"))
            else:
                answers.append(solve_window(w, until, seed, options.start_points))
        return horizon_result(self, instance, windows, answers, started=started, built=built)


def keep_unused(statics: Statics, start: np.ndarray, loaded: np.ndarray, last_used: np.ndarray, e: int) -> None:
    """Give back to edge ``e``'s ``loaded`` (M,) row the models of ``start`` (M,) it dropped, most recently used
    first (``last_used`` (M,), ties by model index), each while it fits the edge's memory (module docstring)."""
    dropped = np.flatnonzero(start & ~loaded)
    room = statics.edge_memory_gb[e] * (1 + 1e-9)
    used = float(loaded.astype(float) @ statics.model_memory_gb)
    for m in sorted(dropped.tolist(), key=lambda m: (-int(last_used[m]), m)):
        if used + statics.model_memory_gb[m] <= room:
            loaded[m] = True
            used += float(statics.model_memory_gb[m])


def _window_method(view: View, horizon: int, until: float | None, seed: int | None, start_points: int) -> Decision:
    """Per cell, the exact window from the view's state over the current slot and ``horizon - 1`` forecast
    slots; the first slot's decisions, with the held models the answer dropped needlessly kept (keep_unused)."""
    st, o = view.statics, view.options
    tables = [o] * horizon  # persistence: the slot's requests asked again in every later slot of the window
    chosen = np.full(o.users.size, -1, dtype=np.int64)
    loaded = view.state.loaded.copy()
    for e in range(st.num_edges):
        w = build_window(st, e, tables, view.state)
        a = solve_window(w, until, seed, start_points)
        _apply(a, w, 0, chosen, loaded)
        keep_unused(st, view.state.loaded[e], loaded[e], view.last_used[e], e)
    return Decision(chosen, loaded)


@dataclass(frozen=True)
class MPCOptions(ExactOptions):
    horizon: int = option(3, at_least=1, at_most=100)  # slots in the rolling window, the current one included
    forecast: Literal["persistence"] = "persistence"


class _OnlineExact(Solver):
    family = "serving"
    requires = ("highspy",)
    horizon_of = staticmethod(lambda options: 1)

    def run(self, instance, options, *, time_limit, seed, started):
        until = deadline(started, time_limit)

        def decide(view: View) -> Decision:
            return _window_method(view, self.horizon_of(options), until, seed, options.start_points)

        return online_result(self, instance, decide, self.what(options), started=started, until=until)


@register_solver
class Myopic(_OnlineExact):
    """Online: each slot's exact optimum from the state it starts in, per cell (outer approximation on HiGHS),
    blind to what its work and loads leave for later slots."""

    name, Options = "myopic", ExactOptions

    @staticmethod
    def what(options) -> str:
        return "each slot's exact optimum from its state (myopic)"


@register_solver
class MPC(_OnlineExact):
    """Online: per slot and cell, the exact optimum of a rolling window whose later slots repeat the slot's own
    requests (persistence forecast); only the first slot's decisions are kept."""

    name, Options = "mpc", MPCOptions
    horizon_of = staticmethod(lambda options: options.horizon)

    @staticmethod
    def what(options) -> str:
        return f"rolling {options.horizon}-slot exact windows, {options.forecast} forecast (mpc)"
