"""The cost of a cell on its record: measured by a real training, checked by the record contract,
summed and medianed into the leaderboard's cost table."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from peftser.benchmark.record import COST, problem
from peftser.benchmark.report.board import collect
from peftser.benchmark.report.cost import cost_rows
from peftser.benchmark.report.render_cost import cost_section
from peftser.benchmark.run import host_memory, meter
from peftser.benchmark.run.training import run_cell
from trained_cells import DEMO_CELL

# The demo grid's LoRA cell (conftest's demo_results, trained once per session; it counted its own first step).
CELL = DEMO_CELL


@pytest.fixture(scope="module")
def demo_record(demo_results):
    return demo_results[1]


def test_a_real_cell_records_plausible_costs(demo_record):
    cost = demo_record["cost"]
    assert set(cost) == set(COST) and problem(demo_record) is None
    train_size = demo_record["split_sizes"]["train"]
    assert cost["train_clips"] == CELL.train["epochs"] * (train_size // 16 * 16)  # full batches of 16 per epoch
    assert 0 < cost["train_seconds"] < demo_record["wall_time_s"]
    assert cost["train_clips_per_s"] == pytest.approx(cost["train_clips"] / cost["train_seconds"], rel=1e-2)
    # One LoRA step of 16 clips of 1 s on this encoder is about 0.8 GFLOP (forward and backward).
    assert 0.3 < cost["train_gflop"] / (cost["train_clips"] / 16) < 3
    assert cost["achieved_gflops"] == pytest.approx(cost["train_gflop"] / cost["train_seconds"], rel=1e-2)
    assert 0 < cost["share_of_bound"] <= 2 and math.isfinite(cost["bound_gflops"]) and cost["bound_gflops"] > 0
    if cost["peak_memory_mb"] is not None:  # every Linux; None only without /proc
        assert 0 <= cost["peak_memory_mb"] < 4096 and cost["peak_memory_measure"].startswith("RSS growth")


@pytest.mark.slow
def test_counting_the_first_step_leaves_the_training_unchanged(demo_record, tmp_path, monkeypatch):
    counted = []
    real = meter.count_flops
    monkeypatch.setattr(meter, "count_flops", lambda step: counted.append(1) or real(step))
    again = run_cell(CELL, device="cpu", results_dir=tmp_path, progress=False)
    assert not counted  # the architecture and batch shape were counted by the first training
    assert again["cost"]["train_gflop"] == demo_record["cost"]["train_gflop"]
    for name in ("history", "predictions", "test"):
        assert again[name] == demo_record[name], name


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
        assert growth.how.startswith("sampled every 1 ms" if refused else "kernel high-water mark")


# -- the record contract -----------------------------------------------------------------------------
def test_a_record_without_cost_stays_valid_and_malformed_costs_are_named(demo_record):
    old = {k: v for k, v in demo_record.items() if k != "cost"}
    assert problem(old) is None  # written before the cost was measured
    for change, message in (
        ({"share_of_bound": -0.1}, "cost.share_of_bound is -0.1, not a finite number >= 0"),
        ({"train_seconds": 0}, "cost.train_seconds is 0, not a finite number > 0"),
        ({"train_clips_per_s": float("nan")}, "cost.train_clips_per_s is nan"),
        ({"peak_memory_mb": "12 MB"}, "cost.peak_memory_mb is '12 MB'"),
        ({"train_clips": 1.5}, "cost.train_clips is 1.5, not a whole number >= 0"),
        ({"bound_gflops": True}, "cost.bound_gflops is True"),
    ):
        record = copy.deepcopy(demo_record)
        record["cost"].update(change)
        assert message in problem(record)
    record = copy.deepcopy(demo_record)
    del record["cost"]["achieved_gflops"]
    assert problem(record) == "cost without achieved_gflops"
    assert problem({**demo_record, "cost": [1, 2]}) == "cost is [1, 2], not an object"
    assert problem({**demo_record, "cost": {**demo_record["cost"], "peak_memory_mb": None, "peak_memory_measure": None}}) is None


# -- the cost table ----------------------------------------------------------------------------------
def _record(method: str, training: str, wall: float, cost: dict | None, size: int) -> dict:
    record = {
        "status": "ok", "upstream": "up", "method": method, "task": "toy", "training": training,
        "key": f"{method}-{training}", "test": {"uar": 50.0, "demographic_parity": None, "equality_of_odds": None},
        "method_params": 100 if method == "lora" else 0, "head_params": 1000, "wall_time_s": wall,
        "artifact": {"path": f"artifacts/{method}-{training}", "bytes": size}, "device": "cpu",
    }
    return record if cost is None else {**record, "cost": cost}


def _cost(peak: float, clips_per_s: float, share: float) -> dict:
    return {"peak_memory_mb": peak, "peak_memory_measure": "RSS growth, kernel high-water mark", "train_clips": 64,
            "train_seconds": 64 / clips_per_s, "train_clips_per_s": clips_per_s, "train_gflop": 1.0,
            "achieved_gflops": 1.0, "bound_gflops": 30.0, "share_of_bound": share}


def test_the_cost_table_sums_hours_and_takes_medians():
    records = [
        _record("lora", "fold1", 1800.0, _cost(100.0, 10.0, 0.10), 4000),
        _record("lora", "fold2", 3600.0, _cost(300.0, 30.0, 0.30), 5000),
        _record("lora", "fold3", 5400.0, _cost(200.0, 20.0, 0.20), 9000),
        _record("downstream", "fold1", 720.0, None, 2048),  # written before costs were measured
        _record("downstream", "fold2", 1080.0, _cost(50.0, 40.0, 0.5), 2048),
    ]
    for record in records:
        assert problem(record) is None, record
    rows = {r.variant: r for r in cost_rows(collect(records))}
    lora, head = rows["lora"], rows["downstream"]
    assert [r.variant for r in cost_rows(collect(records))] == ["downstream", "lora"]  # the paper's order
    assert lora.device_hours == pytest.approx(3.0) and lora.timed == 3  # (1800 + 3600 + 5400) s
    assert (lora.peak_memory_mb, lora.train_clips_per_s, lora.share_of_bound) == (200.0, 20.0, 0.20)
    assert lora.trainable_params == (1100, 1100) and lora.artifact_bytes == 5000
    assert head.device_hours == pytest.approx(0.5) and head.trainings == 2
    assert (head.peak_memory_mb, head.measured, head.metered) == (50.0, 1, 1)
    assert head.trainable_params == (1000, 1000) and head.artifact_bytes == 2048
    lines = "\n".join(cost_section(collect(records)))
    assert "| up         | downstream | 2           | cpu      | 0.500          | 50 (1/2)" in lines
    assert "| up         | lora       | 3           | cpu      | 3.000          | 200" in lines
    assert "20.0%" in lines and "1.1 k" in lines and "4.9 kB" in lines


def test_the_cost_table_shows_a_dash_for_records_without_costs():
    records = [_record("adapter", "fold1", 36.0, None, 1024)]
    row = cost_rows(collect(records))[0]
    assert (row.peak_memory_mb, row.train_clips_per_s, row.share_of_bound) == (None, None, None)
    line = next(line for line in "\n".join(cost_section(collect(records))).splitlines() if "| adapter" in line)
    assert [cell.strip() for cell in line.strip("|").split("|")][5:8] == ["–", "–", "–"]
    assert cost_section(collect([])) == []
