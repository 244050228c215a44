"""The body of one array task, on a compute node: claim the cell, train it as a local worker would, record it."""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peftser.benchmark.cell import Cell
from peftser.benchmark.run.runner import RunnerOptions, call_runner, outcome_record, resolve_runner, save_outcome
from peftser.benchmark.store import ResultStore

CLAIM_PATIENCE_SECONDS = 30.0  # the orchestrator's look at a claim holds it for a moment


@dataclass(frozen=True)
class CellTask:
    """What one array task needs; small, since each task unpickles its own from the shared folder."""

    cell: Cell
    results_dir: str  # absolute: the task may start on another node
    runner: str
    options: RunnerOptions  # for the runner, with absolute folders
    device: str
    retry_failed: bool = False
    submitted_at: float = 0.0  # failed records older than this are retried (with retry_failed)


def run_task(task: CellTask) -> str:
    """Body of one array task: claim the cell, train it through the local workers' runner path, record it.

    Returns "ok" or "failed" (the record's status), "recorded" when a record appeared before the
    task began, or "held" when another live process holds the cell's claim.
    """
    store = ResultStore(task.results_dir)
    claim = _claim(store, task.cell)
    if claim is None:
        return "held"
    with claim:
        if not store.should_run(task.cell, retry_failed=task.retry_failed, failed_before=task.submitted_at):
            return "recorded"
        runner = resolve_runner(task.runner)  # an environment that cannot import it fails the task: no record
        _use_allocated_cpus()
        started = time.monotonic()
        outcome = call_runner(runner, task.cell, device=task.device, results_dir=Path(task.results_dir), options=task.options)
        wall_time_s = time.monotonic() - started
        record = outcome_record(task.cell, outcome, runner=task.runner, device=task.device, wall_time_s=wall_time_s)
        record = save_outcome(store, task.cell, record, worker=_task_info(task), device=task.device, wall_time_s=wall_time_s)
    return record["status"]


def _claim(store: ResultStore, cell: Cell):
    deadline = time.monotonic() + CLAIM_PATIENCE_SECONDS
    while True:
        claim = store.claim(cell)
        if claim is not None or time.monotonic() >= deadline:
            return claim
        time.sleep(0.5)


def _use_allocated_cpus() -> None:
    # torch would otherwise start a thread per core of the node, however few cores the task was given.
    torch = sys.modules.get("torch")
    cpus = os.environ.get("SLURM_CPUS_PER_TASK") or os.environ.get("SLURM_CPUS_ON_NODE")
    if torch is not None and cpus and cpus.isdigit():
        torch.set_num_threads(int(cpus))


def _task_info(task: CellTask) -> dict[str, Any]:
    """What the record says about the task that ran it."""
    info: dict[str, Any] = {
        "backend": "slurm",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "device": task.device,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    if os.environ.get("SUBMITIT_EXECUTOR"):  # inside a submitit job
        import submitit

        env = submitit.JobEnvironment()
        info["job_id"] = env.job_id
        info["log"] = os.path.relpath(env.paths.stderr, task.results_dir)
    return info
