"""The CUDA path, on the CPU: where no GPU can run it, a patched ``torch.cuda`` records what the
code asks of it, and each test fails on code that asks the wrong thing."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from peftser.benchmark.run.gpu import PeakMemory, gpu_settings, sticky_cuda_error
from peftser.upstream import build_upstream
from peftser.upstream.wav2vec2 import per_clip


def test_building_an_upstream_leaves_the_gpu_generators_to_the_training_seed(monkeypatch):
    """Dropout on a GPU draws from the CUDA generators: building the upstream (seeded by its name,
    for reproducible random weights) must not reseed them, or every training's masks would follow
    the upstream's name instead of the training's seed."""
    seeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: seeded.append(int(seed)))
    torch.manual_seed(16)  # what run_cell does before building the model
    cpu_state = torch.random.get_rng_state()
    first = build_upstream("demo_wav2vec2_base")
    assert seeded == [16]  # the training's seed, and nothing after it
    assert torch.equal(torch.random.get_rng_state(), cpu_state)  # the CPU generator is restored too
    again = build_upstream("demo_wav2vec2_base")  # the random weights are still a function of the name
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))


def test_per_clip_group_norm_statistics_are_float32_under_autocast():
    """Evaluation's exact-padding path normalises the first convolution's bf16 output (autocast)
    with each clip's own statistics: they must be float32, as the library's GroupNorm computes
    them in training, not rounded to bf16."""
    torch.manual_seed(0)
    norm = nn.GroupNorm(4, 4)
    h = (3.0 + 0.05 * torch.randn(2, 4, 400)).to(torch.bfloat16)  # a mean bf16 rounds by a tenth of the spread
    valid = [400, 250]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = per_clip(norm, h, torch.tensor(valid))
    assert out.dtype == torch.float32
    for b, n in enumerate(valid):
        alone = nn.functional.group_norm(h[b : b + 1, :, :n].float(), 4, norm.weight, norm.bias, norm.eps)[0]
        torch.testing.assert_close(out[b, :, :n], alone, rtol=0, atol=1e-4)


def test_bf16_needs_compute_capability_8_on_the_requested_gpu(monkeypatch):
    """torch.cuda.is_bf16_supported() is True on V100 and T4 (emulated bf16, slower than fp32) and
    looks at the current device: the check is the requested GPU's compute capability."""
    from peftser.benchmark.run.training import resolve_precision

    capability = {0: (8, 0), 1: (7, 0)}  # an A100 as cuda:0, a V100 as cuda:1
    asked = []

    def get_device_capability(device=None):
        asked.append(device)
        return capability[torch.device(device).index]

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", get_device_capability)
    assert resolve_precision("bf16", torch.device("cuda:0")) == "bf16"
    with pytest.warns(UserWarning, match=r"compute capability 8.0 or later, not cuda:1; training in fp32"):
        assert resolve_precision("bf16", torch.device("cuda:1")) == "fp32"
    assert [torch.device(d) for d in asked] == [torch.device("cuda:0"), torch.device("cuda:1")]
    with pytest.warns(UserWarning, match="not cpu; training in fp32"):
        assert resolve_precision("bf16", torch.device("cpu")) == "fp32"
    assert resolve_precision("fp32", torch.device("cuda:1")) == "fp32"


class _Stop(Exception):
    """Raised by a patched torch.cuda.set_device: the test has seen what it needs."""


