"""A NaN training loss or NaN scores fail the cell or evaluation with the reason; never an ok record of
'neutral' predictions at chance UAR."""

from __future__ import annotations

import json

import pytest
import torch

from peftser.benchmark.cell import Cell
from peftser.benchmark.evaluation import Evaluation
from peftser.benchmark.run import training
from peftser.benchmark.run.evaluation import run_evaluation
from peftser.benchmark.run.finite import NonFiniteError, finite
from peftser.benchmark.run.training import train_command
from peftser.benchmark.store import ResultStore
from trained_cells import DEMO_CELL, DEMO_TRAIN

ONE_EPOCH = {**DEMO_TRAIN, "epochs": 1}


def test_scores_that_are_not_finite_are_an_error_naming_what_was_scored():
    logits = torch.tensor([[1.0, 0.0, 0.0, 0.0], [float("nan")] * 4, [0.0, float("inf"), 0.0, 0.0]])
    with pytest.raises(NonFiniteError, match=r"dev in epoch 3: 2 of 3 clips got scores that are not finite"):
        finite(logits, "dev in epoch 3")
    assert finite(logits[:1], "test") is not None


def failed(results, cell) -> dict:
    record = ResultStore(results).load_record(cell)
    assert record is not None and record["status"] == "failed", record
    return record


@pytest.mark.slow
def test_a_diverging_lr_fails_the_cell_with_its_reason(tmp_path, capsys):
    cell = Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1", train={**ONE_EPOCH, "lr": 1e6})
    with pytest.raises(NonFiniteError, match=r"the training loss is nan in epoch 1 \(lr 1e\+06\): the training diverged"):
        train_command(cell, results_dir=tmp_path, device="cpu")
    record = failed(tmp_path, cell)
    assert record["error"].startswith("NonFiniteError: the training loss is nan in epoch 1")
    assert not (tmp_path / "artifacts" / cell.key).exists()


@pytest.mark.slow
def test_nan_weights_fail_the_cell(tmp_path, monkeypatch):
    build = training.build_model

    def poisoned(*args, **kwargs):
        model = build(*args, **kwargs)
        with torch.no_grad():
            next(model.upstream.parameters()).fill_(float("nan"))  # a frozen encoder weight
        return model

    monkeypatch.setattr(training, "build_model", poisoned)
    cell = Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1", train=ONE_EPOCH)
    with pytest.raises(NonFiniteError, match="the training loss is nan in epoch 1"):
        train_command(cell, results_dir=tmp_path, device="cpu")
    assert failed(tmp_path, cell)["error"].startswith("NonFiniteError:")


@pytest.mark.slow
def test_a_noise_evaluation_whose_scores_overflow_fails_with_the_condition(demo_results):
    results, _ = demo_results
    evaluation = Evaluation(DEMO_CELL, {"kind": "noise", "types": ["white"], "snr_db": [10.0, -400.0], "max_utterances": 4})
    with pytest.raises(NonFiniteError, match=r"noise white, snr_db -400.0: 4 of 4 clips got scores that are not finite"):
        run_evaluation(evaluation, device="cpu", results_dir=results)
    sane = Evaluation(DEMO_CELL, {"kind": "noise", "types": ["white"], "snr_db": [10.0], "max_utterances": 4})
    assert run_evaluation(sane, device="cpu", results_dir=results)["status"] == "ok"


@pytest.mark.slow
def test_in_a_grid_run_the_noise_evaluation_is_a_failed_record_with_the_reason(demo_results, tmp_path):
    from peftser.benchmark.run.runner import RunnerOptions, call_runner, outcome_record

    results, _ = demo_results
    evaluation = Evaluation(DEMO_CELL, {"kind": "noise", "types": ["white"], "snr_db": [-400.0], "max_utterances": 4})
    outcome = call_runner(run_evaluation, evaluation, device="cpu", results_dir=results, options=RunnerOptions())
    record = outcome_record(evaluation, outcome, runner="evaluation", device="cpu", wall_time_s=0.0)
    assert record["status"] == "failed" and "NonFiniteError: noise white, snr_db -400.0" in record["error"]
    json.dumps(record)  # a record the store can write
