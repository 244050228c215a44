"""The cost of a cell on its record: measured by a real training, checked by the record contract."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from peftser.benchmark.cell import Cell
from peftser.benchmark.record import COST, problem
from peftser.benchmark.run import host_memory, meter
from peftser.benchmark.run.training import run_cell

# The demo grid's LoRA cell, one epoch: a real training of a few seconds.
CELL = Cell("demo_whisper_tiny", "lora", "synthetic_crema_d", "fold1",
            method_args={"rank": 8, "alpha": 1.0, "targets": ["ffn_in", "ffn_out"]},
            train={"epochs": 1, "batch_size": 16, "lr": 3e-3, "augment": False, "max_seconds": 1.0})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    meter._per_sample.clear()  # this training counts its own first step
    return run_cell(CELL, device="cpu", results_dir=tmp_path_factory.mktemp("results"), progress=False)


def test_a_real_cell_records_plausible_costs(trained):
    cost = trained["cost"]
    assert set(cost) == set(COST) and problem(trained) is None
    train_size = trained["split_sizes"]["train"]
    assert cost["train_clips"] == train_size // 16 * 16  # one epoch of full batches of 16
    assert 0 < cost["train_seconds"] < trained["wall_time_s"]
    assert cost["train_clips_per_s"] == pytest.approx(cost["train_clips"] / cost["train_seconds"], rel=1e-2)
    # One LoRA step of 16 clips of 1 s on this encoder is about 0.8 GFLOP (forward and backward).
    assert 0.3 < cost["train_gflop"] / (cost["train_clips"] / 16) < 3
    assert cost["achieved_gflops"] == pytest.approx(cost["train_gflop"] / cost["train_seconds"], rel=1e-2)
    assert 0 < cost["share_of_bound"] <= 2 and math.isfinite(cost["bound_gflops"]) and cost["bound_gflops"] > 0
    if cost["peak_memory_mb"] is not None:  # every Linux; None only without /proc
        assert 0 <= cost["peak_memory_mb"] < 4096 and cost["peak_memory_measure"].startswith("RSS growth")


@pytest.mark.slow
def test_counting_the_first_step_leaves_the_training_unchanged(trained, tmp_path, monkeypatch):
    counted = []
    real = meter.count_flops
    monkeypatch.setattr(meter, "count_flops", lambda step: counted.append(1) or real(step))
    again = run_cell(CELL, device="cpu", results_dir=tmp_path, progress=False)
    assert not counted  # the architecture and batch shape were counted by the first training
    assert again["cost"]["train_gflop"] == trained["cost"]["train_gflop"]
    for name in ("history", "predictions", "test"):
        assert again[name] == trained[name], name


def test_peak_growth_sees_a_brief_allocation_by_either_way(monkeypatch):
    for refused in (False, True):
        if refused:  # where /proc/self/clear_refs cannot be written: the sampling thread
            monkeypatch.setattr(host_memory, "_reset_high_water", lambda: False)
            monkeypatch.setattr(host_memory, "SAMPLE_S", 0.001)
        growth = host_memory.PeakGrowth()
        growth.start()
        if growth.how is None:
            pytest.skip("no /proc: no peak memory figure here")
        block = np.ones(200 * 2**20 // 8)  # 200 MB, touched
        if refused:
            import time

            time.sleep(0.05)
        del block
        assert 150 < growth.stop() < 400, growth.how
        assert growth.how == ("sampled every 1 ms" if refused else "kernel high-water mark")


# -- the record contract -----------------------------------------------------------------------------
def test_a_record_without_cost_stays_valid_and_malformed_costs_are_named(trained):
    old = {k: v for k, v in trained.items() if k != "cost"}
    assert problem(old) is None  # written before the cost was measured
    for change, message in (
        ({"share_of_bound": -0.1}, "cost.share_of_bound is -0.1, not a finite number >= 0"),
        ({"train_seconds": 0}, "cost.train_seconds is 0, not a finite number > 0"),
        ({"train_clips_per_s": float("nan")}, "cost.train_clips_per_s is nan"),
        ({"peak_memory_mb": "12 MB"}, "cost.peak_memory_mb is '12 MB'"),
        ({"train_clips": 1.5}, "cost.train_clips is 1.5, not a whole number >= 0"),
        ({"bound_gflops": True}, "cost.bound_gflops is True"),
    ):
        record = copy.deepcopy(trained)
        record["cost"].update(change)
        assert message in problem(record)
    record = copy.deepcopy(trained)
    del record["cost"]["achieved_gflops"]
    assert problem(record) == "cost without achieved_gflops"
    assert problem({**trained, "cost": [1, 2]}) == "cost is [1, 2], not an object"
    assert problem({**trained, "cost": {**trained["cost"], "peak_memory_mb": None, "peak_memory_measure": None}}) is None
