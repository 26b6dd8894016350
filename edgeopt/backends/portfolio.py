"""The ``highs-portfolio`` backend: several HiGHS searches of one MILP at once, sharing incumbents.

``clones`` HiGHS instances of the model run side by side, one thread each (a thread of this process: HiGHS
1.12 keeps its task scheduler per thread, so the clones do not share one), with different ``random_seed``
values (:func:`clone_seed`; clone 0 has the run's seed, as the ``highs`` backend). Each clone reports its
improving incumbents (HiGHS's ``cbMipImprovingSolution``); before each dive HiGHS asks the clone for a
solution of ours (``cbMipUserSolution``) and is handed the best one another clone found, when it is better
than the clone's own. A clone that proves optimality (or infeasibility) ends the race: the others are
stopped through HiGHS's user interrupt, as Ctrl-C and the deadline stop every clone (edgeopt.interrupt).

Sharing is synchronised so that a proven result does not depend on the clones' relative speed
(:class:`_Race`). A clone counts HiGHS's questions (one after setup, then one before each dive); at its
k-th it is offered only what the others found before their (k - lag + 1)-th, and waits for a clone that has
not got that far. The winner is the proving clone with the fewest questions, then the lowest index: a clone
that proves first lets the others run until none can still prove in fewer. With the same seed, a proven
result (status, plan, objective, bound) is then the same on any machine and under any load; an incumbent and
a bound at a time limit are not. ``lag=None`` runs a free race instead: offers whatever is there, and the
first proof wins; no clone waits, and a proven plan can differ between runs where the optimum is not unique.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from edgeopt.backends.milp import MILPOptions, MILPSolver
from edgeopt.highs import (DEADLINE_STOP, _status_table, _without_stray_line, check_highs_options, highs_model,
                           set_start, solve_matrix)
from edgeopt.interrupt import THREAD_NAME, run_stoppable
from edgeopt.modeling import MatrixForm, Outcome
from edgeopt.registry import register_backend
from edgeopt.result import Status
from edgeopt.solver import deadline, option, require, seconds_left

#: The most clones a run may ask for (each is one thread, one copy of the model and one search tree).
MAX_CLONES = 8
#: Questions a clone may run ahead of the slowest clone before it waits (the default of option ``lag``).
DEFAULT_LAG = 8
#: Clone i's ``random_seed`` is the run's seed plus i times this, mod 2**31.
SEED_STEP = 1_000_003
#: HiGHS options the backend sets itself for every clone: the ``highs`` option may not name them.
OWN_OPTIONS = {"threads": "each clone runs one thread; the option clones sets how many run",
               "random_seed": "the run's seed gives each clone its own"}


def clone_seed(seed: int | None, i: int) -> int:
    """The HiGHS ``random_seed`` of clone ``i``: clone 0 has the run's seed (0 when none is given)."""
    return (int(seed or 0) + i * SEED_STEP) % (2**31)


@dataclass(frozen=True)
class PortfolioOptions(MILPOptions):
    #: How many HiGHS searches run at once, one thread each.
    clones: int = option(2, at_least=1, at_most=MAX_CLONES)
    mip_rel_gap: float = option(0.0, at_least=0)
    mip_abs_gap: float = option(1e-9, at_least=0)
    #: Whether a clone is handed the other clones' incumbents.
    share: bool = option(True)
    #: Questions a clone may run ahead of the slowest before it waits; None: a free race (not reproducible).
    lag: int | None = option(DEFAULT_LAG, at_least=1)
    #: Any further HiGHS option by its HiGHS name, for every clone (checked by HiGHS).
    highs: dict = option(factory=dict)

    def check(self) -> None:
        super().check()
        for key, why in OWN_OPTIONS.items():
            require(key not in self.highs, "highs", f"without {key!r} ({why})", self.highs)


@dataclass
class _Clone:
    """One clone; its counters and lists are read and written under the race's lock."""

    index: int
    seed: int
    h: object
    asked: int = 0  # cbMipUserSolution calls so far
    #: Improving incumbents as (asked when found, minimisation value, x), each better than the one before.
    found: list = field(default_factory=list)
    offered: float = math.inf  # the (minimisation) value last handed to this clone
    done: bool = False
    lost: bool = False  # asked to stop: another clone's proof wins
    status: object = None  # HiGHS's model status at the end
    error: BaseException | None = None


