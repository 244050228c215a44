"""The orchestrator's side: submit cells as submitit job arrays and follow them through the result store."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from peftser.benchmark.cell import Cell
from peftser.benchmark.record import CorruptRecordError
from peftser.benchmark.run.runner import DEFAULT_RUNNER, RunnerOptions, ScheduleResult, check_runner
from peftser.benchmark.run.slurm.ledger import Ledger
from peftser.benchmark.run.slurm.options import SlurmError, SlurmOptions
from peftser.benchmark.run.slurm.queue import (
    DEFAULT_MAX_ARRAY_SIZE, SlurmQueue, check_fits, chunked, read_max_array_size, read_nodes,
)
from peftser.benchmark.run.slurm.task import CellTask, run_task
from peftser.benchmark.store import ResultStore

LOGS_DIR = Path("slurm") / "logs"
POLL_SECONDS = 5.0
LOST_GRACE_SECONDS = 60.0  # NFS's longest default attribute caching (acdirmax)


class SlurmBackend:
    """Submits cells as submitit job arrays and follows them through the result store.

    ``cluster`` is submitit's executor ("slurm"; tests use "local"), ``queue`` what answers
    which tasks are still queued (squeue), ``max_array_size`` defaults to the cluster's.
    """

    def __init__(
        self,
        store: ResultStore,
        options: SlurmOptions | None = None,
        *,
        runner: str = DEFAULT_RUNNER,
        runner_options: RunnerOptions | None = None,
        retry_failed: bool = False,
        name: str = "peftser",
        stream: TextIO | None = None,
        cluster: str = "slurm",
        queue: Any = None,
        max_array_size: int | None = None,
        poll_seconds: float = POLL_SECONDS,
        lost_grace_seconds: float = LOST_GRACE_SECONDS,
    ):
        check_runner(runner)
        try:
            import submitit
        except ImportError:
            raise SlurmError("--backend slurm needs submitit: pip install 'peftser[slurm]'") from None
        if cluster == "slurm":
            missing = [p for p in ("sbatch", "srun", "squeue") if shutil.which(p) is None]
            if missing:
                raise SlurmError(f"--backend slurm: {', '.join(missing)} not found on PATH; run it where jobs are submitted (a login node)")
        self._submitit = submitit
        self.store = store
        self.root = store.root.resolve()  # tasks may start elsewhere
        self.options = options or SlurmOptions()
        self.runner = runner
        self.runner_options = (runner_options or RunnerOptions()).resolved()  # a task may start on another node
        self.retry_failed = retry_failed
        self.name = name
        self.stream = stream or sys.stderr
        self.cluster = cluster
        self.queue = queue if queue is not None else SlurmQueue()
        if cluster == "slurm":  # a request no node can meet would pend forever: refuse it before submitting
            check_fits(self.options, read_nodes(self.options.partition))
        self.max_array_size = max_array_size or (read_max_array_size() if cluster == "slurm" else DEFAULT_MAX_ARRAY_SIZE)
        self.poll_seconds = poll_seconds
        self.lost_grace_seconds = lost_grace_seconds
        self.ledger = Ledger(self.root)

    def describe(self) -> str:
        """Where the cells go, for the run's header line."""
        return f"Slurm ({self.options.describe()}; arrays of at most {self.max_array_size})"

    def note(self) -> dict[str, Any]:
        """What last_run.json records about the backend."""
        return {"cluster": self.cluster, "options": self.options.describe(), "max_array_size": self.max_array_size}

    def log_path(self, job_id: str) -> Path:
        """A task's stderr file (submitit's naming) under the results directory."""
        return Path(os.path.relpath(self._submitit.core.utils.JobPaths(self.store.root / LOGS_DIR, job_id=job_id, task_id=0).stderr))

    # -- submitting ------------------------------------------------------------------------------
    def run(self, cells: Sequence[Cell]) -> ScheduleResult:
        """Submit the cells not already queued; unless --no-wait, wait until each has a record or its task is gone."""
        started = time.time()
        if not cells:
            return ScheduleResult()
        queued, fresh = self.split(cells)
        if queued:
            self._say(f"{len(queued)} cell(s) already queued or running: not submitted again")
        for chunk in chunked(fresh, self.max_array_size):
            self.submit(chunk, submitted_at=started)
        if not self.options.wait:
            self._say(f"not waiting (--no-wait): {len(cells)} cell(s) queued; run the same command again to follow them, "
                      f"or --leaderboard --results {self.store.root} once they are done")
            return ScheduleResult(queued=len(cells))
        return self.follow(cells, started=started)

    def split(self, cells: Sequence[Cell]) -> tuple[list[Cell], list[Cell]]:
        """(cells a live task or process already has, cells to submit)."""
        tasks = self.ledger.tasks()
        alive = self.queue.alive(job_id for cell in cells for job_id in tasks.get(cell.key, ()))
        queued, fresh = [], []
        for cell in cells:
            busy = any(job_id in alive for job_id in tasks.get(cell.key, ())) or self._held(cell)
            (queued if busy else fresh).append(cell)
        return queued, fresh

    def submit(self, cells: Sequence[Cell], *, submitted_at: float) -> list[str]:
        """One job array (a single job for one cell); noted in the ledger. Returns the task ids."""
        executor = self._submitit.AutoExecutor(folder=self.root / LOGS_DIR, cluster=self.cluster)
        executor.update_parameters(**self.options.executor_parameters(self.name))
        tasks = [
            CellTask(cell, str(self.root), self.runner, self.runner_options, self.options.device, self.retry_failed, submitted_at)
            for cell in cells
        ]
        folder = self.root / LOGS_DIR
        before = set(folder.iterdir()) if folder.is_dir() else set()
        try:
            jobs = executor.map_array(run_task, tasks)
        except self._submitit.core.utils.FailedJobError as exc:  # its message is sbatch's
            for path in set(folder.iterdir()) - before:  # the script and task pickles of what was not submitted
                path.unlink(missing_ok=True)
            message = (str(exc).strip().splitlines() or ["(no message)"])[-1]
            raise SlurmError(f"sbatch refused the array: {message}{_gres_hint(message, self.options)}") from None
        job_ids = [job.job_id for job in jobs]
        self.ledger.add(list(zip(job_ids, cells)), submitted_at=submitted_at, options=self.options)
        first, last = job_ids[0], job_ids[-1]
        self._say(f"submitted {len(cells)} cell(s) as {first}{'' if first == last else ' .. ' + last}; "
                  f"task logs in {self.store.root / LOGS_DIR}")
        return job_ids

    # -- following -------------------------------------------------------------------------------
    def follow(self, cells: Sequence[Cell], *, started: float) -> ScheduleResult:
        """Poll the store (and squeue) until no cell is running or pending; report each outcome once."""
        final: dict[str, str] = {}  # key -> ok / failed / lost
        lost_since: dict[str, float] = {}
        alive: set[str] = set()
        squeue_failed = False
        last = ""
        begin = time.monotonic()
        while True:
            tasks = self.ledger.tasks()
            open_cells = [c for c in cells if c.key not in final]
            try:
                alive = self.queue.alive(j for c in open_cells for j in tasks.get(c.key, ()))
                squeue_failed = False
            except SlurmError as exc:  # keep the last answer: a cell is never called lost on a failed squeue
                if not squeue_failed:
                    self._say(f"warning: {exc}; retrying")
                squeue_failed = True
            counts = {"running": 0, "pending": 0}
            for cell in open_cells:
                status = self.status(cell, tasks.get(cell.key, ()), alive, started=started)
                if status != "lost":
                    lost_since.pop(cell.key, None)
                elif squeue_failed:
                    status = "pending"
                else:
                    now = time.monotonic()
                    if now - lost_since.setdefault(cell.key, now) < self.lost_grace_seconds:
                        status = "pending"  # not yet: the record may still be on its way through the filesystem cache
                if status in counts:
                    counts[status] += 1
                else:
                    final[cell.key] = status
                    self._report(cell, status, tasks.get(cell.key, ()))
            done = {s: sum(1 for v in final.values() if v == s) for s in ("ok", "failed", "lost")}
            line = (f"{done['ok'] + done['failed']}/{len(cells)} recorded ({done['ok']} ok, {done['failed']} failed) | "
                    f"running {counts['running']} | pending {counts['pending']}" + (f" | lost {done['lost']}" if done["lost"] else ""))
            if line != last:
                self._say(f"[slurm {time.strftime('%H:%M:%S', time.gmtime(time.monotonic() - begin))}] {line}")
                last = line
            if not counts["running"] and not counts["pending"]:
                break
            time.sleep(self.poll_seconds)
        if done["lost"]:
            self._say(f"{done['lost']} cell(s) ended without a record (preempted, timed out, out of memory or cancelled); "
                      "run the same command again to submit them again")
        return ScheduleResult(ok=done["ok"], failed=done["failed"])

    def status(self, cell: Cell, job_ids: Sequence[str], alive: set[str], *, started: float) -> str:
        """ok / failed (its record), running (its claim is held), pending (its task is queued), or lost."""
        if not self.store.should_run(cell, retry_failed=self.retry_failed, failed_before=started):
            try:
                record = self.store.load_record(cell)
            except CorruptRecordError:
                record = None
            if record is not None:
                return record["status"]
        if self._held(cell):
            return "running"
        if any(job_id in alive for job_id in job_ids):
            return "pending"
        return "lost"

    def _held(self, cell: Cell) -> bool:
        # A look at the claim: taking it succeeds only when no live process holds it; give it back at once.
        claim = self.store.claim(cell)
        if claim is None:
            return True
        claim.release()
        return False

    def _report(self, cell: Cell, status: str, job_ids: Sequence[str]) -> None:
        if status == "lost":
            job_id = job_ids[-1] if job_ids else None
            where = f"task {job_id} ended without a record; log {self.log_path(job_id)}" if job_id else "no task of it is known"
            last = _last_line(self.log_path(job_id)) if job_id else ""
            self._say(f"lost   {cell.label}: {where}" + (f": {last}" if last else ""))
            return
        record = self.store.load_record(cell) or {}
        worker = record.get("worker") or {}
        what = f"{cell.label} ({float(record.get('wall_time_s') or 0.0):.1f} s, task {worker.get('job_id', '?')})"
        if status == "failed":
            error = (str(record.get("error") or "").splitlines() or ["(no error message)"])[0]
            what += f": {error}"
            if worker.get("job_id"):
                what += f"; log {self.log_path(worker['job_id'])}"
        self._say(f"{status:6} {what}")

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _gres_hint(message: str, options: SlurmOptions) -> str:
    """What to do when the partition has no GPUs to give (sbatch only says the request is invalid)."""
    if "generic resource" in message.lower() or "gres" in message.lower():
        asked = f"asked for {options.gpus_per_task} GPU(s) per task" if options.gpus_per_task else "asked for GPUs"
        return f" ({asked}; on a partition of CPU-only nodes, --slurm-gpus-per-task 0 asks for none)"
    return ""


def _last_line(path: Path) -> str:
    """The last non-empty line of a log (what killed a task is usually there), or ""."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""
