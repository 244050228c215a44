"""The local scheduler: one long-lived worker process per device slot, fed cells by the parent.

Workers are started with the "spawn" method, import the runner (and with it torch) once, and then
train cell after cell. Each worker sees only its own GPU: CUDA_VISIBLE_DEVICES is set in its
environment before it starts, so torch in the worker calls that GPU ``cuda:0``. The parent claims
a cell in the result store before handing it to an idle worker and writes the returned record
atomically, so the parent alone decides what runs and what is recorded. A cell that raises is
recorded as failed; a worker that dies (segfault, ``os._exit``, the out-of-memory killer) is
detected through its process sentinel, its cell is recorded as failed and the worker is replaced.
"""

from __future__ import annotations

import importlib
import importlib.util
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
from typing import Any, Callable, Iterator, Sequence, TextIO

from peftser.benchmark.config import Cell
from peftser.benchmark.machine import machine_info
from peftser.benchmark.store import Claim, ResultStore

DEFAULT_RUNNER = "peftser.benchmark.run.training:run_cell"
POLL_SECONDS = 0.5  # how often cells held by another orchestrator are looked at again
_PARENT_CHECK_SECONDS = 0.2


class DeviceError(ValueError):
    """A --devices or --jobs-per-device value that cannot be honoured."""


class SchedulerError(RuntimeError):
    """The workers cannot run at all (e.g. the runner cannot be imported)."""


# -- devices and slots -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """One worker's place: the device it was given and how it sees it."""

    index: int
    device: str  # as the orchestrator names it: "cpu" or "cuda:N" (N among the GPUs it sees)
    cuda_visible_devices: str  # the worker's CUDA_VISIBLE_DEVICES ("" hides every GPU)
    threads: int  # torch CPU threads in the worker

    @property
    def run_device(self) -> str:
        """The device name inside the worker, where its one visible GPU is cuda:0."""
        return "cpu" if self.device == "cpu" else "cuda:0"

    def describe(self) -> str:
        return f"slot {self.index} ({self.device})"


def visible_gpu_count() -> int:
    """GPUs this process may use; torch counts them through NVML without creating a CUDA context."""
    import torch  # only here: a CPU-only run never needs torch in the parent

    return torch.cuda.device_count()


