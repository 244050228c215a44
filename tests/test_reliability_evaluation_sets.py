"""Evaluations in the leaderboard: one utterance subset per table, only of cells that have an ok
record, and only of the artifact the cell holds now. Evaluation records are written by hand for the
board fixture's 15 trainings (3 methods x 5 folds of demo_whisper_tiny on synthetic_crema_d)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from board_fixture import board_results
from peftser.benchmark.cell import Cell
from peftser.benchmark.evaluation import Evaluation
from peftser.benchmark.report.evaluations import collect_evaluations, prediction_uar
from peftser.benchmark.store import ResultStore
from peftser.cli import main

TRANSFER = {"kind": "transfer", "test_task": "synthetic_iemocap", "task_args": {}}
NOISE = {"kind": "noise", "types": ["white"], "snr_db": [10.0]}


def _neutral(predictions):
    return [{**p, "pred": "neutral"} for p in predictions]


def evaluation_record(cell_record: dict, condition: dict, limit: int | None, sha: str | None = None) -> dict:
    """An ok evaluation record of ``cell_record``'s cell; a subset scores the first ``limit`` of its
    test predictions (a transfer scores them as if of the other corpus)."""
    evaluation = Evaluation(Cell.from_dict(cell_record["cell"]), {**condition, "max_utterances": limit})
    predictions = cell_record["predictions"][:limit]
    if condition["kind"] == "transfer":
        results = [{"condition": {"test_task": condition["test_task"]}, "test": {"uar": prediction_uar(predictions)},
                    "predictions": predictions}]
    else:
        results = [{"condition": {"noise": "clean", "snr_db": None}, "test": {"uar": prediction_uar(predictions)},
                    "predictions": predictions},
                   {"condition": {"noise": "white", "snr_db": 10.0}, "test": {"uar": 25.0}, "predictions": _neutral(predictions)}]
    record = {"status": "ok", **evaluation.identity(), "results": results}
    if sha:
        record["source"]["weights_sha256"] = sha
    return record


def cell_records(results):
    return {p: json.loads(p.read_text()) for p in sorted((results / "records").rglob("*.json"))}


def write_evaluations(results, limit, sha=None):
    store = ResultStore(results)
    for record in cell_records(results).values():
        for condition in (TRANSFER, NOISE):
            store.save_record(evaluation_record(record, condition, limit, sha))


def entries(results, section, **where):
    table = json.loads((results / "leaderboard.json").read_text())
    return [e for e in table[section] if all(e.get(k) == v for k, v in where.items())]


LORA = {"upstream": "demo_whisper_tiny", "variant": "lora"}


def lora_uars(results, limit):
    return [prediction_uar(r["predictions"][:limit]) for r in cell_records(results).values() if r["method"] == "lora"]


def test_two_utterance_subsets_are_not_mixed_and_the_other_is_named(tmp_path):
    results = board_results(tmp_path)
    write_evaluations(results, 8)
    write_evaluations(results, None)  # the same evaluations again, on every utterance
    assert main(["--leaderboard", "--results", str(results)]) == 0
    [clean] = entries(results, "noise", **LORA, noise="clean")
    assert clean["trainings"] == 5
    assert clean["uar"]["mean"] == pytest.approx(np.mean(lora_uars(results, None)))  # the full set's, alone
    [transfer] = entries(results, "cross_corpus", **LORA, train_task="synthetic_crema_d", test_task="synthetic_iemocap")
    assert transfer["trainings"] == 5 and transfer["uar"]["mean"] == pytest.approx(np.mean(lora_uars(results, None)))
    [diagonal] = entries(results, "cross_corpus", **LORA, in_corpus=True)
    assert diagonal["trainings"] == 5
    markdown = (results / "leaderboard.md").read_text()
    assert ("- 30 evaluation record(s) left out of the tables, kept in evaluations/: they scored another utterance "
            "subset than these tables (all utterances).") in markdown


def test_the_subset_the_grid_asks_for_is_the_one_shown():
    cell = {"cell": Cell("demo_whisper_tiny", "lora", "synthetic_crema_d", "fold1").to_dict(),
            "predictions": [{"key": f"u{i}", "label": "happy", "pred": "happy" if i % 2 else "sad", "gender": "male"}
                            for i in range(12)]}
    records = [evaluation_record(cell, NOISE, limit) for limit in (None, 4)]
    shown = collect_evaluations(records, subsets={("noise", None): 4})  # the grid asks for 4, fewer records than all
    assert shown.noise[("demo_whisper_tiny", "lora", "synthetic_crema_d", "clean", None)] == {
        "fold1": prediction_uar(cell["predictions"][:4])}
    assert shown.left_out == {"they scored another utterance subset than these tables (max_utterances 4)": 1}


def test_evaluations_of_a_cell_without_a_record_are_left_out_and_said(tmp_path):
    results = board_results(tmp_path)
    write_evaluations(results, None)
    gone = next(p for p, r in cell_records(results).items() if r["method"] == "lora")
    gone.unlink()
    assert main(["--leaderboard", "--results", str(results)]) == 0
    [diagonal] = entries(results, "cross_corpus", **LORA, in_corpus=True)
    [transfer] = entries(results, "cross_corpus", **LORA, train_task="synthetic_crema_d", test_task="synthetic_iemocap")
    [clean] = entries(results, "noise", **LORA, noise="clean")
    assert diagonal["trainings"] == transfer["trainings"] == clean["trainings"] == 4
    assert ("- 2 evaluation record(s) left out of the tables, kept in evaluations/: their cell has no ok training "
            "record.") in (results / "leaderboard.md").read_text()


def test_evaluations_of_a_replaced_artifact_are_left_out(tmp_path):
    results = board_results(tmp_path)
    write_evaluations(results, None, sha="a" * 64)
    path, record = next((p, r) for p, r in cell_records(results).items() if r["method"] == "lora")
    record["artifact"]["weights_sha256"] = "b" * 64  # the cell trained again: other weights
    path.write_text(json.dumps(record))
    assert main(["--leaderboard", "--results", str(results)]) == 0
    [transfer] = entries(results, "cross_corpus", **LORA, train_task="synthetic_crema_d", test_task="synthetic_iemocap")
    assert transfer["trainings"] == 4
    assert ("- 2 evaluation record(s) left out of the tables, kept in evaluations/: they scored an artifact that has "
            "since been replaced (its cell trained again).") in (results / "leaderboard.md").read_text()


@pytest.mark.slow
def test_a_cell_trained_again_has_its_evaluations_run_again(demo_results, tmp_path):
    import shutil

    import torch

    from peftser.benchmark.artifact import load_artifact, save_artifact
    from peftser.benchmark.run.evaluation import run_evaluation

    results = tmp_path / "results"
    shutil.copytree(demo_results[0], results)
    store = ResultStore(results)
    [path] = (results / "records").rglob("*.json")
    cell_record = json.loads(path.read_text())
    cell = Cell.from_dict(cell_record["cell"])
    evaluation = Evaluation(cell, {**NOISE, "max_utterances": 4})
    first = run_evaluation(evaluation, device="cpu", results_dir=results)
    store.save_record(first)
    assert first["source"]["weights_sha256"] == cell_record["artifact"]["weights_sha256"] == store.weights_sha256(cell)
    assert not store.should_run(evaluation)

    # The cell trains again (say, on another machine) into other weights: its record and artifact change.
    artifact = results / cell_record["artifact"]["path"]
    model, config = load_artifact(artifact)
    with torch.no_grad():
        for p in model.head.parameters():
            p.add_(0.5)
    save_artifact(model, artifact, {k: v for k, v in config.items() if k != "weights_sha256"})
    assert store.weights_sha256(cell) != first["source"]["weights_sha256"]
    assert store.should_run(evaluation)  # what the local workers and Slurm tasks ask before running it
    again = run_evaluation(evaluation, device="cpu", results_dir=results)
    store.save_record(again)
    assert again["source"]["weights_sha256"] == store.weights_sha256(cell) and not store.should_run(evaluation)


def test_an_evaluation_record_without_weights_counts_as_current(tmp_path):
    results = board_results(tmp_path)
    record = next(iter(cell_records(results).values()))
    old = evaluation_record(record, NOISE, None)  # written before evaluations noted their weights
    store = ResultStore(results)
    store.save_record(old)
    assert not store.should_run(Evaluation(Cell.from_dict(record["cell"]), {**NOISE, "max_utterances": None}))
