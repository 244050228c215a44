"""Cross-corpus and noise evaluations of attribute cells: the grid's checks, records whose CCC
recomputes from their stored predictions (against audmetric), the CCC tables of the attribute part
of the leaderboard (markdown and JSON, apart from every UAR table), and --compare on CCC."""

from __future__ import annotations

import json
import shutil

import audmetric
import numpy as np
import pytest
import yaml
from attribute_records import DIMS, SCALES, TRAININGS, evaluation_result, rated_predictions, write_attribute_results
from board_fixture import DATA, board_results

from peftser.benchmark.attribute_metrics import attribute_metrics_from_predictions
from peftser.benchmark.cell import Cell
from peftser.benchmark.evaluation import Evaluation
from peftser.benchmark.grids import GridError, load_grid
from peftser.benchmark.record import evaluation_record, problem, read_record
from peftser.benchmark.report import stats
from peftser.cli import main


def hand_mean_ccc(predictions, dims=DIMS) -> float:
    """Mean over the dimensions of audmetric's CCC of the stored ratings and predictions."""
    return float(np.mean([audmetric.concordance_cc([p["ratings"][d] for p in predictions], [p["pred"][d] for p in predictions])
                          for d in dims]))


def _grid(tmp_path, tasks, evaluate) -> str:
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"upstreams": ["demo_whisper_tiny"], "methods": ["downstream"], "tasks": tasks,
                                    "evaluate": evaluate}))
    return str(path)


# -- the grid ----------------------------------------------------------------------------------------
def test_the_attribute_grids_evaluate_each_cell_on_the_other_attribute_tasks_and_under_noise():
    demo = load_grid("demo_dims")
    cell = demo.cells()[0]
    planned = demo.evaluations([cell])
    assert [(e.kind, e.condition.get("test_task")) for e in planned] == [
        ("transfer", "synthetic_msp_improv_dims"), ("transfer", "synthetic_msp_podcast_dims"), ("noise", None)]
    assert demo.evaluate.transfer_limit and demo.evaluate.noise_limit  # cheap, as the demo's
    full = load_grid("dims")
    assert full.evaluate.cross_corpus and full.evaluate.noise and len(full.evaluations(full.cells())) == 350 * 3


def test_transfer_pairs_never_mix_categorical_and_attribute_tasks(tmp_path):
    grid = load_grid(_grid(tmp_path, ["synthetic_crema_d", "synthetic_iemocap", "synthetic_iemocap_dims"],
                           {"cross_corpus": True, "noise": {"snr_db": [10]}}))
    by_task = {c.task: [(e.kind, e.condition.get("test_task")) for e in grid.evaluations([c])]
               for c in grid.cells(["training=fold1"])}
    assert by_task["synthetic_crema_d"] == [("transfer", "synthetic_iemocap"), ("noise", None)]
    assert by_task["synthetic_iemocap_dims"] == [("noise", None)]  # alone of its kind: no transfer


def test_attribute_tasks_sharing_no_dimension_are_refused_in_one_line(tmp_path):
    tasks = [{"task": "synthetic_iemocap_dims", "args": {"dims": "valence"}},
             {"task": "synthetic_msp_podcast_dims", "args": {"dims": "arousal,dominance"}}]
    with pytest.raises(GridError) as err:
        load_grid(_grid(tmp_path, tasks, {"cross_corpus": True}))
    assert "\n" not in str(err.value) and str(tmp_path / "g.yaml") in str(err.value)
    assert ("attribute tasks 'synthetic_iemocap_dims' (valence) and 'synthetic_msp_podcast_dims' (arousal, dominance) "
            "share no dimension") in str(err.value)
    tasks[1]["args"]["dims"] = "arousal,valence"  # one shared dimension is enough
    assert load_grid(_grid(tmp_path, tasks, {"cross_corpus": True}))


@pytest.fixture
def attribute_results(tmp_path):
    results = tmp_path / "results"
    write_attribute_results(results)
    assert main(["--leaderboard", "--results", str(results)]) == 0
    return results


def _evaluations(results) -> list[dict]:
    return [read_record(p) for p in sorted((results / "evaluations").glob("*/*.json"))]