def parse_devices(devices: str | Sequence[str] | None, *, gpu_count: int | None = None) -> list[str]:
    """``None`` -> every visible GPU, or ["cpu"] without one; "0,1" / "cuda:1" / "cpu" are checked."""
    if devices is None or (isinstance(devices, str) and devices.strip().lower() in ("", "auto")):
        count = visible_gpu_count() if gpu_count is None else gpu_count
        return [f"cuda:{i}" for i in range(count)] or ["cpu"]
    items = devices.split(",") if isinstance(devices, str) else list(devices)
    names = [_device_name(str(item)) for item in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DeviceError(f"--devices lists {repeated[0]} twice; use --jobs-per-device to run several jobs on one device")
    cuda = [n for n in names if n != "cpu"]
    if cuda:
        count = visible_gpu_count() if gpu_count is None else gpu_count
        missing = [n for n in cuda if int(n.split(":")[1]) >= count]
        if missing:
            seen = ", ".join(f"cuda:{i}" for i in range(count)) or "none"
            raise DeviceError(f"--devices asks for {', '.join(missing)} but this process sees {count} CUDA GPU(s): {seen}")
    return names


def _device_name(item: str) -> str:
    text = item.strip().lower()
    if text == "cpu":
        return "cpu"
    index = text[5:] if text.startswith("cuda:") else text
    if not index.isdigit():
        raise DeviceError(f"--devices: cannot read {item!r}; use cpu, a GPU index N, or cuda:N (comma-separated)")
    return f"cuda:{int(index)}"


def make_slots(
    devices: Sequence[str],
    jobs_per_device: int | None = None,
    *,
    cpu_count: int | None = None,
    environ: dict[str, str] | None = None,
) -> list[Slot]:
    """``jobs_per_device`` slots per device, sharing the CPU cores evenly among all slots.

    The default is one slot per GPU, and on the CPU one single-threaded slot per core: small
    models train faster as parallel trainings than as one training with several threads.
    """
    cores = cpu_count or _usable_cores()
    if jobs_per_device is None:
        jobs_per_device = cores if list(devices) == ["cpu"] else 1
    if jobs_per_device < 1:
        raise DeviceError(f"--jobs-per-device must be at least 1, got {jobs_per_device}")
    environ = os.environ if environ is None else environ
    # GPU N of this process is entry N of its own CUDA_VISIBLE_DEVICES, when that is set.
    inherited = [d.strip() for d in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    n_slots = len(devices) * jobs_per_device
    threads = max(1, cores // n_slots)
    slots = []
    for device in devices:
        if device == "cpu":
            visible = ""
        else:
            index = int(device.split(":")[1])
            visible = inherited[index] if index < len(inherited) else str(index)
        for _ in range(jobs_per_device):
            slots.append(Slot(len(slots), device, visible, threads))
    return slots


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# -- the runner ------------------------------------------------------------------------------------
def check_runner(spec: str) -> None:
    """Fail early, in the parent, on a runner that is not "module:function" of a findable module."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise SchedulerError(f"runner must be 'module:function', got {spec!r}")
    try:
        found = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        found = None
    if found is None:
        raise SchedulerError(f"runner module {module!r} (from {spec!r}) cannot be found")


def resolve_runner(spec: str) -> Callable[..., dict]:
    """Import the runner function named by "module:function"."""
    module, _, name = spec.partition(":")
    runner = getattr(importlib.import_module(module), name, None)
    if not callable(runner):
        raise SchedulerError(f"runner {spec!r}: module {module!r} has no function {name!r}")
    return runner


# -- the worker process ------------------------------------------------------------------------------
def _watch_parent(parent_pid: int) -> None:
    # A worker whose orchestrator was killed must not keep training (and writing artifacts) for a
    # cell that a restarted orchestrator may now claim: exit as soon as the parent is gone.
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_main(slot: Slot, runner_spec: str, conn: Connection, results_dir: str, options: dict[str, Any], parent_pid: int) -> None:
    """Body of a worker process: import the runner once, then run cells until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _watch_parent(parent_pid)
    try:
        runner = resolve_runner(runner_spec)
        torch = sys.modules.get("torch")  # imported by the runner's module, if it uses torch
        if torch is not None:
            torch.set_num_threads(slot.threads)
    except BaseException as exc:
        conn.send(("fatal", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return
    conn.send(("ready", os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")))
    root = Path(results_dir)
    while True:
        try:
            cell = conn.recv()
        except EOFError:
            return
        if cell is None:
            return
        conn.send(call_runner(runner, cell, device=slot.run_device, results_dir=root, options=options))


# -- one cell through the runner: the same path in a local worker and in a cluster task ------------
def call_runner(runner: Callable[..., dict], cell: Cell, *, device: str, results_dir: Path, options: dict[str, Any]) -> tuple:
    """Run one cell; ("result", record) or, when it raises, ("error", message, traceback)."""
    try:
        return ("result", runner(cell, device=device, results_dir=results_dir, **options))
    except Exception as exc:  # the cell failed, not the worker: report it and take the next one
        return ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())


def outcome_record(cell: Cell, outcome: tuple, *, runner: str, device: str, wall_time_s: float) -> dict[str, Any]:
    """The record to keep for ``call_runner``'s outcome: the runner's own if well-formed, else a failed one."""
    if outcome[0] == "result":
        problem = _record_problem(cell, outcome[1])
        if problem is None:
            return outcome[1]
        outcome = ("error", problem, f"(the runner {runner!r} returned normally)")
    return failed_record(cell, outcome[1], outcome[2], device=device, wall_time_s=wall_time_s)


def save_outcome(store: ResultStore, cell: Cell, record: dict[str, Any], *, worker: dict[str, Any], device: str, wall_time_s: float) -> dict[str, Any]:
    """Save ``record`` with what ran it (a record JSON cannot hold becomes a failed one); returns what was saved."""
    record["worker"] = worker
    try:
        store.save_record(record)
    except (TypeError, ValueError) as exc:  # e.g. a value JSON cannot hold: keep the failure instead
        record = failed_record(cell, f"the run record could not be saved: {type(exc).__name__}: {exc}", traceback.format_exc(), device=device, wall_time_s=wall_time_s)
        record["worker"] = worker
        store.save_record(record)
    return record


# -- records made by the scheduler ---------------------------------------------------------------
def failed_record(cell: Cell, error: str, trace: str, *, device: str, wall_time_s: float) -> dict[str, Any]:
    """A failed run record: the cell's identity, the error and its traceback, no metrics."""
    return {
        "status": "failed",
        **cell.identity(),
        "error": error,
        "traceback": trace,
        "wall_time_s": wall_time_s,
        "device": device,
        "machine": machine_info(device),  # without torch's fields where this process has not imported it
    }


def _record_problem(cell: Cell, record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"the runner returned {type(record).__name__}, not a record dict"
    for key, expected in (("key", cell.key), ("task", cell.task)):
        if record.get(key) != expected:
            return f"the runner returned a record with {key} {record.get(key)!r}, expected {expected!r}"
    if record.get("status") not in ("ok", "failed"):
        return f"the runner returned a record with status {record.get('status')!r}"
    return None


# -- progress --------------------------------------------------------------------------------------
class Progress:
    """Cells done / failed / left with an ETA: a tqdm bar on a terminal, one line per cell otherwise."""

    def __init__(self, total: int, *, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.total = total
        self.ok = self.failed = self.elsewhere = 0
        self.started = time.monotonic()
        self._bar = None
        if total and self.stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, file=self.stream, unit="cell", dynamic_ncols=True)

    @property
    def finished(self) -> int:
        return self.ok + self.failed + self.elsewhere

    def eta(self) -> str:
        if not self.finished:
            return "?"
        seconds = (time.monotonic() - self.started) / self.finished * (self.total - self.finished)
        return time.strftime("%H:%M:%S", time.gmtime(seconds))

    def record(self, cell: Cell, record: dict[str, Any], slot: Slot) -> None:
        """Count one record this run produced."""
        failed = record["status"] == "failed"
        self.failed += failed
        self.ok += not failed
        what = f"{cell.label} ({float(record.get('wall_time_s') or 0.0):.1f} s, {slot.describe()})"
        if failed:
            what += ": " + (str(record.get("error") or "").splitlines() or ["(no error message)"])[0]
        self._advance("failed" if failed else "ok", what)

    def recorded_elsewhere(self, cell: Cell) -> None:
        """Count a cell that another orchestrator recorded while this one waited."""
        self.elsewhere += 1
        self._advance("other", f"{cell.label} (recorded by another process)")

    def _advance(self, status: str, what: str) -> None:
        if self._bar is not None:
            if status == "failed":
                self._bar.write(f"failed {what}", file=self.stream)
            self._bar.set_postfix(failed=self.failed, refresh=False)
            self._bar.update(1)
            return
        left = self.total - self.finished
        print(
            f"[{self.finished}/{self.total}] {status:6} {what} | done {self.ok + self.elsewhere} failed {self.failed} "
            f"left {left} | eta {self.eta()}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


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


@dataclass
class ScheduleResult:
    ok: int = 0
    failed: int = 0
    elsewhere: int = 0  # recorded by another orchestrator sharing the results directory
    workers_replaced: int = 0
    queued: int = 0  # handed to a cluster and not recorded yet (the Slurm backend's --no-wait)


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
        runner_options: dict[str, Any] | None = None,
        retry_failed: bool = False,
        stream: TextIO | None = None,
    ):
        """``runner_options`` go to every runner call besides the cell, device and results dir
        (for ``run_cell``: data_root, checkpoint_dir, strict)."""
        if not slots:
            raise DeviceError("no worker slots: give at least one device")
        check_runner(runner)
        self.store = store
        self.slots = list(slots)
        self.runner = runner
        self.runner_options = dict(runner_options or {})
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
                    if w.ready and w.cell is None:
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
