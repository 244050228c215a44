"""The Slurm backend: a grid's cells without a record become one submitit job array.

``python run_benchmark.py --grid NAME --backend slurm [--slurm-partition P] [--slurm-gpus-per-task N]
[--slurm-time T] [--slurm-array-parallelism N] [--slurm-mem M] [--slurm-extra KEY=VALUE ...] [--no-wait]``.
Each array task trains one cell through the same runner path as a local worker (``call_runner``,
``outcome_record``, ``save_outcome``), holding the cell's claim, and writes its record into the
shared results directory. The orchestrator follows the run in the result store itself (a record
means done or failed, a held claim means running), so it needs no Slurm accounting: submitit asks
``sacct`` for job states, and without slurmdbd its ``result()`` waits forever on a task that was
killed before it wrote anything. Only ``squeue`` is asked, for which tasks are still queued.

Added under the results directory::

    slurm/jobs/<job id>.json   the cell each submitted task runs (the submission ledger)
    slurm/logs/                submitit's folder: the sbatch script, one pickled task per cell, and
                               each task's output, <array id>_<task>_0_log.out and .err

Resuming, as locally: a cell with a record is never submitted again (a failed one only with
``--retry-failed``); nor is a cell whose claim is held (a task or a local orchestrator is training
it) or whose task is still queued, running or requeued; a cell whose task ended without a record
(preempted and not requeued, over its time limit, out of memory, cancelled) is submitted by the
next run. Arrays longer than the cluster's MaxArraySize are split; ``--slurm-array-parallelism``
caps each array, not their sum.

What the shared filesystem must provide (NFS, Lustre, GPFS, BeeGFS):

- One path for the results directory on every node, and the same Python environment.
- Atomic renames within a folder: every record is written to a temporary file beside it and
  renamed into place, so a reader on any node sees the old file or the whole new one.
- ``flock`` locks that hold across nodes, for the claims (``filelock.FileLock``). Linux NFS clients
  turn ``flock`` into POSIX locks that the server arbitrates (NFSv4, or NFSv3 with lockd), unless
  the share is mounted ``nolock`` or ``local_lock=flock|all``; Lustre needs the ``flock`` mount
  option (``localflock`` locks only within a node). The lock is released by the kernel when its
  holder dies. Where locks are node-local, a cell could train twice only if two orchestrators
  submit it at the same moment; each task re-reads the record under its claim before training, and
  the last complete record wins.
- NFS caches file attributes for up to a minute, so a record may reach the orchestrator late; a
  task that left the queue without a visible record is called lost only after ``LOST_GRACE_SECONDS``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence, TextIO

from peftser.benchmark.cell import Cell
from peftser.benchmark.run.scheduler import (
    DEFAULT_RUNNER,
    ScheduleResult,
    call_runner,
    check_runner,
    outcome_record,
    resolve_runner,
    save_outcome,
)
from peftser.benchmark.store import CorruptRecordError, ResultStore
from peftser.files import write_json_atomic

JOBS_DIR = Path("slurm") / "jobs"
LOGS_DIR = Path("slurm") / "logs"
DEFAULT_TIME = "24:00:00"
DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's own default for MaxArraySize
POLL_SECONDS = 5.0
LOST_GRACE_SECONDS = 60.0  # NFS's longest default attribute caching (acdirmax)
CLAIM_PATIENCE_SECONDS = 30.0  # the orchestrator's look at a claim holds it for a moment
# squeue --states=all also lists jobs that ended a few minutes ago (MinJobAge); any other state,
# including ones this list does not know, counts as still holding the cell.
FINISHED_STATES = frozenset(
    {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "TIMEOUT"}
)
RESERVED_SBATCH = ("array", "output", "error")  # set by submitit; changing them loses tasks or logs
SLURM_FLAGS = {  # argparse attribute -> option, for telling a user which option needs --backend slurm
    "slurm_partition": "--slurm-partition",
    "slurm_gpus_per_task": "--slurm-gpus-per-task",
    "slurm_time": "--slurm-time",
    "slurm_array_parallelism": "--slurm-array-parallelism",
    "slurm_mem": "--slurm-mem",
    "slurm_extra": "--slurm-extra",
    "no_wait": "--no-wait",
}


class SlurmError(RuntimeError):
    """The Slurm backend cannot run: a bad --slurm-* option, no submitit or sbatch, Slurm refusing."""


# -- options ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SlurmOptions:
    """What each array task asks Slurm for, and whether the orchestrator waits for the array."""

    partition: str | None = None
    gpus_per_task: int = 1
    time_min: int = 24 * 60
    array_parallelism: int | None = None
    mem: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # further sbatch options, without "--"
    wait: bool = True

    def __post_init__(self) -> None:
        if self.gpus_per_task < 0:
            raise SlurmError(f"--slurm-gpus-per-task must be 0 or more, got {self.gpus_per_task}")
        if self.time_min <= 10:
            # submitit takes min(0.8 T, T - 10 min) as the moment a task is about to time out, so
            # with 10 minutes or less it treats every preemption signal as a time-out.
            raise SlurmError(f"--slurm-time must be more than 10 minutes, got {self.time_min} min")
        if self.array_parallelism is not None and self.array_parallelism < 1:
            raise SlurmError(f"--slurm-array-parallelism must be at least 1, got {self.array_parallelism}")
        if self.mem is not None and not re.fullmatch(r"\d+[KMGT]?", self.mem, re.IGNORECASE):
            raise SlurmError(f"--slurm-mem: cannot read {self.mem!r}; use a number of megabytes or one with a K, M, G or T suffix, e.g. 32G")
        reserved = sorted(set(self.extra) & set(RESERVED_SBATCH))
        if reserved:
            raise SlurmError(f"--slurm-extra {reserved[0]}=...: the backend sets --{reserved[0]} itself")

    @property
    def device(self) -> str:
        """The device a task trains on: its first allocated GPU (Slurm sets CUDA_VISIBLE_DEVICES), else the CPU."""
        return "cuda:0" if self.gpus_per_task else "cpu"

    def executor_parameters(self, name: str) -> dict[str, Any]:
        """submitit AutoExecutor parameters (None means unset)."""
        return {
            "name": name,
            "timeout_min": self.time_min,
            # One task per job, so GPUs per node are GPUs per task; 0 must not reach sbatch as
            # --gpus-per-node=0, which a cluster without GPUs rejects.
            "gpus_per_node": self.gpus_per_task or None,
            "slurm_partition": self.partition,
            "slurm_array_parallelism": self.array_parallelism,
            "slurm_mem": self.mem,
            "slurm_additional_parameters": dict(self.extra) or None,
        }

    def describe(self) -> str:
        parts = [f"partition {self.partition or '(default)'}", f"{self.gpus_per_task} GPU(s) per task", f"{self.time_min} min"]
        if self.mem:
            parts.append(f"{self.mem} memory")
        if self.array_parallelism:
            parts.append(f"at most {self.array_parallelism} tasks at once")
        parts += [f"--{k}={v}" for k, v in self.extra.items()]
        return ", ".join(parts)


def options_from_args(args: Any) -> SlurmOptions | None:
    """The --slurm-* options of a parsed command line; None for --backend local, where they are an error."""
    given = [flag for attr, flag in SLURM_FLAGS.items() if getattr(args, attr, None) not in (None, False, [])]
    if (getattr(args, "backend", None) or "local") != "slurm":
        if given:
            raise SlurmError(f"{given[0]} applies to --backend slurm")
        return None
    local = [flag for attr, flag in (("devices", "--devices"), ("jobs_per_device", "--jobs-per-device")) if getattr(args, attr, None) is not None]
    if local:
        raise SlurmError(f"{local[0]} applies to --backend local; on Slurm each task gets --slurm-gpus-per-task GPUs")
    from peftser.cli import parse_pairs  # the one KEY=VALUE reader of the command line

    try:
        extra = parse_pairs(list(getattr(args, "slurm_extra", None) or []), "--slurm-extra")
    except ValueError as exc:
        raise SlurmError(str(exc)) from None
    gpus = getattr(args, "slurm_gpus_per_task", None)
    return SlurmOptions(
        partition=getattr(args, "slurm_partition", None),
        gpus_per_task=1 if gpus is None else gpus,
        time_min=parse_time(getattr(args, "slurm_time", None) or DEFAULT_TIME),
        array_parallelism=getattr(args, "slurm_array_parallelism", None),
        mem=getattr(args, "slurm_mem", None),
        extra=extra,
        wait=not getattr(args, "no_wait", False),
    )


_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")


def parse_time(text: str) -> int:
    """A Slurm time limit (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) in whole minutes, rounded up."""
    match = _TIME.fullmatch(str(text).strip())
    if not match:
        raise SlurmError(f"--slurm-time: cannot read {text!r}; use minutes or Slurm's [D-]HH:MM[:SS]")
    days, first, second, third = match.groups()
    if days is not None:  # D-H[:M[:S]]
        seconds = int(days) * 86400 + int(first) * 3600 + int(second or 0) * 60 + int(third or 0)
    elif third is not None:  # H:M:S
        seconds = int(first) * 3600 + int(second) * 60 + int(third)
    else:  # M or M:S
        seconds = int(first) * 60 + int(second or 0)
    return -(-seconds // 60)


# -- the cluster -----------------------------------------------------------------------------------
def parse_max_array_size(config: str) -> int:
    """MaxArraySize from ``scontrol show config`` output; Slurm's default when it is not there."""
    match = re.search(r"^\s*MaxArraySize\s*=\s*(\d+)", config, re.MULTILINE)
    return max(1, int(match.group(1))) if match else DEFAULT_MAX_ARRAY_SIZE


