"""What the cluster says: its MaxArraySize, and which submitted tasks squeue still holds."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any, Iterable, Sequence

from peftser.benchmark.run.slurm.options import SlurmError

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
