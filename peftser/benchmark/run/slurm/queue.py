"""What the cluster says: its MaxArraySize, its nodes' CPUs and memory (checked against what a task
and time limit, checked against what a task asks for before anything is submitted), and which submitted tasks squeue still holds."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any, Iterable, Sequence

from peftser.benchmark.run.slurm.options import SlurmError, SlurmOptions, parse_time

DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's own default for MaxArraySize
# squeue --states=all also lists jobs that ended a few minutes ago (MinJobAge); any other state,
# including ones this list does not know, counts as still holding the cell.
FINISHED_STATES = frozenset(
    {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "TIMEOUT"}
)


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


def parse_nodes(sinfo: str) -> list[tuple[int, int, int | None]]:
    """(CPUs, memory in MB, time limit in minutes or None for none) of each node configuration in
    ``sinfo --format=%P|%c|%m|%l`` output. A count sinfo prints as ``N+`` (nodes that differ) is
    left out: its largest is unknown."""
    nodes = []
    for line in sinfo.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
            nodes.append((int(parts[1]), int(parts[2]), _minutes(parts[3])))
    return nodes


def _minutes(limit: str) -> int | None:
    try:
        return parse_time(limit)
    except SlurmError:  # "infinite", or a form not worth guessing at: no limit to check against
        return None


def read_nodes(partition: str | None) -> list[tuple[int, int, int | None]]:
    """(CPUs, memory in MB, time limit in minutes) of the node configurations of ``partition`` (the
    default partition when None) as sinfo reports them; [] when sinfo cannot tell."""
    command = ["sinfo", "--noheader", "--format=%P|%c|%m|%l"] + ([f"--partition={partition}"] if partition else [])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if done.returncode != 0:
        return []
    lines = done.stdout.splitlines()
    if partition is None:  # sinfo marks the default partition with a "*"
        lines = [line for line in lines if line.split("|")[0].endswith("*")]
    return parse_nodes("\n".join(lines))


def check_fits(options: SlurmOptions, nodes: list[tuple[int, int, int | None]]) -> None:
    """A SlurmError naming the option to change when no node of the partition (``nodes``, from
    read_nodes) has the CPUs, memory or time limit a task asks for: Slurm would keep every task
    pending (reason PartitionConfig or PartitionTimeLimit) and the orchestrator would wait forever.
    Nothing is said when sinfo told nothing."""
    if not nodes:
        return
    where = f"partition {options.partition}" if options.partition else "the default partition"
    never = "so no task could ever start"
    cpus = max(n[0] for n in nodes)
    if options.cpus_per_task > cpus:
        raise SlurmError(f"--slurm-cpus-per-task {options.cpus_per_task}: no node of {where} has more than {cpus} CPUs, "
                         f"{never}; use --slurm-cpus-per-task {cpus} or less (sinfo)")
    memory = max(n[1] for n in nodes)
    if options.mem is not None and _megabytes(options.mem) > memory:
        raise SlurmError(f"--slurm-mem {options.mem}: no node of {where} has more than {memory} MB of memory, "
                         f"{never}; use --slurm-mem {memory}M or less (sinfo)")
    limits = [n[2] for n in nodes]
    if None not in limits and options.time_min > max(limits):
        raise SlurmError(f"--slurm-time {options.time_min} min: {where} allows at most {max(limits)} min, {never}; "
                         f"use --slurm-time {max(limits)} or less (sinfo)")


def _megabytes(mem: str) -> float:
    """sbatch's --mem in MB: a number of megabytes, or one with a K, M, G or T suffix."""
    scale = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    unit = mem[-1].upper()
    return float(mem[:-1]) * scale[unit] if unit in scale else float(mem)


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