@pytest.mark.parametrize("entry", ["train", "bench"])
def test_the_requested_gpu_becomes_the_current_device(entry, monkeypatch):
    """--train/--bench --device cuda:1 must make GPU 1 current before anything runs (else the
    loader's pinned-memory thread and any bare "cuda" use GPU 0, which gets a context too)."""
    from peftser.benchmark.run import bench, training
    from peftser.benchmark.cell import Cell

    current = []

    def set_device(device):
        current.append(torch.device(device))
        raise _Stop

    for module in (training, bench):
        monkeypatch.setattr(module, "resolve_device", lambda name: torch.device(name))
    monkeypatch.setattr(torch.cuda, "set_device", set_device)
    with pytest.raises(_Stop):
        if entry == "train":
            training.run_cell(Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1"), device="cuda:1")
        else:
            bench.bench("demo_whisper_tiny", "downstream", device="cuda:1")
    assert current == [torch.device("cuda:1")]


class _Pipe:
    """The worker's end of its pipe: hands out ``cells`` (then None, "stop"), keeps what is sent."""

    def __init__(self, cells):
        self.cells, self.sent = list(cells) + [None], []

    def recv(self):
        return self.cells.pop(0)

    def send(self, message):
        self.sent.append(message)


def _run_worker(monkeypatch, tmp_path, pipe: _Pipe) -> None:
    """A scheduler worker's loop, in this process, on a GPU slot with the stand-in runner."""
    from peftser.benchmark.run import scheduler
    from peftser.benchmark.run.slots import Slot

    monkeypatch.setenv("GRID_TEST_LOG", str(tmp_path / "runs.log"))
    monkeypatch.setattr(scheduler, "_watch_parent", lambda pid: None)
    monkeypatch.setattr(scheduler.signal, "signal", lambda *args: None)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    scheduler._worker_main(Slot(0, "cuda:0", "0", 1), "grid_runners:toy_run", pipe, str(tmp_path), {}, os.getppid())


def test_a_worker_empties_the_gpu_cache_after_every_cell(monkeypatch, tmp_path):
    """A long-lived worker must not keep a cell's peak reserved memory (or an out-of-memory
    error's) for the next cells, nor from its neighbours on the same GPU."""
    from grid_runners import toy_grid
    from peftser.benchmark.grids import MethodEntry

    pipe = _Pipe(toy_grid(2, methods=[MethodEntry("toy", args={"sleep": 0}), MethodEntry("toy", "toy_bad", {"fail": "raise", "sleep": 0})]).cells())
    emptied = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(len(pipe.sent)))
    _run_worker(monkeypatch, tmp_path, pipe)
    assert [m[0] for m in pipe.sent] == ["ready", "result", "result", "error", "error"]
    assert emptied == [1, 2, 3, 4]  # after each cell (failed ones too), before its outcome is sent


def test_a_worker_exits_after_an_error_that_breaks_the_cuda_context(monkeypatch, tmp_path):
    from grid_runners import toy_grid
    from peftser.benchmark.grids import MethodEntry

    pipe = _Pipe(toy_grid(1, methods=[MethodEntry("toy", "toy_cuda", {"fail": "cuda", "sleep": 0}), MethodEntry("toy", args={"sleep": 0})]).cells())
    _run_worker(monkeypatch, tmp_path, pipe)
    assert [m[0] for m in pipe.sent] == ["ready", "error"]
    assert "an illegal memory access was encountered" in pipe.sent[1][1]
    assert len(pipe.cells) == 2  # the next cell was left for a fresh worker


def test_sticky_cuda_errors_are_told_from_other_errors():
    assert sticky_cuda_error("RuntimeError: CUDA error: device-side assert triggered")
    assert sticky_cuda_error("torch.AcceleratorError: CUDA error: an illegal memory access was encountered")
    assert not sticky_cuda_error("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
    assert not sticky_cuda_error("ValueError: an illegal memory access in a message about something else")


def _fake_gpu(monkeypatch):
    """torch.cuda as a worker sees an A100 (its cuda:1 is physical GPU 5), whose peak-memory
    counters grow with each reset: the nth phase peaks at 10 n MB allocated and 20 n MB reserved."""
    resets = []
    props = SimpleNamespace(name="NVIDIA A100-SXM4-80GB", major=8, minor=0, total_memory=80 * 2**30, uuid="GPU-1234")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 90100)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: resets.append(torch.device(device)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 10 * len(resets) * 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: 20 * len(resets) * 2**20)
    return resets


