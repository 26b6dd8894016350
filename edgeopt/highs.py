"""Driving HiGHS (highspy) on a matrix-form model: what the ``highs`` backend and the family solvers that
solve MILPs of their own (offloading's outer approximation) share.

The matrix form is passed in one call (CSC arrays) and the solution copied out in bulk; the solve runs
stoppable by Ctrl-C and past its deadline (edgeopt.interrupt); HiGHS's model status is mapped through one
table into :class:`~edgeopt.result.Status`, its own words kept (but for a stop at edgeopt's deadline, which
HiGHS calls a user interrupt: :data:`DEADLINE_STOP`).
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
from typing import Callable, TypeVar

import numpy as np

from edgeopt.interrupt import THREAD_NAME, run_stoppable
from edgeopt.modeling import MatrixForm, Model, Outcome
from edgeopt.result import Status
from edgeopt.solver import MAX_THREADS, deadline, seconds_left

T = TypeVar("T")

#: The thread count HiGHS's process-wide task scheduler was started with (None: not started by us).
_scheduler_threads: int | None = None


def highs_model(mf: MatrixForm, *, names: Model | None = None):
    """A ``highspy.Highs`` holding the model (silent), with readable names when ``names`` is given."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    A = mf.A.tocsc()
    integrality = mf.integrality.astype(np.int32)  # 1 = kInteger, 0 = kContinuous
    h.passModel(mf.num_cols, mf.num_rows, int(A.nnz), 1, 1 if mf.sense == "min" else -1, float(mf.offset),
                mf.c, mf.col_lo, mf.col_hi, mf.row_lo, mf.row_hi,
                A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float), integrality)
    if names is not None:
        # LP files read '[' as the start of a quadratic term: block(i,j,k) reads back in every format.
        plain = lambda n: n.replace("[", "(").replace("]", ")")  # noqa: E731
        for j, n in enumerate(names.column_names()):
            h.passColName(j, plain(n))
        for i, n in enumerate(names.row_names()):
            h.passRowName(i, plain(n))
    return h


def set_start(h, x: np.ndarray) -> None:
    """Hand HiGHS a complete solution vector as a starting incumbent (it checks the vector itself)."""
    import highspy

    solution = highspy.HighsSolution()
    solution.col_value = np.asarray(x, dtype=float).tolist()
    solution.value_valid = True
    h.setSolution(solution)


def use_threads(threads: int) -> None:
    """Make HiGHS's global task scheduler run ``threads`` threads. HiGHS starts that scheduler once per
    process with the first solve's thread count and answers a later solve that asks for another count
    with the status 'Not Set'; resetting it first lets thread counts change between solves."""
    global _scheduler_threads
    import highspy

    if _scheduler_threads is not None and _scheduler_threads != threads:
        highspy._core._Highs.resetGlobalScheduler(True)
    _scheduler_threads = threads


#: A line HiGHS 1.12 prints to stdout whatever its output_flag (ERGO-Code/HiGHS#2783, fixed after 1.12, the
#: version ortools 9.15 lets us pin): it is taken out of what the solve writes to stdout.
STRAY_LINE = "HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();"


@contextlib.contextmanager
def _without_stray_line():
    """Capture file descriptor 1 while HiGHS runs and write back everything but :data:`STRAY_LINE`."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if line.strip() != STRAY_LINE]
            if kept:
                sys.stdout.write("".join(kept))
                sys.stdout.flush()


def run_highs(h, until: float | None) -> None:
    """``h.run()``, stoppable by Ctrl-C and past ``until`` (edgeopt.interrupt), through HiGHS's user interrupt."""
    h.HandleUserInterrupt = True
    with _without_stray_line():
        run_stoppable(h.run, h.cancelSolve, deadline=until)


def check_highs_options(options: dict) -> None:
    """Raise ValueError naming the first HiGHS option HiGHS itself rejects (name or value)."""
    import highspy

    probe = highspy.Highs()
    probe.setOptionValue("output_flag", False)
    for key, value in options.items():
        if key == "threads" and isinstance(value, int) and not isinstance(value, bool) and value > MAX_THREADS:
            raise ValueError(f"option highs: threads={value!r}: at most {MAX_THREADS}")
        if probe.setOptionValue(key, value) != highspy.HighsStatus.kOk:
            raise ValueError(f"option highs: HiGHS rejects {key}={value!r}")


#: The raw status of a solve HiGHS did not end by its own time limit, stopped at the deadline of the whole
#: call (edgeopt.interrupt): HiGHS reports it as its user interrupt.
DEADLINE_STOP = "time limit (stopped at edgeopt's deadline)"


def _status_table():
    import highspy

    M = highspy.HighsModelStatus
    return {M.kOptimal: Status.OPTIMAL, M.kInfeasible: Status.INFEASIBLE, M.kUnbounded: Status.UNBOUNDED,
            M.kTimeLimit: Status.TIME_LIMIT, M.kInterrupt: Status.TIME_LIMIT}


