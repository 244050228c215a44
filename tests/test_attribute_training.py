"""Attribute cells: CCC, r and RMSE against independent implementations, the CCC loss, model
selection by mean dev CCC, and a trained synthetic cell whose record recomputes from its predictions."""

from __future__ import annotations

import math

import audmetric
import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.metrics import mean_squared_error

from peftser.benchmark.attribute_metrics import attribute_metrics, attribute_metrics_from_predictions, ccc, pearson, rmse
from peftser.benchmark.cell import Cell
from peftser.benchmark.config import TrainConfig
from peftser.benchmark.record import problem
from peftser.benchmark.run.attributes import CCCLoss, batch_ccc
from peftser.benchmark.run.training import _better


def _pairs(seed: int, n: int = 200):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(1, 5, n)
    return truth, 0.6 * truth + rng.normal(0.5, 0.7, n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ccc_r_and_rmse_equal_audmetric_scipy_and_sklearn(seed):
    truth, pred = _pairs(seed)
    assert ccc(truth, pred) == pytest.approx(audmetric.concordance_cc(truth, pred), abs=1e-12)
    assert pearson(truth, pred) == pytest.approx(pearsonr(truth, pred)[0], abs=1e-12)
    assert rmse(truth, pred) == pytest.approx(math.sqrt(mean_squared_error(truth, pred)), abs=1e-12)


def test_a_biased_prediction_lowers_ccc_but_not_r():
    truth, _ = _pairs(3)
    assert pearson(truth, truth + 1.0) == pytest.approx(1.0)
    assert ccc(truth, truth + 1.0) < 0.8


def test_the_batch_loss_is_one_minus_the_mean_ccc_over_dimensions():
    (a, pa), (v, pv) = _pairs(4, 32), _pairs(5, 32)
    pred = torch.tensor(np.stack([pa, pv], axis=1))
    target = torch.tensor(np.stack([a, v], axis=1))
    expected = 1.0 - (audmetric.concordance_cc(a, pa) + audmetric.concordance_cc(v, pv)) / 2
    assert float(CCCLoss()(pred, target)) == pytest.approx(expected, abs=1e-6)
    pred.requires_grad_(True)
    CCCLoss()(pred, target).backward()  # trains: a gradient flows to every output
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert batch_ccc(target, target).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_gender_gaps_are_the_absolute_differences_of_each_genders_ccc_and_rmse():
    truth, pred = _pairs(6, 100)
    genders = ["female"] * 50 + ["male"] * 50
    metrics = attribute_metrics(truth[:, None], pred[:, None], genders, ["valence"])
    f, m = slice(0, 50), slice(50, 100)
    assert metrics["ccc_gap"]["valence"] == pytest.approx(
        abs(audmetric.concordance_cc(truth[f], pred[f]) - audmetric.concordance_cc(truth[m], pred[m])))
    assert metrics["rmse_gap"]["valence"] == pytest.approx(
        abs(math.sqrt(mean_squared_error(truth[f], pred[f])) - math.sqrt(mean_squared_error(truth[m], pred[m]))))
    only_female = attribute_metrics(truth[:50, None], pred[:50, None], genders[:50], ["valence"])
    assert only_female["ccc_gap"]["valence"] is None and "gender gaps are undefined" in only_female["notes"][0]


def test_model_selection_keeps_the_first_best_mean_dev_ccc_and_never_an_undefined_one():
    assert _better(0.3, None) and _better(0.31, 0.3)
    assert not _better(0.3, 0.3)  # strict, as for UAR: the earlier of two equal epochs is kept
    assert not _better(None, 0.1) and not _better(None, None)


def test_the_loss_switch_is_a_training_option_that_leaves_older_cells_keys_alone():
    assert "attribute_loss" not in TrainConfig().identity()  # keys of cells recorded before it are unchanged
    mse = TrainConfig.from_dict({"attribute_loss": "mse"})
    assert mse.to_dict()["attribute_loss"] == "mse" and "attribute_loss mse (default: ccc)" in mse.departures()
    assert Cell("a", "lora", "t", "fold1", train={"attribute_loss": "mse"}).key != Cell("a", "lora", "t", "fold1").key
    with pytest.raises(ValueError, match="attribute_loss must be ccc or mse, got 'mae'"):
        TrainConfig.from_dict({"attribute_loss": "mae"})


# -- one trained attribute cell ----------------------------------------------------------------
DIMS_CELL = Cell("demo_whisper_tiny", "lora", "synthetic_msp_podcast_dims", "seed1",
                 method_args={"rank": 8, "alpha": 1.0, "targets": ["ffn_in", "ffn_out"]},
                 train={"epochs": 3, "batch_size": 16, "lr": 3e-3, "augment": False, "max_seconds": 1.0})


@pytest.fixture(scope="module")
def dims_results(tmp_path_factory):
    from peftser.benchmark.run.training import run_cell
    from peftser.benchmark.store import ResultStore

    results = tmp_path_factory.mktemp("dims-results")
    record = run_cell(DIMS_CELL, device="cpu", results_dir=results, progress=False)
    ResultStore(results).save_record(record)
    return results, record


@pytest.mark.slow
def test_a_trained_attribute_cell_recomputes_from_its_stored_predictions(dims_results):
    _, record = dims_results
    assert problem(record) is None and record["kind"] == "attributes" and record["scale"] == [1.0, 7.0]
    dims = ["arousal", "valence", "dominance"]
    assert list(record["test"]["ccc"]) == dims and len(record["predictions"]) == record["split_sizes"]["test"]
    for d in dims:
        truth = np.array([p["ratings"][d] for p in record["predictions"]])
        pred = np.array([p["pred"][d] for p in record["predictions"]])
        assert truth.min() >= 1.0 and truth.max() <= 7.0  # the corpus' own scale
        assert record["test"]["ccc"][d] == pytest.approx(audmetric.concordance_cc(truth, pred), abs=1e-9)
        assert record["test"]["r"][d] == pytest.approx(pearsonr(truth, pred)[0], abs=1e-9)
        assert record["test"]["rmse"][d] == pytest.approx(math.sqrt(mean_squared_error(truth, pred)), abs=1e-9)
    assert record["test"]["mean_ccc"] == pytest.approx(np.mean([record["test"]["ccc"][d] for d in dims]))
    assert attribute_metrics_from_predictions(record["predictions"], dims) == record["test"]
    # It learns: the test CCC of arousal (loudness and rate) is clearly above 0 after 3 short epochs.
    assert record["test"]["ccc"]["arousal"] > 0.3
    best = max(h["dev_mean_ccc"] for h in record["history"])
    assert record["dev"]["mean_ccc"] == best
    assert record["best_epoch"] == next(h["epoch"] for h in record["history"] if h["dev_mean_ccc"] == best)


@pytest.mark.slow
def test_predict_returns_the_attribute_values_the_record_stored_and_the_card_reports_ccc(dims_results):
    import peftser

    results, record = dims_results
    model = peftser.load(results / record["artifact"]["path"])
    stored = record["predictions"][0]
    from peftser.downstream.tasks import make_task

    path = next(u.path for u in make_task("synthetic_msp_podcast_dims").utterances if u.key == stored["key"])
    answer = model.predict(str(path))
    assert answer.label is None and list(answer.values) == ["arousal", "valence", "dominance"]
    assert answer.values == pytest.approx(stored["pred"], abs=1e-4)
    card = (results / record["artifact"]["path"] / "README.md").read_text()
    assert f"| arousal | {record['test']['ccc']['arousal']:.3f} |" in card and "best mean dev CCC epoch" in card
