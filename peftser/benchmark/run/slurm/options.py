"""What each array task asks Slurm for: the --slurm-* options, checked, and as submitit's parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIME = "24:00:00"
DEFAULT_CPUS_PER_TASK = 8  # torch's threads and the loader's workers; a cluster's default is often 1
RESERVED_SBATCH = ("array", "output", "error")  # set by submitit; changing them loses tasks or logs


class SlurmError(ValueError):
    """The Slurm backend cannot run: a bad --slurm-* option, no submitit or sbatch, Slurm refusing."""


@dataclass(frozen=True)
class SlurmOptions:
    """What each array task asks Slurm for, and whether the orchestrator waits for the array."""

    partition: str | None = None
    gpus_per_task: int = 1
    cpus_per_task: int = DEFAULT_CPUS_PER_TASK
    time_min: int = 24 * 60
    array_parallelism: int | None = None
    mem: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # further sbatch options, without "--"
    wait: bool = True

    def __post_init__(self) -> None:
        if self.gpus_per_task < 0:
            raise SlurmError(f"--slurm-gpus-per-task must be 0 or more, got {self.gpus_per_task}")
        if self.gpus_per_task > 1:
            raise SlurmError(f"--slurm-gpus-per-task {self.gpus_per_task}: a cell trains on one GPU, so a task uses 1 (0 on CPU nodes)")
        if self.cpus_per_task < 1:
            raise SlurmError(f"--slurm-cpus-per-task must be at least 1, got {self.cpus_per_task}")
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
        if {"cpus-per-task", "cpus_per_task"} & set(self.extra):
            raise SlurmError("--slurm-extra cpus-per-task=...: use --slurm-cpus-per-task")

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
            "cpus_per_task": self.cpus_per_task,
            "slurm_partition": self.partition,
            "slurm_array_parallelism": self.array_parallelism,
            "slurm_mem": self.mem,
            "slurm_additional_parameters": dict(self.extra) or None,
        }

    def describe(self) -> str:
        parts = [f"partition {self.partition or '(default)'}", f"{self.gpus_per_task} GPU(s) and {self.cpus_per_task} CPUs per task", f"{self.time_min} min"]
        if self.mem:
            parts.append(f"{self.mem} memory")
        if self.array_parallelism:
            parts.append(f"at most {self.array_parallelism} tasks at once")
        parts += [f"--{k}={v}" for k, v in self.extra.items()]
        return ", ".join(parts)


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
