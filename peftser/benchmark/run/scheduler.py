"""The local scheduler: one long-lived worker process per device slot, fed cells by the parent.

Workers are started with the "spawn" method, import the runner (and with it torch) once, and then
train cell after cell. Each worker sees only its own GPU: CUDA_VISIBLE_DEVICES is set in its
environment before it starts, so torch in the worker calls that GPU ``cuda:0``. The parent claims
a cell in the result store before handing it to an idle worker and writes the returned record
atomically, so the parent alone decides what runs and what is recorded. A cell that raises is
recorded as failed; a worker that dies (segfault, ``os._exit``, the out-of-memory killer) is
detected through its process sentinel, its cell is recorded as failed and the worker is replaced.
After each cell a worker releases the GPU memory the cell held; a cell whose error broke the CUDA
context (an illegal memory access, a device-side assert) is recorded and its worker exits, to be
replaced like a dead one.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO

from peftser.benchmark.cell import Cell
from peftser.benchmark.record import failed_record
from peftser.benchmark.run.gpu import after_cell, sticky_cuda_error
from peftser.benchmark.run.progress import Progress
from peftser.benchmark.run.runner import (  # noqa: F401  (DEFAULT_RUNNER and SchedulerError are this module's API too)
    DEFAULT_RUNNER,
    RunnerOptions,
    ScheduleResult,
    SchedulerError,
    call_runner,
    check_runner,
    outcome_record,
    resolve_runner,
    save_outcome,
)
from peftser.benchmark.run.slots import DeviceError, Slot
from peftser.interrupts import no_semaphores_to_leak
from peftser.benchmark.store import Claim, ResultStore

POLL_SECONDS = 0.5  # how often cells held by another orchestrator are looked at again
_PARENT_CHECK_SECONDS = 0.2


# -- the worker process ------------------------------------------------------------------------------
def _watch_parent(parent_pid: int) -> None:
    # A worker whose orchestrator was killed must not keep training (and writing artifacts) for a
    # cell that a restarted orchestrator may now claim: exit as soon as the parent is gone.
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_main(slot: Slot, runner_spec: str, conn: Connection, results_dir: str, options: RunnerOptions, parent_pid: int) -> None:
    """Body of a worker process: import the runner once, then run cells until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _watch_parent(parent_pid)
    no_semaphores_to_leak()
    try:
        runner = resolve_runner(runner_spec)
        torch = sys.modules.get("torch")  # imported by the runner's module, if it uses torch
        if torch is not None:
            torch.set_num_threads(slot.threads)
    except BaseException as exc:
        conn.send(("fatal", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return
    try:
        conn.send(("ready", os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")))
    except OSError:  # the orchestrator is gone already
        return
    root = Path(results_dir)
    while True:
        try:
            cell = conn.recv()
        except (EOFError, OSError):  # the orchestrator is gone (killed: a reset or broken pipe): stop quietly
            return
        if cell is None:
            return
        outcome = call_runner(runner, cell, device=slot.run_device, results_dir=root, options=options)
        broken = after_cell(outcome)  # releases the cell's GPU memory, unless its error broke the CUDA context
        try:
            conn.send(outcome)
        except OSError:  # nobody to tell: the cell stays unrecorded, and a restarted run redoes it
            return
        if broken:  # every later cell would fail on it: exit, and the parent starts a fresh worker
            return


# -- the parent side -------------------------------------------------------------------------------
@dataclass
class _Worker:
    slot: Slot
    process: Any  # multiprocessing.Process of the spawn context
    conn: Connection
    pid: int | None = None
    cuda_visible_devices: str | None = None
    cell: Cell | None = None
    claim: Claim | None = None
    started: float = 0.0
    retiring: bool = False  # its last cell broke its CUDA context: it exits, and is replaced

    @property
    def ready(self) -> bool:
        return self.pid is not None

    def info(self) -> dict[str, Any]:
        """What the record says about the worker that ran it."""
        return {
            "slot": self.slot.index,
            "device": self.slot.device,
            "cuda_visible_devices": self.cuda_visible_devices,
            "pid": self.pid,
        }


@contextmanager
def _environ(updates: dict[str, str]) -> Iterator[None]:
    # A spawned child copies the parent's environment when it starts, before it imports anything,
    # which is the only moment CUDA_VISIBLE_DEVICES reliably takes effect.
    saved = {k: os.environ.get(k) for k in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Scheduler:
    """Runs cells on worker slots, recording every outcome in the store."""

    def __init__(
        self,
        store: ResultStore,
        slots: Sequence[Slot],
        *,
        runner: str = DEFAULT_RUNNER,
        runner_options: RunnerOptions | None = None,
        retry_failed: bool = False,
        stream: TextIO | None = None,
    ):
        """``runner_options`` go to every runner call besides the cell, device and results dir."""
        if not slots:
            raise DeviceError("no worker slots: give at least one device")
        check_runner(runner)
        self.store = store
        self.slots = list(slots)
        self.runner = runner
        self.runner_options = runner_options or RunnerOptions()
        self.retry_failed = retry_failed
        self.stream = stream
        self._context = mp.get_context("spawn")
        self._started_at = time.time()
        self._result = ScheduleResult()
        self._progress: Progress | None = None

    def run(self, cells: Sequence[Cell]) -> ScheduleResult:
        """Run every cell that still needs running; returns once each is recorded (here or elsewhere)."""
        self._started_at = time.time()
        self._result = ScheduleResult()
        self._progress = Progress(len(cells), stream=self.stream)
        queue: deque[Cell] = deque(cells)
        deferred: list[Cell] = []  # claimed by another process when we tried
        workers = [self._start(slot) for slot in self.slots] if cells else []
        last_retry = time.monotonic()
        try:
            while queue or deferred or any(w.cell for w in workers):
                if not queue and deferred and time.monotonic() - last_retry >= POLL_SECONDS:
                    queue.extend(deferred)
                    deferred.clear()
                    last_retry = time.monotonic()
                for w in workers:
                    if w.ready and w.cell is None and not w.retiring:
                        self._dispatch(w, queue, deferred)
                if queue or any(w.cell for w in workers):
                    self._wait(workers, timeout=POLL_SECONDS if deferred else None)
                elif deferred:
                    time.sleep(POLL_SECONDS)  # only cells another orchestrator is running are left
        finally:
            self._shutdown(workers)
            self._progress.close()
        return self._result

    # -- workers -----------------------------------------------------------------------------------
    def _start(self, slot: Slot) -> _Worker:
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_worker_main,
            # Absolute, so that a runner that changes its working directory still writes here.
            args=(slot, self.runner, child_conn, str(self.store.root.resolve()), self.runner_options, os.getpid()),
            name=f"peftser-worker-{slot.index}",
            daemon=False,  # a daemonic worker could not start processes of its own (e.g. DataLoader workers)
        )
        threads = str(slot.threads)
        with _environ({"CUDA_VISIBLE_DEVICES": slot.cuda_visible_devices, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}):
            process.start()
        child_conn.close()
        return _Worker(slot, process, parent_conn)

    def _replace(self, workers: list[_Worker], dead: _Worker) -> None:
        dead.conn.close()
        workers[workers.index(dead)] = self._start(dead.slot)
        self._result.workers_replaced += 1

    def _shutdown(self, workers: list[_Worker]) -> None:
        for w in workers:
            if w.cell is not None:  # interrupted mid-cell: no record, so a later run redoes it
                w.process.terminate()
                self._release(w)
            elif w.process.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    w.process.terminate()
        for w in workers:
            w.process.join(timeout=10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()

    # -- handing out cells -------------------------------------------------------------------------
    def _dispatch(self, w: _Worker, queue: deque[Cell], deferred: list[Cell]) -> None:
        while queue:
            cell = queue.popleft()
            claim = self.store.claim(cell)
            if claim is None:
                deferred.append(cell)
                continue
            # Re-read under the claim: another orchestrator may have recorded it since we looked.
            if not self.store.should_run(cell, retry_failed=self.retry_failed, failed_before=self._started_at):
                claim.release()
                self._result.elsewhere += 1
                self._progress.recorded_elsewhere(cell)
                continue
            try:
                w.conn.send(cell)
            except OSError:  # the worker just died; its sentinel reports it and it is replaced
                claim.release()
                queue.appendleft(cell)
                return
            w.cell, w.claim, w.started = cell, claim, time.monotonic()
            return

    # -- hearing back ------------------------------------------------------------------------------
    def _wait(self, workers: list[_Worker], timeout: float | None) -> None:
        by_conn = {w.conn: w for w in workers}
        by_sentinel = {w.process.sentinel: w for w in workers}
        ready = wait(list(by_conn) + list(by_sentinel), timeout)
        dead: list[_Worker] = []
        for obj in ready:
            if obj in by_conn:
                w = by_conn[obj]
                try:
                    message = w.conn.recv()
                except (EOFError, OSError):
                    dead.append(w)
                else:
                    self._receive(w, message)
        for obj in ready:
            w = by_sentinel.get(obj)
            if w is not None and w not in dead:
                dead.append(w)
        for w in dead:
            self._bury(workers, w)

    def _receive(self, w: _Worker, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            w.pid, w.cuda_visible_devices = message[1], message[2]
        elif kind == "fatal":
            raise SchedulerError(f"worker {w.slot.describe()} could not start the runner {self.runner!r}: {message[1]}\n{message[2]}")
        elif kind in ("result", "error"):
            w.retiring = kind == "error" and sticky_cuda_error(message[1])
            self._finish(w, outcome_record(w.cell, message, runner=self.runner, device=w.slot.run_device, wall_time_s=time.monotonic() - w.started))

    def _bury(self, workers: list[_Worker], w: _Worker) -> None:
        """A worker process ended: record its cell as failed and start a new worker in its place."""
        w.process.join()
        code = w.process.exitcode
        if not w.ready:
            raise SchedulerError(
                f"worker {w.slot.describe()} exited with code {code} before it was ready; "
                f"the runner {self.runner!r} or its imports crash the interpreter"
            )
        if w.cell is not None:
            error = f"worker {w.slot.describe()}, pid {w.pid}, died ({_describe_exit(code)}) while running this cell"
            self._finish(w, self._failed(w, error, "(no Python traceback: the worker process ended abruptly)"))
        self._replace(workers, w)

    def _failed(self, w: _Worker, error: str, trace: str) -> dict[str, Any]:
        return failed_record(w.cell, error, trace, device=w.slot.run_device, wall_time_s=time.monotonic() - w.started)

    def _finish(self, w: _Worker, record: dict[str, Any]) -> None:
        record = save_outcome(self.store, w.cell, record, worker=w.info(), device=w.slot.run_device, wall_time_s=time.monotonic() - w.started)
        cell = w.cell
        self._release(w)
        if record["status"] == "ok":
            self._result.ok += 1
        else:
            self._result.failed += 1
        self._progress.record(cell, record, w.slot)

    @staticmethod
    def _release(w: _Worker) -> None:
        if w.claim is not None:
            w.claim.release()
        w.cell = w.claim = None


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (e.g. by the out-of-memory killer)" if -code == getattr(signal, "SIGKILL", None) else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"
