"""Ctrl-C inside a test: ``KeyboardInterrupt`` raised in the calling thread a while into a call, and a check that
no backend thread is left solving afterwards.

In-process, so :func:`ctrl_c_after` installs a SIGINT handler of its own for its duration (another test in the
same worker process must not decide what an interrupt does here): the first signal raises KeyboardInterrupt,
later ones do nothing. The interrupt is repeated every 0.5 s until it has been delivered once (in CI one
``interrupt_main`` was lost and the call ran to its end); a real Ctrl-C, one signal to a fresh process, is
tests/test_interrupts.py's.
"""
from __future__ import annotations

import _thread
import contextlib
import signal
import threading
import time

from edgeopt.interrupt import abandoned


@contextlib.contextmanager
def ctrl_c_after(seconds: float):
    """Interrupt the calling thread ``seconds`` into the ``with`` block (unless it has left the block by then)."""
    delivered, returned = threading.Event(), threading.Event()

    def handler(signum, frame):
        if not delivered.is_set():  # a second trip, pending when the first was handled, must not raise later
            delivered.set()
            raise KeyboardInterrupt

    def interrupt() -> None:
        if not returned.wait(seconds):
            while not delivered.is_set() and not returned.is_set():
                _thread.interrupt_main()
                delivered.wait(0.5)

    previous = signal.signal(signal.SIGINT, handler)
    timer = threading.Thread(target=interrupt, daemon=True)
    timer.start()
    try:
        yield
    finally:
        returned.set()
        timer.join(5)
        signal.signal(signal.SIGINT, previous)


def no_backend_left(within: float = 20.0) -> bool:
    """Whether every backend thread asked to stop has ended within ``within`` seconds."""
    waited = time.perf_counter()
    while abandoned() and time.perf_counter() - waited < within:
        time.sleep(0.05)
    return not abandoned()
