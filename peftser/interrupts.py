"""Ctrl-C and SIGTERM end a job the same way: its cleanup runs, and it says so in one line.

SIGTERM (``kill PID``, a batch system's time limit) would otherwise end Python at once, skipping
the cleanup that Ctrl-C's KeyboardInterrupt gets: workers stopped, claims released.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise KeyboardInterrupt."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def raise_on_sigterm() -> Callable[[], None]:
    """From now on SIGTERM raises Terminated (in the main thread; elsewhere nothing changes).

    Returns the function that puts the previous handler back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    return lambda: signal.signal(signal.SIGTERM, previous)


def interrupted(exc: KeyboardInterrupt) -> tuple[int, str]:
    """The exit status (128 + the signal's number, as a shell reports it) and a word for what happened."""
    if isinstance(exc, Terminated):
        return 128 + signal.SIGTERM, "terminated (SIGTERM)"
    return 128 + signal.SIGINT, "interrupted"


def no_semaphores_to_leak() -> None:
    """Progress bars (tqdm) share a thread lock instead of their default multiprocessing lock.

    That lock is a named semaphore, which a process killed or stopped abruptly (a worker whose
    orchestrator died, a job past its time limit) never unlinks: Python's resource tracker then
    warns of "leaked semaphore objects" at every such exit. Bars are drawn by one process at a time
    here, so a thread lock is all they need.
    """
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
