"""Stopping a backend's C++ solve on Ctrl-C, and when it overruns its time limit.

A backend's solve runs in C++ for minutes without returning to Python, so Python cannot raise
KeyboardInterrupt there: Ctrl-C would wait for the solve to end. :func:`run_stoppable` runs the solve in
a worker thread (every backend releases the GIL while it solves) while the calling thread waits in short
slices, where Ctrl-C does arrive. On Ctrl-C it asks the backend to stop through the backend's own
interrupt (HiGHS's user interrupt, MathOpt's SolveInterrupter, CP-SAT's stop_search), waits for the solve
to return and raises KeyboardInterrupt. A backend that is still running ``OVERRUN_SECONDS`` after the
deadline of the whole call is asked to stop the same way: some backends do not check their clock in
every phase (HiGHS took 89 s under a 60-s limit on large-2), and the time limit bounds the whole call.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

#: How long after the deadline a backend still running is asked to stop (its own limit comes first).
OVERRUN_SECONDS = 0.5
#: How long the calling thread waits for a backend asked to stop before it gives up on it. Some phases of
#: HiGHS (presolve, root cut rounds on large-2) look at the interrupt only every few seconds (1.8-11.5 s
#: measured under load); the command line then exits anyway (:func:`abandoned`), so Ctrl-C takes ~2 s.
STOP_WAIT_SECONDS = 1.5
#: The name of the worker threads that run a backend's solve.
THREAD_NAME = "edgeopt-backend"
#: How often the waiting thread wakes up to look at the clock.
SLICE_SECONDS = 0.05


class Stopped(Exception):
    """Raised inside :func:`run_stoppable` when the backend did not stop within STOP_WAIT_SECONDS."""


def run_stoppable(work: Callable[[], T], stop: Callable[[], None], *, deadline: float | None = None) -> T:
    """``work()`` in a worker thread; ``stop()`` on Ctrl-C or ``OVERRUN_SECONDS`` past ``deadline``.

    Returns what ``work`` returned (after a stop for the deadline, what the backend returned when it
    stopped) or raises what it raised. After Ctrl-C, raises KeyboardInterrupt once the backend stopped
    (or after STOP_WAIT_SECONDS: the worker thread is a daemon and dies with the process).
    """
    done: list = []
    finished = threading.Event()  # waited on, not the thread: an interrupted Thread.join can return at once

    def target() -> None:
        try:
            done.append((True, work()))
        except BaseException as exc:  # handed to the calling thread, which raises it
            done.append((False, exc))
        finally:
            finished.set()

    threading.Thread(target=target, name=THREAD_NAME, daemon=True).start()
    asked = False
    try:
        while not finished.wait(SLICE_SECONDS):
            if not asked and deadline is not None and time.perf_counter() > deadline + OVERRUN_SECONDS:
                stop()
                asked = True
    except KeyboardInterrupt:
        stop()
        finished.wait(STOP_WAIT_SECONDS)
        raise
    ok, value = done[0]
    if not ok:
        raise value
    return value


def abandoned() -> bool:
    """True while a backend asked to stop has not yet returned (its daemon thread still runs C++ code).

    A program leaving after Ctrl-C should then end with ``os._exit``: the interpreter's shutdown would
    otherwise wait on, or tear down modules under, a thread that may still call back into Python.
    """
    return any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate())


def run_in_child(work: Callable[[], bytes], *, deadline: float | None = None, grace: float = 1.0) -> bytes | None:
    """``work()`` in a forked child process, its bytes sent back; the child is killed on Ctrl-C (which
    then goes on up) and ``grace`` seconds past ``deadline`` (then None is returned).

    For a backend whose own interrupt is not checked in long phases: SCIP's Ctrl-C handler and MathOpt's
    interrupter both wait for SCIP to look, and on large-2 it did not for up to 18 s. A killed process
    stops at once. ``work`` runs in the child with the parent's memory (fork: nothing is pickled but the
    result); ``work`` raising sends the exception's text back as a RuntimeError.
    """
    import multiprocessing
    import signal

    def child(conn) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; Ctrl-C reaches both processes
        try:
            conn.send((True, work()))
        except BaseException as exc:  # noqa: BLE001 - handed to the parent as text
            conn.send((False, f"{type(exc).__name__}: {exc}"))
        finally:
            conn.close()

    if multiprocessing.current_process().daemon:
        # A daemonic process (a Dask worker's, say) may not start children: the solve runs here instead.
        return run_stoppable(work, lambda: None, deadline=None)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=child, args=(send,), daemon=True, name="edgeopt-backend")
    proc.start()
    send.close()
    try:
        while not receive.poll(SLICE_SECONDS):
            if not proc.is_alive():
                raise RuntimeError(f"the backend's process died (exit code {proc.exitcode})")
            if deadline is not None and time.perf_counter() > deadline + grace:
                return None
        ok, value = receive.recv()
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        receive.close()
    if not ok:
        raise RuntimeError(value)
    return value
