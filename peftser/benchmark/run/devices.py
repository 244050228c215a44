"""The device one job runs on (--train, --predict, --bench): its default, and a check made before any work.

A grid's devices are --devices, checked by the scheduler.
"""

from __future__ import annotations

import torch


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(name: str | None) -> torch.device:
    """``name`` (default: cuda when available, else cpu) as a device this process can use.

    A ValueError says why not (an unknown name, no such GPU), so that it comes before a corpus is
    read or a model built, not as a traceback after.
    """
    text = default_device() if name is None else name  # --device '' is an error, not the default
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {text!r} is not a device name (cpu, cuda, cuda:N, ...); this process can use {_usable()}") from None
    if device.type == "cpu":
        return device
    backend = getattr(torch, device.type, None)  # torch.cuda, torch.mps, torch.xpu, ...
    if backend is None or not hasattr(backend, "is_available") or not backend.is_available():
        raise ValueError(f"--device {text}: no {device.type} device is available to this process; it can use {_usable()}")
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if device.index is not None and device.index >= count:
        seen = ", ".join(f"{device.type}:{i}" for i in range(count))
        raise ValueError(f"--device {text}: this process sees {count} {device.type} device(s): {seen}")
    return device


def _usable() -> str:
    kinds = [kind for kind in ("cuda", "mps", "xpu") if getattr(getattr(torch, kind, None), "is_available", lambda: False)()]
    return ", ".join(["cpu", *kinds])