def test_gpu_settings_name_the_physical_gpu_and_what_decides_its_results(monkeypatch):
    _fake_gpu(monkeypatch)
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    assert gpu_settings(torch.device("cpu")) is None
    expected = {
        "name": "NVIDIA A100-SXM4-80GB", "physical_device": "5", "uuid": "GPU-1234", "compute_capability": "8.0",
        "total_memory_mb": 81920, "cuda": "12.8", "cudnn": 90100, "matmul_allow_tf32": False, "cudnn_allow_tf32": True,
        "float32_matmul_precision": "highest", "deterministic_algorithms": False, "cublas_workspace_config": ":4096:8",
    }
    assert gpu_settings(torch.device("cuda:1")) == expected  # torch's defaults
    precision = torch.get_float32_matmul_precision()
    try:  # a user's settings, as set: TF32 matmuls, no TF32 convolutions
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.set_float32_matmul_precision("high")
        with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
            settings = gpu_settings(torch.device("cuda:1"))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_float32_matmul_precision(precision)
    assert settings == {**expected, "matmul_allow_tf32": True, "cudnn_allow_tf32": False, "float32_matmul_precision": "high"}
    assert gpu_settings(torch.device("cuda"))["physical_device"] == "3"  # the current device


def _as_if_on_a_gpu(monkeypatch, module):
    """The module's GPU bookkeeping believes the (CPU) training runs on cuda:1."""
    monkeypatch.setattr(module, "PeakMemory", lambda device: PeakMemory(torch.device("cuda:1")))
    monkeypatch.setattr(module, "gpu_settings", lambda device: gpu_settings(torch.device("cuda:1")))


def test_a_record_holds_the_gpu_and_its_peak_memory_per_phase(monkeypatch, tmp_path):
    from peftser.benchmark.cell import Cell
    from peftser.benchmark.run import training

    resets = _fake_gpu(monkeypatch)
    cell = Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1", train={"epochs": 2, "batch_size": 16, "head_hidden": 16})
    on_cpu = training.run_cell(cell, device="cpu", results_dir=tmp_path / "cpu")
    assert on_cpu["gpu"] is None and on_cpu["gpu_peak_memory_mb"] is None and resets == []

    _as_if_on_a_gpu(monkeypatch, training)
    record = training.run_cell(cell, device="cpu", results_dir=tmp_path / "gpu")
    assert record["gpu"]["name"] == "NVIDIA A100-SXM4-80GB" and record["gpu"]["physical_device"] == "5"
    assert resets == [torch.device("cuda:1")] * 5  # epoch 1 training, dev; epoch 2 training, dev; test
    assert record["gpu_peak_memory_mb"] == {
        "training": {"allocated": 30.0, "reserved": 60.0},  # phases 1 and 3
        "evaluation": {"allocated": 50.0, "reserved": 100.0},  # phases 2, 4 and 5
        "cell": {"allocated": 50.0, "reserved": 100.0},
    }


def test_bench_reports_gpu_peak_memory_per_phase(monkeypatch, capsys):
    from peftser.benchmark.run import bench

    _fake_gpu(monkeypatch)
    on_cpu = bench.bench("demo_whisper_tiny", "downstream", batch=2, seconds=1.0, steps=1)
    assert on_cpu["gpu"] is None and on_cpu["gpu_peak_memory_mb"] is None and on_cpu["peak_memory_mb"] > 0

    _as_if_on_a_gpu(monkeypatch, bench)
    assert bench.bench_command("demo_whisper_tiny", "downstream", batch=2, seconds=1.0, steps=1) == 0
    out = capsys.readouterr().out
    assert "peak memory 40 MB" in out  # the run's peak reserved memory
    assert ("GPU NVIDIA A100-SXM4-80GB (physical device 5): peak memory allocated / reserved "
            "training 10 / 20 MB, evaluation 20 / 40 MB, cell 20 / 40 MB") in out
