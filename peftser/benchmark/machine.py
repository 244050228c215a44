"""What decides whether a run's numbers reproduce elsewhere: the CPU, torch's kernels, the GPU.

Two runs of a grid on the same machine type give identical records. On another x86 machine the
float rounding of torch's kernels differs (which vector instructions they use, the MKL and oneDNN
builds), and on small test sets that moves predictions by whole clips (README, "What reproduces
where"). Every run record and ``last_run.json`` carry ``machine_info()`` so that two runs can be
told apart by what ran them.

Importing torch costs seconds and memory, and the orchestrator of a CPU-only run never needs it,
so this module never imports torch: the torch fields are filled only where torch is already
imported (a worker that trained, or an orchestrator that looked for GPUs). A failed record written
by the orchestrator for a worker that died, and ``last_run.json`` of a CPU-only run, carry the
fields known without it.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what ``platform`` knows of the processor."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _build_version(config: str, pattern: str) -> str | None:
    match = re.search(pattern, config)
    return match.group(1) if match else None


def torch_info(torch: Any, device: Any = None) -> dict[str, Any]:
    """torch's version, the CPU kernels it dispatches to, the MKL and oneDNN it was built with, its
    thread count, and for a CUDA ``device`` the CUDA and cuDNN versions and (once CUDA is in use in
    this process, so that asking starts nothing) the GPU's name."""
    config = torch.__config__.show()
    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl": _build_version(config, r"Math Kernel Library Version ([\w.]+)") if torch.backends.mkl.is_available() else None,
        "onednn": _build_version(config, r"(?:MKL-DNN|oneDNN) v([\w.]+)") if torch.backends.mkldnn.is_available() else None,
        "threads": torch.get_num_threads(),
    }
    if device is not None and torch.device(device).type == "cuda":
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        info["gpu"] = torch.cuda.get_device_name(torch.device(device)) if torch.cuda.is_initialized() else None
    return info


def machine_info(device: Any = None) -> dict[str, Any]:
    """The machine block of a record: CPU model, logical CPUs, platform and Python, plus
    ``torch_info`` when this process has imported torch (never imported here)."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "arch": platform.machine(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info.update(torch_info(torch, device))
    return info


def versions() -> dict[str, str]:
    """The versions of what a training or evaluation ran with (imported here, by the worker that runs it)."""
    import numpy as np
    import peft
    import torch
    import transformers

    from peftser import __version__

    return {
        "peftser": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "numpy": np.__version__,
    }
