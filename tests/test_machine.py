"""The machine block of run records and last_run.json: what decides whether numbers reproduce."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from peftser.benchmark.machine import cpu_model, machine_info

BASE_FIELDS = {"cpu", "cpus", "arch", "platform", "python"}
TORCH_FIELDS = {"torch", "cpu_capability", "mkl", "onednn", "threads"}


def test_without_torch_imported_the_block_has_what_is_known_without_it():
    """The orchestrator of a CPU-only run never imports torch; asking for the block must not either."""
    code = (
        "import json, sys\n"
        "from peftser.benchmark.machine import machine_info\n"
        "info = machine_info('cuda:0')\n"
        "print(json.dumps({'info': info, 'torch': 'torch' in sys.modules}))\n"
    )
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert out["torch"] is False
    assert set(out["info"]) == BASE_FIELDS and out["info"]["cpu"] == cpu_model()


def test_with_torch_it_names_the_kernels_and_their_libraries():
    info = machine_info("cpu")
    assert set(info) == BASE_FIELDS | TORCH_FIELDS
    assert info["cpu"] and info["cpus"] >= 1
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["torch"] == torch.__version__ and info["threads"] == torch.get_num_threads()
    config = torch.__config__.show()
    for library in ("mkl", "onednn"):
        assert info[library] is None or (info[library][0].isdigit() and info[library] in config)
    if torch.backends.mkl.is_available():
        assert info["mkl"] is not None


def test_a_cuda_device_adds_cuda_cudnn_and_the_gpu_without_starting_cuda():
    info = machine_info(torch.device("cuda", 0))
    assert {"cuda", "cudnn", "gpu"} <= set(info)
    assert info["cuda"] == torch.version.cuda
    if not torch.cuda.is_initialized():  # asking must not create a CUDA context in the orchestrator
        assert info["gpu"] is None and not torch.cuda.is_initialized()