def test_the_records_are_valid_and_a_malformed_ccc_is_named():
    cell = Cell("demo_whisper_tiny", "lora", "synthetic_iemocap_dims", "fold1")
    evaluation = Evaluation(cell, {"kind": "transfer", "test_task": "synthetic_msp_podcast_dims", "task_args": {},
                                   "max_utterances": None})
    predictions = rated_predictions("synthetic_msp_podcast_dims", 1.0, 0)
    record = evaluation_record(evaluation, kind="attributes", classes=list(DIMS), source={"key": cell.key},
                               results=[evaluation_result({"test_task": "synthetic_msp_podcast_dims"}, predictions, (1.0, 7.0))])
    assert problem(record, evaluation) is None
    record["results"][0]["test"]["mean_ccc"] = "high"
    assert problem(record) == "results[0] test.mean_ccc is 'high', not a finite number or null"


def test_the_leaderboard_shows_transfer_and_noise_ccc_recomputed_from_the_predictions(attribute_results):
    results = attribute_results
    data = json.loads((results / "leaderboard.json").read_text())
    assert "cross_corpus" not in data and "noise" not in data  # the UAR tables' keys: none here
    rated = data["attributes"]
    own = {(r["variant"], r["task"], r["training"]): r for r in map(read_record, (results / "records").glob("*/*.json"))}
    transfer, noise = {}, {}
    for record in _evaluations(results):
        for result in record["results"]:
            score = hand_mean_ccc(result["predictions"])
            assert result["test"]["mean_ccc"] == pytest.approx(score, abs=1e-12)
            condition, side = result["condition"], (record["variant"], record["task"])
            if "test_task" in condition:
                transfer.setdefault((*side, condition["test_task"]), {})[record["training"]] = score
            else:
                noise.setdefault((*side, condition["noise"], condition["snr_db"]), {})[record["training"]] = score
    assert len(rated["cross_corpus"]) == 2 * 4  # two methods x (two diagonal + two transfer cells)
    for entry in rated["cross_corpus"]:
        side = (entry["variant"], entry["train_task"])
        values = ([own[(*side, t)]["test"]["mean_ccc"] for t in TRAININGS[entry["train_task"]]] if entry["in_corpus"]
                  else list(transfer[(*side, entry["test_task"])].values()))
        assert entry["trainings"] == 2 and entry["mean_ccc"]["mean"] == pytest.approx(np.mean(values), abs=1e-12)
        assert entry["mean_ccc"]["std"] == pytest.approx(np.std(values), abs=1e-12)
    assert len(rated["noise"]) == 2 * 2 * 3  # two methods x two tasks x (clean, 10 dB, 0 dB)
    for entry in rated["noise"]:
        values = noise[(entry["variant"], entry["train_task"], entry["noise"], entry["snr_db"])].values()
        assert entry["mean_ccc"]["mean"] == pytest.approx(np.mean(list(values)), abs=1e-12)
    # The noise table: mean over tasks of each task's mean, and in brackets the paired drop from clean.
    markdown = (results / "leaderboard.md").read_text()
    tasks = list(SCALES)
    at_zero = np.mean([np.mean(list(noise[("lora", t, "white", 0.0)].values())) for t in tasks])
    drop = np.mean([np.mean([noise[("lora", t, "white", 0.0)][k] - noise[("lora", t, "clean", None)][k] for k in TRAININGS[t]])
                    for t in tasks])
    assert drop < 0 and f"{at_zero:.3f} ({drop:+.3f})" in markdown
    # Paired with the baseline by (train -> test pair, training), by the UAR tables' statistics.
    table = next(t for t in rated["paired_evaluations"] if t["title"] == "Cross-corpus mean CCC vs baseline")
    (lora,) = table["comparisons"]
    strata = [[transfer[("lora", a, b)][k] - transfer[("downstream", a, b)][k] for k in TRAININGS[a]]
              for a, b in (tasks, tasks[::-1])]
    assert lora["metric"] == "mean_ccc" and lora["paired_units"] == 4
    assert lora["effect"] == pytest.approx(np.mean([np.mean(s) for s in strata]))
    assert lora["p"] == pytest.approx(stats.sign_flip_test(strata)[0])
    assert [t["title"] for t in rated["paired_evaluations"]][1] == "Noise: mean CCC vs baseline at each SNR"
    # In the attribute part of the board, never among the UAR tables.
    before, after = markdown.split("## Emotional attributes (CCC, not UAR)")
    assert "Cross-corpus" not in before and "Noise" not in before
    assert "## Emotional attributes: cross-corpus transfer (mean CCC, beyond the paper)" in after
    assert "## Emotional attributes: noise robustness (mean CCC, beyond the paper)" in after
    assert "## Cross-corpus transfer (beyond the paper)" not in markdown
    assert {"attributes_cross_corpus_demo_whisper_tiny.png", "attributes_noise_demo_whisper_tiny.png"} <= {
        p.name for p in results.glob("*.png")}