class _Race:
    """What the clones share: how far each got, what each found, the winner; one lock and its condition.

    Values are kept as minimisation values (``sign`` x HiGHS's objective): smaller is better."""

    def __init__(self, clones: list[_Clone], sign: float, lag: int | None, share: bool):
        self.clones, self.sign, self.lag, self.share = clones, sign, lag, share
        self.cond = threading.Condition()
        self.winner: tuple[int, int] | None = None  # (questions, index) of the winning proof
        self.stopped = False  # Ctrl-C, the deadline or an error: every clone is asked to stop

    # -- HiGHS's callbacks, in the clone's thread ------------------------------------------------------------
    def improved(self, c: _Clone, e) -> None:
        x = np.array(e.data_out.mip_solution, dtype=float)
        with self.cond:
            c.found.append((c.asked, self.sign * float(e.data_out.objective_function_value), x))
            self._prune(c)

    def ask(self, c: _Clone, e) -> None:
        """HiGHS asks clone ``c`` for a solution (after setup, then before each dive)."""
        with self.cond:
            c.asked += 1
            k = c.asked
            self.cond.notify_all()
            if self.lag is not None:
                while not (self.stopped or self._loses(c)) and any(
                        not o.done and o.asked < k - self.lag + 1 for o in self.clones if o is not c):
                    self.cond.wait(0.5)
            if self.stopped or self._loses(c) or not self.share:
                return
            best = None  # (value, x) of the best incumbent the other clones found in time
            for o in self.clones:
                seen = [f for f in o.found if self.lag is None or f[0] <= k - self.lag] if o is not c else []
                if seen and (best is None or seen[-1][1] < best[0]):
                    best = seen[-1][1:]
            mine = self.sign * float(e.data_out.mip_primal_bound)  # +-inf without an incumbent
            if best is not None and _better(best[0], mine) and _better(best[0], c.offered):
                c.offered = best[0]
                e.data_in.setSolution(best[1])

    # -- the clone's thread when its run returns; the waiting thread --------------------------------------------
    def finished(self, c: _Clone, proved: bool) -> None:
        with self.cond:
            c.done = True
            if proved and not c.lost and (self.winner is None or (c.asked, c.index) < self.winner):
                self.winner = (c.asked, c.index)
                for o in self.clones:
                    if not o.done:
                        self._loses(o)
            if c.error is not None:
                self._stop()
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self._stop()

    # -- under the lock ----------------------------------------------------------------------------------------
    def _stop(self) -> None:
        self.stopped = True
        for c in self.clones:
            c.h.cancelSolve()
        self.cond.notify_all()

    def _loses(self, c: _Clone) -> bool:
        """Whether clone ``c`` can no longer beat the proof on record (if so, it is asked to stop)."""
        if (not c.lost and self.winner is not None and c.index != self.winner[1]
                and (self.lag is None or (c.asked, c.index) > self.winner)):
            c.lost = True
            c.h.cancelSolve()
        return c.lost

    def _prune(self, c: _Clone) -> None:
        """Drop the incumbents of ``c`` that no clone can be handed any more."""
        others = [o.asked for o in self.clones if o is not c and not o.done]
        if self.lag is None or not others:
            del c.found[:-1]
            return
        # A clone's next question sees c's incumbents found up to its own count - lag, at least this:
        visible = min(others) - self.lag
        keep = max((i for i, f in enumerate(c.found) if f[0] <= visible), default=0)
        del c.found[:keep]


def _better(a: float, b: float) -> bool:
    """Minimisation value ``a`` is better than ``b`` by more than rounding noise (1e-9 relative)."""
    return a < (b - 1e-9 * max(1.0, abs(b)) if math.isfinite(b) else b)


def _point(h):
    """HiGHS's incumbent (x, objective) and dual bound, each None where it has none."""
    info = h.getInfo()
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value) if has_x else None
    obj = float(info.objective_function_value) if has_x else None
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    return x, obj, bound


def race(mf: MatrixForm, options: PortfolioOptions, *, time_limit: float | None, seed: int | None,
         start: np.ndarray | None) -> Outcome:
    """Solve ``mf`` with ``options.clones`` HiGHS clones (see the module's docstring)."""
    import highspy

    started = time.perf_counter()
    until = deadline(started, time_limit)
    settings = {"mip_rel_gap": float(options.mip_rel_gap), "mip_abs_gap": float(options.mip_abs_gap), "threads": 1}
    clones: list[_Clone] = []
    sign = 1.0 if mf.sense == "min" else -1.0
    shared = _Race(clones, sign, options.lag, options.share)
    for i in range(options.clones):
        if i and until is not None and time.perf_counter() >= until:
            break  # the limit came while the models were being passed to HiGHS: race the clones there are
        h = highs_model(mf)
        for key, value in {**settings, **options.highs, "random_seed": clone_seed(seed, i)}.items():
            h.setOptionValue(key, value)
        if start is not None:
            set_start(h, start)
        c = _Clone(i, clone_seed(seed, i), h)
        h.HandleUserInterrupt = True  # cancelSolve() then stops it (simplex, IPM and MIP interrupt callbacks)
        h.cbMipImprovingSolution.subscribe(lambda e, c=c: shared.improved(c, e))
        h.cbMipUserSolution.subscribe(lambda e, c=c: shared.ask(c, e))
        clones.append(c)
    left = seconds_left(started, time_limit)
    if left is not None:
        for c in clones:
            c.h.setOptionValue("time_limit", float(left))
    proofs = {highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible,
              highspy.HighsModelStatus.kUnbounded}

    def run_clone(c: _Clone) -> None:
        try:
            c.h.run()
            c.status = c.h.getModelStatus()
        except BaseException as exc:  # noqa: BLE001 - raised again by the waiting thread
            c.error = exc
        finally:
            shared.finished(c, c.status in proofs)

    def run_all() -> None:
        for c in clones:
            threading.Thread(target=run_clone, args=(c,), name=THREAD_NAME, daemon=True).start()
        with shared.cond:
            while not all(c.done for c in clones):
                shared.cond.wait(0.5)
        for c in clones:
            if c.error is not None:
                raise RuntimeError(f"highs-portfolio: clone {c.index} failed: {c.error!r}") from c.error

    with _without_stray_line():
        run_stoppable(run_all, shared.stop, deadline=until)
    return _outcome(mf, shared, started=started, time_limit=time_limit, options=options, seed=seed, start=start)


