"""The runner protocol: one cell through a runner function, into a record, in a local worker and in a Slurm task alike.

A runner is "module:function" taking ``(cell, *, device, results_dir, options)`` (``options`` a
``RunnerOptions``) and returning the cell's run record; ``call_runner`` turns what it did into an outcome, ``outcome_record`` into
the record to keep (a failed one when it raised or returned something that breaks the record
contract), and ``save_outcome`` stores it with what ran it.
"""

from __future__ import annotations

import importlib
import importlib.util
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from peftser.benchmark.cell import Cell
from peftser.benchmark.record import failed_record, problem
from peftser.benchmark.store import ResultStore

DEFAULT_RUNNER = "peftser.benchmark.run.training:run_cell"


@dataclass(frozen=True)
class RunnerOptions:
    """What every runner call of a grid gets besides its cell, device and results folder: where the
    corpora and checkpoints are, and whether a corpus' unexpected counts are errors."""

    data_root: str | Path | None = None
    checkpoint_dir: str | Path | None = None
    strict: bool = False

    def resolved(self) -> RunnerOptions:
        """The same with absolute folders: a Slurm task starts in the submission's working directory
        only where that exists on its node."""
        def absolute(folder):
            return str(Path(folder).resolve()) if folder else folder

        return RunnerOptions(absolute(self.data_root), absolute(self.checkpoint_dir), self.strict)


class SchedulerError(RuntimeError):
    """The workers cannot run at all (e.g. the runner cannot be imported)."""


@dataclass
class ScheduleResult:
    """What a backend (local scheduler or Slurm) reports when it returns."""

    ok: int = 0
    failed: int = 0
    elsewhere: int = 0  # recorded by another orchestrator sharing the results directory
    workers_replaced: int = 0
    queued: int = 0  # handed to a cluster and not recorded yet (the Slurm backend's --no-wait)


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


def call_runner(runner: Callable[..., dict], cell: Cell, *, device: str, results_dir: Path, options: RunnerOptions) -> tuple:
    """Run one cell; ("result", record) or, when it raises, ("error", message, traceback)."""
    try:
        return ("result", runner(cell, device=device, results_dir=results_dir, options=options))
    except Exception as exc:  # the cell failed, not the worker: report it and take the next one
        return ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())


def outcome_record(cell: Cell, outcome: tuple, *, runner: str, device: str, wall_time_s: float) -> dict[str, Any]:
    """The record to keep for ``call_runner``'s outcome: the runner's own if well-formed, else a failed one."""
    if outcome[0] == "result":
        why = problem(outcome[1], cell)
        if why is None:
            return outcome[1]
        outcome = ("error", f"the runner returned a record that cannot be kept: {why}", f"(the runner {runner!r} returned normally)")
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