def read_max_array_size() -> int:
    """The cluster's MaxArraySize (the longest array sbatch accepts), or Slurm's default."""
    try:
        done = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return DEFAULT_MAX_ARRAY_SIZE
    return parse_max_array_size(done.stdout) if done.returncode == 0 else DEFAULT_MAX_ARRAY_SIZE


def chunked(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` in consecutive runs of at most ``size`` (submitit does not split long arrays)."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class SlurmQueue:
    """Which submitted tasks Slurm still holds (queued, running, requeued), from squeue alone."""

    def alive(self, job_ids: Iterable[str]) -> set[str]:
        """The ids among ``job_ids`` ("<array id>_<task>" or "<job id>") of tasks that have not ended."""
        wanted = set(job_ids)
        if not wanted:
            return set()
        arrays = sorted({job_id.split("_")[0] for job_id in wanted})
        command = ["squeue", "--noheader", "--array", "--states=all", "--format=%i %T", f"--jobs={','.join(arrays)}"]
        error = ""
        for attempt in range(3):
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=120)
            except (OSError, subprocess.TimeoutExpired) as exc:
                error = str(exc)
            else:
                if done.returncode == 0:
                    states = dict(line.split(maxsplit=1) for line in done.stdout.splitlines() if len(line.split()) == 2)
                    return {job_id for job_id in wanted if job_id in states and states[job_id] not in FINISHED_STATES}
                if "Invalid job id" in done.stderr:  # squeue's answer when the one job asked about is long gone
                    return set()
                error = done.stderr.strip() or f"exit {done.returncode}"
            if attempt < 2:
                time.sleep(2 * (attempt + 1))
        raise SlurmError(f"squeue failed ({error}); cannot tell which submitted cells are still queued")


# -- the ledger of submissions -------------------------------------------------------------------
class Ledger:
    """slurm/jobs/<job id>.json: the cell each submitted task runs, so that a later run knows what is queued."""

    def __init__(self, root: Path):
        self.folder = Path(root) / JOBS_DIR

    def add(self, jobs: Sequence[tuple[str, Cell]], *, submitted_at: float, options: SlurmOptions) -> Path:
        """Note one submission: (job id, cell) per task."""
        entry = {
            "submitted": datetime.fromtimestamp(submitted_at, timezone.utc).isoformat(timespec="seconds"),
            "submitted_at": submitted_at,
            "options": options.describe(),
            "tasks": {job_id: {"key": cell.key, "label": cell.label} for job_id, cell in jobs},
        }
        return write_json_atomic(self.folder / f"{jobs[0][0]}.json", entry)

    def tasks(self) -> dict[str, list[str]]:
        """cell key -> the ids of every task submitted for it, oldest first."""
        entries = []
        for path in self.folder.glob("*.json"):
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
                entries.append((float(entry["submitted_at"]), entry["tasks"]))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                warnings.warn(f"submission note {path} is unreadable ({exc}); its cells count as not queued", stacklevel=2)
        by_key: dict[str, list[str]] = {}
        for _, tasks in sorted(entries, key=lambda e: e[0]):
            for job_id, task in tasks.items():
                by_key.setdefault(task["key"], []).append(job_id)
        return by_key


# -- one array task --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellTask:
    """What one array task needs; small, since each task unpickles its own from the shared folder."""

    cell: Cell
    results_dir: str  # absolute: the task may start on another node
    runner: str
    options: dict[str, Any]  # for the runner (data_root, checkpoint_dir, strict)
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


# -- the orchestrator's side -----------------------------------------------------------------------
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
        runner_options: dict[str, Any] | None = None,
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
        # Absolute folders: a task starts in the submission's working directory only where that
        # exists on its node.
        self.runner_options = {
            k: str(Path(v).resolve()) if k in ("data_root", "checkpoint_dir") and v else v for k, v in (runner_options or {}).items()
        }
        self.retry_failed = retry_failed
        self.name = name
        self.stream = stream or sys.stderr
        self.cluster = cluster
        self.queue = queue if queue is not None else SlurmQueue()
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
            raise SlurmError(f"sbatch refused the array: {message}") from None
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


def _last_line(path: Path) -> str:
    """The last non-empty line of a log (what killed a task is usually there), or ""."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""