def _outcome(mf: MatrixForm, shared: _Race, *, started, time_limit, options, seed, start) -> Outcome:
    import highspy

    M = highspy.HighsModelStatus
    clones = shared.clones
    if shared.winner is not None:
        w = clones[shared.winner[1]]
        status = _status_table()[w.status]
        raw = f"{w.h.modelStatusToString(w.status)} (clone {w.index} of {len(clones)}, seed {w.seed})"
        if status != Status.OPTIMAL:
            return Outcome(status, raw)  # infeasible or unbounded: no point, no bound
        x, obj, bound = _point(w.h)
        return Outcome(status, raw, x=x, objective=obj, bound=bound)
    if all(c.status in (M.kUnboundedOrInfeasible, M.kSolveError) for c in clones):
        # HiGHS's presolve could not tell infeasible from unbounded, or a numerical "Solve error": the ``highs``
        # backend's one-thread path settles both with its reruns, in the time left.
        left = seconds_left(started, time_limit, floor=0.0)
        if left is not None and left <= 0:
            return Outcome(Status.TIME_LIMIT, f"time limit (the clones ended "
                                              f"{clones[0].h.modelStatusToString(clones[0].status)!r})")
        return solve_matrix(mf, time_limit=left, seed=seed, threads=1, mip_rel_gap=options.mip_rel_gap,
                            mip_abs_gap=options.mip_abs_gap, options=options.highs, start=start)
    return _combined(clones, shared.sign)


def _combined(clones: list[_Clone], sign: float) -> Outcome:
    """No proof: the best incumbent over the clones (the lowest index among equals) and the tightest bound."""
    import highspy

    M = highspy.HighsModelStatus
    best = bound = None  # (x, objective, clone); bound
    for c in clones:
        x, obj, b = _point(c.h)
        if x is not None and (best is None or sign * obj < sign * best[1]):
            best = (x, obj, c)
        if b is not None and (bound is None or sign * b > sign * bound):
            bound = b
    x, obj, by = best if best is not None else (None, None, clones[0])
    if any(c.status in (M.kTimeLimit, M.kInterrupt) for c in clones):
        raw = DEADLINE_STOP if any(c.status == M.kInterrupt for c in clones) else "Time limit reached"
        return Outcome(Status.TIME_LIMIT, raw, x=x, objective=obj, bound=bound)
    # Other stops (HiGHS's node or solution limits given through ``highs``, errors): keep what was found.
    raw = by.h.modelStatusToString(by.status)
    if x is None:
        return Outcome(Status.ERROR, raw, bound=bound, message=f"HiGHS stopped every clone, clone 0 with {raw!r}")
    return Outcome(Status.FEASIBLE, raw, x=x, objective=obj, bound=bound)


@register_backend
class HighsPortfolioSolver(MILPSolver):
    """Several one-thread HiGHS searches at once (seeds differ), sharing incumbents; the first proof ends all (exact)."""

    name, requires, Options = "highs-portfolio", ("highspy",), PortfolioOptions

    def solve_matrix(self, mf, model, options, *, time_limit=None, seed=None, start=None) -> Outcome:
        check_highs_options(options.highs)
        if options.clones == 1 or not mf.integrality.any():
            # One clone, or an LP (no search to race): the ``highs`` backend's one-thread path.
            return solve_matrix(mf, time_limit=time_limit, seed=seed, threads=1, mip_rel_gap=options.mip_rel_gap,
                                mip_abs_gap=options.mip_abs_gap, options=options.highs, start=start)
        return race(mf, options, time_limit=time_limit, seed=seed, start=start)