def test_attribute_evaluations_leave_the_uar_leaderboard_as_it_was(tmp_path):
    results = board_results(tmp_path)
    write_attribute_results(results)
    assert main(["--leaderboard", "--results", str(results)]) == 0
    expected_md = (DATA / "expected" / "leaderboard.md").read_text()
    categorical, _ = (results / "leaderboard.md").read_text().split("## Emotional attributes (CCC, not UAR)")
    assert categorical == expected_md.split("## Missing, failed and unreadable records")[0]
    data = json.loads((results / "leaderboard.json").read_text())
    assert data.pop("attributes")["cross_corpus"] and data == json.loads((DATA / "expected" / "leaderboard.json").read_text())


def test_compare_pairs_attribute_cells_on_ccc(attribute_results, tmp_path, capsys):
    results = attribute_results
    assert main(["--compare", "lora", "downstream", "--results", str(results), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tables"] == []  # no categorical cell here
    overall = data["attributes"][0]
    mean = next(c for c in overall["comparisons"] if c["metric"] == "mean_ccc")
    records = {(r["variant"], r["task"], r["training"]): r["test"]["mean_ccc"]
               for r in map(read_record, (results / "records").glob("*/*.json"))}
    diffs = {t: [records[("lora", t, k)] - records[("downstream", t, k)] for k in TRAININGS[t]] for t in SCALES}
    assert mean["paired_units"] == 4 and mean["effect"] == pytest.approx(np.mean([np.mean(d) for d in diffs.values()]))
    assert main(["--compare", "lora", "downstream", "--results", str(results)]) == 0
    assert "Δ below is in CCC units" in capsys.readouterr().out
    # Two results directories: each variant against itself, on CCC.
    older = tmp_path / "older"
    shutil.copytree(results / "records", older / "records")
    for path in (older / "records").glob("*/*.json"):
        record = json.loads(path.read_text())
        record["test"]["mean_ccc"] -= 0.1
        path.write_text(json.dumps(record))
    assert main(["--compare", str(results), str(older), "--json"]) == 0
    comparisons = [c for c in json.loads(capsys.readouterr().out)["attributes"][0]["comparisons"] if c["metric"] == "mean_ccc"]
    assert len(comparisons) == 2 and all(c["effect"] == pytest.approx(0.1) for c in comparisons)


# -- attribute cells trained, then evaluated ------------------------------------------------------------
GRID = {
    "name": "attreval",
    "upstreams": ["demo_whisper_tiny"],
    "methods": ["downstream", {"method": "lora", "args": {"rank": 2}}],
    "tasks": [{"task": "synthetic_iemocap_dims", "trainings": ["fold1"]},
              {"task": "synthetic_msp_podcast_dims", "args": {"dims": "arousal,valence"}, "trainings": ["seed1"]}],
    "train": {"epochs": 1, "batch_size": 16, "lr": 3.0e-3, "augment": False, "max_seconds": 0.5},
    "evaluate": {"cross_corpus": {"max_utterances": 12}, "noise": {"snr_db": [10, 0], "types": ["white"], "max_utterances": 8}},
}


@pytest.fixture(scope="module")
def attribute_grid_run(tmp_path_factory):
    from peftser.benchmark.run.orchestrator import run_grid
    from peftser.benchmark.run.slots import Local

    root = tmp_path_factory.mktemp("attribute-evaluations")
    path = root / "attreval.yaml"
    path.write_text(yaml.safe_dump(GRID))
    summary = run_grid(path, results_dir=root / "results", backend=Local("cpu", 2))
    return summary, root / "results", load_grid(path)


@pytest.mark.slow
def test_trained_attribute_cells_get_transfer_and_noise_records_that_recompute_to_audmetric(attribute_grid_run):
    summary, results, grid = attribute_grid_run
    assert (summary.ok, summary.failed) == (4, 0)
    assert (summary.evaluations.planned, summary.evaluations.ok) == (8, 8)  # each cell: the other task, and noise
    records = _evaluations(results)
    assert {r["key"] for r in records} == {e.key for e in grid.evaluations(grid.cells())}
    for record in records:
        assert problem(record) is None and record["kind"] == "attributes"
        for result in record["results"]:
            dims = result.get("classes") or record["classes"]
            for d in dims:
                truth = [p["ratings"][d] for p in result["predictions"]]
                pred = [p["pred"][d] for p in result["predictions"]]
                assert result["test"]["ccc"][d] == pytest.approx(audmetric.concordance_cc(truth, pred), abs=1e-9)
            assert result["test"]["mean_ccc"] == pytest.approx(hand_mean_ccc(result["predictions"], dims), abs=1e-9)
            assert attribute_metrics_from_predictions(result["predictions"], dims) == result["test"]
        condition = record["evaluation"]
        if condition["kind"] == "transfer":
            (result,) = record["results"]
            low, high = result["scale"]
            assert (low, high) == SCALES[condition["test_task"]]  # scored on the test corpus' own scale
            assert all(low <= p["ratings"][d] <= high for p in result["predictions"] for d in result["predictions"][0]["ratings"])
            assert record["clips"] == 12
            if record["task"] == "synthetic_iemocap_dims":  # three dimensions on a task rating two: those two
                assert result["classes"] == ["arousal", "valence"]
    # A model trained on one synthetic twin agrees with the ratings of another: the cues are shared.
    transfer = [r["results"][0]["test"]["mean_ccc"] for r in records if r["evaluation"]["kind"] == "transfer"]
    assert all(v is not None and v > 0 for v in transfer), transfer


@pytest.mark.slow
def test_the_clean_condition_is_the_cells_own_test_predictions_and_noise_lowers_ccc(attribute_grid_run):
    import torch

    from peftser.benchmark.artifact import load_artifact
    from peftser.benchmark.config import TrainConfig
    from peftser.benchmark.run import evaluation as runner
    from peftser.benchmark.run.attributes import unit_targets
    from peftser.benchmark.run.training import load_clips
    from peftser.downstream.tasks import make_task

    _, results, _ = attribute_grid_run
    own = {r["key"]: r for r in map(read_record, (results / "records").glob("*/*.json"))}
    for record in [r for r in _evaluations(results) if r["evaluation"]["kind"] == "noise"]:
        cell_record = own[record["source"]["key"]]
        clean, *noisy = record["results"]
        by_key = {p["key"]: p for p in cell_record["predictions"]}
        assert clean["condition"] == {"noise": "clean", "snr_db": None} and record["clips"] == len(clean["predictions"]) == 8
        assert all(p == by_key[p["key"]] for p in clean["predictions"])
        assert [r["condition"]["snr_db"] for r in noisy] == [10.0, 0.0]
        # Scoring the test split with the artifact, as the evaluations score, gives the record's very predictions.
        cell, cfg = Cell.from_dict(cell_record["cell"]), TrainConfig.from_dict(cell_record["cell"]["train"])
        task = make_task(cell.task, **cell.task_args)
        clips = load_clips(task.training(cell.training).test, cfg.max_seconds, strict=False, skipped={}, evaluation=True,
                           classes=task.classes, target=unit_targets(task.scale))
        model, _ = load_artifact(results / "artifacts" / cell.key)
        again = runner._result({}, model, clips, cfg, torch.device("cpu"), "fp32", tuple(task.classes), scale=tuple(task.scale))
        assert again["predictions"] == cell_record["predictions"]
    # Over the four cells, white noise at 0 dB costs mean CCC against clean.
    drops = [r["results"][2]["test"]["mean_ccc"] - r["results"][0]["test"]["mean_ccc"]
             for r in _evaluations(results) if r["evaluation"]["kind"] == "noise"]
    assert np.mean(drops) < 0, drops


@pytest.mark.slow
def test_the_trained_grids_leaderboard_and_page_show_the_attribute_evaluations(attribute_grid_run):
    _, results, _ = attribute_grid_run
    data = json.loads((results / "leaderboard.json").read_text())["attributes"]
    podcast = "synthetic_msp_podcast_dims (arousal, valence)"  # trained on two of its three dimensions
    cells = {(e["variant"], e["train_task"], e["test_task"]) for e in data["cross_corpus"]}
    assert cells == {(v, a, b) for v in ("downstream", "lora") for a in ("synthetic_iemocap_dims", podcast)
                     for b in ("synthetic_iemocap_dims", podcast)}
    assert {e["noise"] for e in data["noise"]} == {"clean", "white"} and data["evaluations"]["failed"] == 0
    markdown = (results / "leaderboard.md").read_text()
    assert f"- synthetic_iemocap_dims → {podcast}: arousal, valence" in markdown
    page = (results / "index.html").read_text()
    assert "attributes_noise_demo_whisper_tiny.png" in page