def _configured(mf: MatrixForm, *, time_limit: float | None, seed: int | None, threads: int, mip_rel_gap: float,
                mip_abs_gap: float, options: dict | None):
    """A HiGHS model of ``mf`` with edgeopt's settings for one solve, and those settings."""
    h = highs_model(mf)
    settings = {"mip_rel_gap": float(mip_rel_gap), "mip_abs_gap": float(mip_abs_gap), "threads": int(threads),
                **(options or {})}
    if time_limit is not None:
        settings["time_limit"] = float(time_limit)
    if seed is not None:
        settings["random_seed"] = int(seed) % (2 ** 31)
    for key, value in settings.items():
        h.setOptionValue(key, value)
    return h, settings


def solve_matrix(mf: MatrixForm, *, time_limit: float | None = None, seed: int | None = None, threads: int = 1,
                 mip_rel_gap: float = 0.0, mip_abs_gap: float = 1e-9, options: dict | None = None,
                 start: np.ndarray | None = None) -> Outcome:
    """Solve ``mf`` with HiGHS (relative gap 0 by default): status, solution, objective and proven bound.
    ``start``, a solution vector, is handed to HiGHS as its first incumbent (``setSolution``)."""
    import highspy

    started = time.perf_counter()
    until = deadline(started, time_limit)
    h, settings = _configured(mf, time_limit=time_limit, seed=seed, threads=threads, mip_rel_gap=mip_rel_gap,
                              mip_abs_gap=mip_abs_gap, options=options)
    use_threads(int(threads))
    if start is not None:
        set_start(h, start)
    run_highs(h, until)

    reruns = []

    def rerun(left):
        reruns.append(left)
        h.setOptionValue("presolve", "off")
        if left is not None:
            h.setOptionValue("time_limit", max(1e-3, left))
        run_highs(h, until)

    ambiguous = h.getModelStatus() == highspy.HighsModelStatus.kUnboundedOrInfeasible and mf.integrality.any()
    settle_infeasible_or_unbounded(ambiguous, rerun, started, time_limit)
    if h.getModelStatus() == highspy.HighsModelStatus.kSolveError and not reruns:
        # HiGHS can stop with "Solve error" where it fails numerically: in presolve (requests of 1e9 beside
        # inference times of 1e-6 s), or at its own tolerance (a capacity exceeded by exactly 1e-6). Once
        # more, with the time left, without presolve and with a feasibility tolerance ten times tighter,
        # settles both (a plan within the tighter tolerance is within the evaluators' too).
        h.setOptionValue("mip_feasibility_tolerance", 0.1 * float(settings.get("mip_feasibility_tolerance", 1e-6)))
        left = seconds_left(started, time_limit, floor=0.0)
        if left is None or left > 0:
            rerun(left)
    return read_outcome(h, mf)


