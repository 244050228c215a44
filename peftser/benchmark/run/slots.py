"""Devices and worker slots: which devices a grid may use, and how many workers share each."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Local:
    """The local backend: run the cells on this machine, ``jobs_per_device`` workers on each of
    ``devices`` (default: every visible GPU, else the CPU). ``visible_gpus`` replaces the detected
    CUDA GPU count (for checking ``devices`` without GPUs). The Slurm backend is ``SlurmOptions``."""

    devices: str | Sequence[str] | None = None
    jobs_per_device: int | None = None
    visible_gpus: int | None = None

    def slots(self) -> list["Slot"]:
        return make_slots(parse_devices(self.devices, gpu_count=self.visible_gpus), self.jobs_per_device)


class DeviceError(ValueError):
    """A --devices or --jobs-per-device value that cannot be honoured."""


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
    if isinstance(devices, str) and not devices.strip():  # an empty shell variable, not a choice of devices
        raise DeviceError("--devices is empty; give cpu or GPU indices (0,1), or leave the option out for every visible GPU")
    if devices is None or (isinstance(devices, str) and devices.strip().lower() == "auto"):
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
