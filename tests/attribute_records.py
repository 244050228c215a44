"""Attribute run records written by hand, as a training and its evaluations write them: two methods'
trainings on two attribute tasks, each with its transfer and noise evaluation records, for the tests
of the attribute leaderboard and of its web page."""

from __future__ import annotations

import numpy as np

from peftser.benchmark.attribute_metrics import attribute_metrics_from_predictions
from peftser.benchmark.cell import Cell
from peftser.benchmark.evaluation import Evaluation
from peftser.benchmark.record import evaluation_record, ok_record
from peftser.benchmark.store import ResultStore

DIMS = ("arousal", "valence", "dominance")
SCALES = {"synthetic_iemocap_dims": (1.0, 5.0), "synthetic_msp_podcast_dims": (1.0, 7.0)}
TRAININGS = {"synthetic_iemocap_dims": ("fold1", "fold2"), "synthetic_msp_podcast_dims": ("seed1", "seed2")}
SPREAD = {"downstream": 1.0, "lora": 0.6}  # how far each method's predictions stray from the ratings


def rated_predictions(task: str, spread: float, seed: int, n: int = 40) -> list[dict]:
    """n utterances of a task's scale, each with its ratings and a prediction ``spread`` off them."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(*SCALES[task], (n, len(DIMS)))
    pred = truth + rng.normal(0.0, spread, truth.shape)
    return [{"key": f"{task}-{i}", "ratings": dict(zip(DIMS, t)), "pred": dict(zip(DIMS, p)), "gender": ("female", "male")[i % 2]}
            for i, (t, p) in enumerate(zip(truth.tolist(), pred.tolist()))]


def noisier(predictions: list[dict], spread: float, seed: int) -> list[dict]:
    """The predictions, each ``spread`` further off."""
    rng = np.random.default_rng(seed)
    return [{**p, "pred": {d: v + rng.normal(0.0, spread) for d, v in p["pred"].items()}} for p in predictions]


def evaluation_result(condition: dict, predictions: list[dict], scale) -> dict:
    """One condition's result of an evaluation record."""
    return {"condition": condition, "test": attribute_metrics_from_predictions(predictions, DIMS),
            "predictions": predictions, "scale": list(scale)}


def write_attribute_results(results) -> None:
    """Two methods' attribute trainings on two tasks, each with its transfer and noise evaluation records."""
    store = ResultStore(results)
    for m, (method, spread) in enumerate(SPREAD.items()):
        for t, (task, other) in enumerate((list(SCALES), list(SCALES)[::-1])):
            for k, training in enumerate(TRAININGS[task]):
                seed, cell = 100 * m + 10 * t + k, Cell("demo_whisper_tiny", method, task, training)
                own = rated_predictions(task, spread, seed)
                dev = attribute_metrics_from_predictions(noisier(own, 0.5, seed + 7), DIMS)
                # Three epochs of dev mean CCC, the last the best (the one tested).
                history = [{"epoch": e, "dev_mean_ccc": dev["mean_ccc"] * share} for e, share in ((1, 0.5), (2, 0.8), (3, 1.0))]
                store.save_record(ok_record(cell, kind="attributes", classes=list(DIMS), scale=list(SCALES[task]),
                                            method_params=10, head_params=20, predictions=own,
                                            test=attribute_metrics_from_predictions(own, DIMS), dev=dev,
                                            history=history, best_epoch=3))
                fields = {"source": {"key": cell.key, "label": cell.label}, "classes": list(DIMS), "kind": "attributes",
                          "scale": list(SCALES[task])}
                transfer = Evaluation(cell, {"kind": "transfer", "test_task": other, "task_args": {}, "max_utterances": None})
                store.save_record(evaluation_record(transfer, **fields, results=[
                    evaluation_result({"test_task": other}, rated_predictions(other, 1.5 * spread, seed + 1000), SCALES[other])]))
                noise = Evaluation(cell, {"kind": "noise", "types": ["white"], "snr_db": [10.0, 0.0], "max_utterances": None})
                clean = {"condition": {"noise": "clean", "snr_db": None}, "test": attribute_metrics_from_predictions(own, DIMS),
                         "predictions": own, "scale": list(SCALES[task])}
                store.save_record(evaluation_record(noise, **fields, results=[clean] + [
                    evaluation_result({"noise": "white", "snr_db": snr}, noisier(own, level, seed + level), SCALES[task])
                    for snr, level in ((10.0, 1), (0.0, 3))]))