def solve_many(mfs: list[MatrixForm], *, workers: int = 1, until: float | None = None, seed: int | None = None,
               min_seconds: float = 0.0, options: dict | None = None) -> list[Outcome | None]:
    """Solve independent models, each as :func:`solve_matrix` does with one thread (relative gap 0, the seed,
    further HiGHS ``options``), ``workers`` of them at once: each worker, a thread of this process running one
    HiGHS (HiGHS 1.12 keeps its task scheduler per thread), takes the next model in the order given when its
    last one ends.

    Each model gets the time left until ``until`` (a perf_counter deadline; None: no limit); a model that
    would start with ``min_seconds`` or less left is not started and gets None. Every solve is deterministic
    for its seed, so without a deadline the results do not depend on ``workers`` or on the machine's load.
    Ctrl-C and the deadline stop every running solve (edgeopt.interrupt). A solve that ends without a verdict
    HiGHS can settle by itself (infeasible or unbounded undecided, a numerical "Solve error") is run again
    by :func:`solve_matrix`, which settles it, in the time left."""
    import highspy

    def left() -> float | None:
        return None if until is None else until - time.perf_counter()

    def solve_one(i: int) -> Outcome | None:
        t = left()
        return None if t is not None and t <= min_seconds else solve_matrix(mfs[i], time_limit=t, seed=seed,
                                                                                 options=options)

    if workers <= 1 or len(mfs) <= 1:
        return [solve_one(i) for i in range(len(mfs))]

    results: list[Outcome | None] = [None] * len(mfs)
    waiting = list(range(len(mfs)))[::-1]  # popped from the end: the order given
    running: dict = {}
    errors: list = []
    rerun: list[int] = []
    unsettled = (highspy.HighsModelStatus.kUnboundedOrInfeasible, highspy.HighsModelStatus.kSolveError)
    lock = threading.Lock()
    stopped = threading.Event()

    def stop() -> None:
        with lock:
            stopped.set()
            for h in running.values():
                h.cancelSolve()  # kept until the run ends, also when asked before it starts

    def worker() -> None:
        try:
            while True:
                with lock:
                    if stopped.is_set() or not waiting:
                        return
                    i = waiting.pop()
                t = left()
                if t is not None and t <= min_seconds:
                    return
                h, _ = _configured(mfs[i], time_limit=t, seed=seed, threads=1, mip_rel_gap=0.0, mip_abs_gap=1e-9,
                                   options=options)
                h.HandleUserInterrupt = True
                with lock:
                    running[i] = h
                    if stopped.is_set():
                        h.cancelSolve()
                try:
                    h.run()
                finally:
                    with lock:
                        del running[i]
                if h.getModelStatus() in unsettled:
                    rerun.append(i)
                results[i] = read_outcome(h, mfs[i])
        except BaseException as exc:  # noqa: BLE001 - raised again by the waiting thread
            errors.append(exc)
            stop()

    def run_all() -> None:
        threads = [threading.Thread(target=worker, name=THREAD_NAME, daemon=True)
                   for _ in range(min(workers, len(mfs)))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errors:
            raise errors[0]

    with _without_stray_line():
        run_stoppable(run_all, stop, deadline=until)
    for i in sorted(rerun):
        results[i] = solve_one(i)
    return results


def read_outcome(h, mf: MatrixForm) -> Outcome:
    """What a HiGHS run of ``mf`` ended with: status, solution, objective and proven bound."""
    import highspy

    ms = h.getModelStatus()
    info = h.getInfo()
    # HiGHS's user interrupt is raised only by edgeopt's stops, and after Ctrl-C run_stoppable raises before
    # this point: an interrupted solve was stopped at edgeopt's deadline (HiGHS's own words, "Interrupted by
    # user", would blame the user).
    raw = DEADLINE_STOP if ms == highspy.HighsModelStatus.kInterrupt else h.modelStatusToString(ms)
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value) if has_x else None
    obj = float(info.objective_function_value) if has_x else None
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    status = _status_table().get(ms)
    if status is None:  # other stops (solution or iteration limits, errors): keep what was found, prove nothing
        status = Status.FEASIBLE if has_x else Status.ERROR
    if status in (Status.INFEASIBLE, Status.UNBOUNDED):
        x = obj = bound = None  # HiGHS leaves placeholder zeros that are not a solution or a bound
    if status == Status.OPTIMAL and not mf.integrality.any():
        bound = obj
    return Outcome(status, raw, x=x, objective=obj, bound=bound,
                   message="" if status != Status.ERROR else f"HiGHS stopped with status {raw!r}")


#: A model with more nonzeros than this is solved by :func:`solve_by_deadline` in a forked child process, killed
#: ``CHILD_GRACE`` seconds past the deadline of the whole call if it is still running. HiGHS looks at its clock
#: and its interrupt only now and then in presolve and its first heuristics: on an offloading part of 500,000
#: options (4 million nonzeros, the most an instance may have, edgeopt.mec.MAX_OPTION_ROWS) presolve ran 4.6 s
#: under a 2.7-s limit, and offload-oa's whole call 14 s under a 5-s one; the serving family's hindsight overran
#: a 3-s limit by 4.4 s at its own limit. Smaller models stay in this process (a fork per MILP would cost more
#: than they take).
CHILD_NONZEROS = 200_000
#: Seconds past the deadline at which that child is killed.
CHILD_GRACE = 0.5


def solve_by_deadline(mf: MatrixForm, until: float | None, *, seed: int | None = None, start: np.ndarray | None = None,
                      options: dict | None = None) -> Outcome:
    """:func:`solve_matrix` with the time left until ``until`` (a perf_counter deadline; None: no limit); a model
    of more than ``CHILD_NONZEROS`` nonzeros in a forked child process killed ``CHILD_GRACE`` s past ``until``,
    which then ends ``time_limit`` with no solution and no bound."""
    import pickle

    from edgeopt.interrupt import run_in_child

    left = None if until is None else max(until - time.perf_counter(), 1e-3)
    if until is None or mf.A.nnz <= CHILD_NONZEROS:
        return solve_matrix(mf, time_limit=left, seed=seed, start=start, options=options)
    data = run_in_child(lambda: pickle.dumps(solve_matrix(mf, time_limit=left, seed=seed, start=start,
                                                          options=options)), deadline=until, grace=CHILD_GRACE)
    if data is None:
        return Outcome(Status.TIME_LIMIT, "stopped past the time limit (its process killed)")
    return pickle.loads(data)


def settle_infeasible_or_unbounded(is_ambiguous: bool, rerun: Callable[[float | None], T], started: float,
                                   time_limit: float | None) -> T | None:
    """HiGHS's MIP presolve cannot tell an infeasible model from an unbounded one; its search without
    presolve can (it then reports unbounded only with a feasible point, or infeasible). When the first
    run was ambiguous and time is left, ``rerun(seconds left)`` runs again without presolve."""
    if not is_ambiguous:
        return None
    left = seconds_left(started, time_limit, floor=0.0)
    if left is not None and left <= 0:
        return None
    return rerun(left)
