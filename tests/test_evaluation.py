"""Evaluations beyond the paper, end to end: a tiny grid trains, then every trained cell is scored on
the other corpus and under noise; the leaderboard's numbers recompute from the stored predictions."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import numpy as np
import pytest
import torch
import yaml

from peftser.benchmark.run.slots import Local
from peftser.benchmark.cell import Cell
from peftser.benchmark.evaluation import Evaluation
from peftser.benchmark.grids import load_grid
from peftser.benchmark.record import read_record
from peftser.benchmark.run import evaluation as runner
from peftser.benchmark.run.orchestrator import run_grid
from peftser.benchmark.run.runner import RunnerOptions, call_runner, outcome_record
from peftser.benchmark.run.training import load_clips
from peftser.benchmark.artifact import load_artifact
from peftser.benchmark.config import TrainConfig
from peftser.downstream.task import EMOTIONS
from peftser.downstream.tasks import make_task

pytestmark = pytest.mark.slow

GRID = {
    "name": "evaltiny",
    "upstreams": ["demo_whisper_tiny"],
    "methods": ["downstream", {"method": "lora", "args": {"rank": 2}}],
    "tasks": [{"task": "synthetic_crema_d", "trainings": ["fold1", "fold2"]},
              {"task": "synthetic_msp_podcast", "trainings": ["seed1"]}],
    "train": {"epochs": 1, "batch_size": 16, "lr": 3.0e-3, "augment": False, "max_seconds": 0.5},
    "evaluate": {"cross_corpus": {"max_utterances": 12},
                 "noise": {"snr_db": [10, 0], "types": ["white", "speech_shaped"], "max_utterances": 8}},
}


def hand_uar(predictions) -> float:
    """Unweighted average recall in %, written out independently: scikit-learn's macro recall, over
    the classes that occur as a label or a prediction (one only predicted has recall 0)."""
    recalls = []
    for emotion in EMOTIONS:
        of_class = [p for p in predictions if p["label"] == emotion]
        if of_class:
            recalls.append(sum(p["pred"] == emotion for p in of_class) / len(of_class))
        elif any(p["pred"] == emotion for p in predictions):
            recalls.append(0.0)
    return 100.0 * float(np.mean(recalls))


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluations")
    path = root / "evaltiny.yaml"
    path.write_text(yaml.safe_dump(GRID))
    results = root / "results"
    summary = run_grid(path, results_dir=results, backend=Local("cpu", 2))
    return summary, results, load_grid(path)


def _records(results, folder):
    return [read_record(p) for p in sorted((results / folder).glob("*/*.json"))]


def test_the_grid_trains_then_evaluates_every_trained_cell(grid_run):
    summary, results, grid = grid_run
    assert (summary.ok, summary.failed) == (6, 0)
    evaluations = summary.evaluations
    # 6 cells: each scored on the other corpus (6) and under noise (6).
    assert (evaluations.planned, evaluations.ok, evaluations.failed, evaluations.untrained) == (12, 12, 0, 0)
    records = _records(results, "evaluations")
    assert {r["key"] for r in records} == {e.key for e in grid.evaluations(grid.cells())}
    noise = [r for r in records if r["evaluation"]["kind"] == "noise"]
    # clean, then 2 noises x 2 SNRs, each over the same 8 utterances
    assert all(len(r["results"]) == 5 and r["clips"] == 8 for r in noise)
    again = run_grid(results / ".." / "evaltiny.yaml", results_dir=results, backend=Local("cpu"))
    assert (again.ran, again.evaluations.ran) == (0, 0)  # resumed: nothing runs twice


def test_every_transfer_and_noise_uar_recomputes_from_the_predictions(grid_run):
    _, results, _ = grid_run
    board = json.loads((results / "leaderboard.json").read_text())
    cells = {(r["upstream"], r["variant"], r["task"]): [] for r in _records(results, "records")}
    for r in _records(results, "records"):
        cells[(r["upstream"], r["variant"], r["task"])].append(hand_uar(r["predictions"]))
    transfer, noise = defaultdict(list), defaultdict(list)
    for r in _records(results, "evaluations"):
        for result in r["results"]:
            c = result["condition"]
            if "test_task" in c:
                transfer[(r["upstream"], r["variant"], r["task"], c["test_task"])].append(hand_uar(result["predictions"]))
            else:
                noise[(r["upstream"], r["variant"], r["task"], c["noise"], c["snr_db"])].append(hand_uar(result["predictions"]))
    assert board["beyond_the_paper"] is True
    assert len([e for e in board["cross_corpus"] if not e["in_corpus"]]) == len(transfer) == 4
    for entry in board["cross_corpus"]:
        key = (entry["upstream"], entry["variant"], entry["train_task"])
        values = cells[key] if entry["in_corpus"] else transfer[(*key, entry["test_task"])]
        assert entry["trainings"] == len(values)
        assert entry["uar"]["mean"] == pytest.approx(np.mean(values), abs=1e-9)
        assert entry["uar"]["std"] == pytest.approx(np.std(values), abs=1e-9)
    assert len(board["noise"]) == len(noise) == 2 * 2 * 5  # 2 methods x 2 corpora x (clean + 4 conditions)
    for entry in board["noise"]:
        values = noise[(entry["upstream"], entry["variant"], entry["train_task"], entry["noise"], entry["snr_db"])]
        assert entry["uar"]["mean"] == pytest.approx(np.mean(values), abs=1e-9)
    markdown = (results / "leaderboard.md").read_text()
    assert "## Cross-corpus transfer (beyond the paper)" in markdown and "## Noise robustness (beyond the paper)" in markdown
    assert {"cross_corpus_demo_whisper_tiny.png", "noise_demo_whisper_tiny.png"} <= {p.name for p in results.glob("*.png")}


def test_clean_scoring_of_the_artifact_gives_the_cells_own_test_predictions(grid_run):
    _, results, grid = grid_run
    for record in _records(results, "records"):
        cell = Cell.from_dict(record["cell"])
        cfg = TrainConfig.from_dict(cell.train)
        model, _ = load_artifact(results / "artifacts" / cell.key)
        task = make_task(cell.task)
        clips = load_clips(task.training(cell.training).test, cfg.max_seconds, strict=False, skipped={}, evaluation=True)
        scored = runner._result({}, model, clips, cfg, torch.device("cpu"), "fp32")["predictions"]
        assert scored == record["predictions"]  # every utterance, prediction for prediction


def test_two_methods_hear_the_identical_noisy_waveform(grid_run, monkeypatch):
    _, results, grid = grid_run
    heard = defaultdict(dict)  # method -> (key, noise, snr) -> wave

    def listening(model, clips, batch_size, device, precision):
        for clip in clips:
            if isinstance(clip, runner.NoisyClip):
                heard[model.method.name][(clip.utterance.key, clip.kind, clip.snr_db)] = clip.wave()
        return original(model, clips, batch_size, device, precision)

    original = runner.predict
    monkeypatch.setattr(runner, "predict", listening)
    for cell in grid.cells(["task=synthetic_crema_d", "training=fold1"]):
        (evaluation,) = [e for e in grid.evaluations([cell]) if e.kind == "noise"]
        runner.run_evaluation(evaluation, device="cpu", results_dir=results)
    assert set(heard) == {"downstream", "lora"} and heard["downstream"].keys() == heard["lora"].keys()
    clean = {c.utterance.key: c.wave() for c in load_clips(make_task("synthetic_crema_d").training("fold1").test, 0.5,
                                                           strict=False, skipped={}, evaluation=True)}
    for (key, kind, snr), wave in heard["downstream"].items():
        np.testing.assert_array_equal(wave, heard["lora"][(key, kind, snr)])
        noise = wave.astype(np.float64) - clean[key]
        assert 10 * np.log10(np.mean(clean[key].astype(np.float64) ** 2) / np.mean(noise**2)) == pytest.approx(snr, abs=0.01)


def test_evaluate_only_adds_the_evaluations_without_training(grid_run, tmp_path):
    _, results, _ = grid_run
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    before = {p: p.read_bytes() for p in (copy / "records").glob("*/*.json")}
    old = {r["key"]: r["results"] for r in _records(copy, "evaluations")}
    shutil.rmtree(copy / "evaluations")
    summary = run_grid(tmp_path.parent / results.parent.name / "evaltiny.yaml", results_dir=copy, backend=Local("cpu"), evaluate_only=True)
    assert (summary.ran, summary.evaluations.ran, summary.evaluations.failed) == (0, 12, 0)
    assert {p: p.read_bytes() for p in (copy / "records").glob("*/*.json")} == before
    assert {r["key"]: r["results"] for r in _records(copy, "evaluations")} == old  # deterministic, to the prediction


def test_an_evaluation_without_its_artifact_fails_alone_with_its_reason(grid_run, tmp_path):
    _, results, grid = grid_run
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    (cell,) = grid.cells(["method=lora", "task=synthetic_msp_podcast"])
    shutil.rmtree(copy / "artifacts" / cell.key)
    for evaluation in grid.evaluations([cell]):
        (copy / "evaluations" / cell.task / f"{evaluation.key}.json").unlink()
    summary = run_grid(results.parent / "evaltiny.yaml", results_dir=copy, backend=Local("cpu"))
    assert (summary.ran, summary.failed_total, summary.evaluations.ran, summary.evaluations.failed) == (0, 0, 2, 2)
    failed = [r for r in _records(copy, "evaluations") if r["status"] == "failed"]
    assert {r["source"]["key"] for r in failed} == {cell.key}
    assert all(f"cell {cell.label} has no artifact" in r["error"] for r in failed)
    assert f"Evaluation failed: {failed[0]['label']}: EvaluationError: cell {cell.label} has no artifact" in (copy / "leaderboard.md").read_text()


def test_a_target_corpus_not_under_the_data_root_fails_that_evaluation(grid_run, tmp_path):
    _, results, grid = grid_run
    cell = grid.cells()[0]
    evaluation = Evaluation(cell, {"kind": "transfer", "test_task": "crema_d", "task_args": {}, "max_utterances": None})
    outcome = call_runner(runner.run_evaluation, evaluation, device="cpu", results_dir=results, options=RunnerOptions(data_root=tmp_path))
    record = outcome_record(evaluation, outcome, runner="evaluation", device="cpu", wall_time_s=0.1)
    assert record["status"] == "failed" and record["evaluation"]["test_task"] == "crema_d"
    assert "corpus 'crema_d' cannot be read" in record["error"] and str(tmp_path / "CREMA-D") in record["error"]
