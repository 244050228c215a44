"""Run one evaluation of a trained cell: load its artifact, score a corpus' transfer set or its own
test split under noise, and return the evaluation's record (peftser.benchmark.evaluation).

The runner of the evaluation phase of a grid, called as a training's runner is (local workers and
Slurm tasks alike). Nothing is trained: the clips are scored by the training's own evaluation code
(``predict``: padded batches of the cell's batch size, each clip's logits those it gets alone), with
the weights of the artifact, so that the clean test split gives the cell's own test predictions.
An attribute cell's outputs are its dimensions' values in [0, 1] units; each condition maps them
onto the scored corpus' own scale (peftser.benchmark.run.attributes) and scores CCC, r and RMSE.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from peftser.benchmark.artifact import load_artifact
from peftser.benchmark.attribute_metrics import attribute_metrics_from_predictions
from peftser.benchmark.config import TrainConfig
from peftser.benchmark.evaluation import Evaluation, shared_classes, subset
from peftser.benchmark.machine import machine_info, versions
from peftser.benchmark.metrics import compute_metrics, prediction_indices, record_classes
from peftser.benchmark.record import evaluation_record
from peftser.benchmark.run import attributes
from peftser.benchmark.run.devices import resolve_device
from peftser.benchmark.run.gpu import select
from peftser.benchmark.run.noise import noisy
from peftser.benchmark.run.runner import RunnerOptions
from peftser.benchmark.run.tasks import worker_task
from peftser.benchmark.run.finite import finite
from peftser.benchmark.run.training import Clip, load_clips, predict, resolve_precision, score
from peftser.benchmark.store import ResultStore
from peftser.downstream.task import EMOTIONS, Utterance


class EvaluationError(RuntimeError):
    """An evaluation that cannot run (no artifact, no corpus); its record says why in one line."""


@dataclass(frozen=True)
class NoisyClip:
    """A clip heard with noise: the same utterance and length, the wave with ``kind`` at ``snr_db``."""

    clip: Clip
    kind: str
    snr_db: float

    @property
    def utterance(self) -> Utterance:
        return self.clip.utterance

    @property
    def length(self) -> int:
        return self.clip.length

    @property
    def label(self) -> int:
        return self.clip.label

    def wave(self):
        return noisy(self.clip.wave(), self.utterance.key, self.kind, self.snr_db)


def _task(name: str, args: dict[str, Any], options: RunnerOptions):
    try:
        return worker_task(name, data_root=options.data_root, strict=options.strict, **args)
    except (ValueError, FileNotFoundError) as exc:  # e.g. the corpus is not under --data-root
        raise EvaluationError(f"corpus {name!r} cannot be read: {exc}") from None


# Walking every training's test split takes about 13 ms, as long as scoring the clips of a demo
# evaluation: once per corpus (a task of worker_task's) and process is enough. Callers only read it.
@lru_cache(maxsize=16)
def transfer_set(task) -> tuple[Utterance, ...]:
    """The utterances a corpus' own trainings are tested on, each once, in their first order."""
    seen: dict[str, Utterance] = {}
    for training in task.trainings():
        for utt in training.test:
            seen.setdefault(utt.key, utt)
    return tuple(seen.values())


def _chosen(utterances: Sequence[Utterance], limit: int | None) -> list[Utterance]:
    by_key = {u.key: u for u in utterances}
    return [by_key[k] for k in subset(list(by_key), limit)]


def _result(condition: dict[str, Any], model, clips, cfg: TrainConfig, device, precision,
            model_classes: tuple[str, ...] = EMOTIONS, classes: tuple[str, ...] | None = None,
            scale: tuple[float, float] | None = None) -> dict[str, Any]:
    """One condition scored over ``classes`` (default the model's): the model's outputs restricted to
    those columns (a transfer across label sets is scored on the shared classes alone, each clip's
    label among them). With ``scale``, the outputs are an attribute model's values in [0, 1] units,
    scored on that rating scale against the clips' ratings (of ``classes``, in that order)."""
    classes = tuple(model_classes) if classes is None else tuple(classes)
    model_classes = tuple(model_classes)
    what = ", ".join(f"{k} {v}" for k, v in condition.items())  # e.g. "noise white, snr_db -400"
    logits = finite(predict(model, clips, cfg.batch_size, device, precision), what)
    if classes != model_classes:
        logits = logits[:, [model_classes.index(c) for c in classes]]
    if scale is not None:
        _, metrics, values = attributes.score_attributes(logits, clips, classes, scale)
        predictions = attributes.prediction_entries(clips, values, classes)
    else:
        _, metrics, preds = score(logits, clips, classes)
        predictions = [
            {"key": c.utterance.key, "label": c.utterance.label, "pred": classes[p], "gender": c.utterance.gender}
            for c, p in zip(clips, preds)
        ]
    result = {"condition": condition, "test": metrics, "predictions": predictions}
    if classes != model_classes:
        result["classes"] = list(classes)  # the shared classes it was scored on
    return result


def clean_result(clips, source_record: dict[str, Any]) -> dict[str, Any]:
    """The clean condition of a noise evaluation: the cell's own test predictions on these clips.

    Not scored again: scoring the clean clips with the artifact gives exactly these predictions
    (tests/test_evaluation.py checks it), so a pass of the model would only cost time.
    """
    own = {p["key"]: p for p in source_record.get("predictions") or []}
    missing = [c.utterance.key for c in clips if c.utterance.key not in own]
    if missing:
        raise EvaluationError(f"the record of {source_record['label']} has no test prediction of {missing[0]} "
                              f"({len(missing)} of {len(clips)} clips): the cell's test split changed since it trained")
    predictions = [own[c.utterance.key] for c in clips]
    classes = record_classes(source_record)
    if source_record.get("kind") == "attributes":
        metrics = attribute_metrics_from_predictions(predictions, classes)
    else:
        metrics = compute_metrics(*prediction_indices(predictions, classes), [p["gender"] for p in predictions], classes)
    return {"condition": {"noise": "clean", "snr_db": None}, "test": metrics, "predictions": predictions,
            "scored": "the cell's own test predictions"}


def rated(utterances: Sequence[Utterance], task_dimensions: Sequence[str], dimensions: Sequence[str]) -> list[Utterance]:
    """The utterances of an attribute task (ratings in ``task_dimensions``' order) with the ratings of
    ``dimensions`` alone, in that order: what a transfer scores them on."""
    index = [list(task_dimensions).index(d) for d in dimensions]
    return [replace(u, ratings=tuple(u.ratings[i] for i in index)) for u in utterances]


def _source(store: ResultStore, evaluation: Evaluation) -> tuple[dict[str, Any], Path]:
    """The source cell's ok record and its artifact folder; an EvaluationError when either is missing."""
    cell = evaluation.source
    record = store.load_record(cell)
    if record is None or record["status"] != "ok":
        state = "no record" if record is None else "a failed training"
        raise EvaluationError(f"cell {cell.label} has {state}: there is no trained model to evaluate")
    artifact = store.artifact_dir(cell)
    if not artifact.is_dir():
        raise EvaluationError(f"cell {cell.label} has no artifact: {artifact} does not exist")
    return record, artifact


def _what_is_scored(evaluation: Evaluation, model_classes: tuple[str, ...], rated_cell: bool, options: RunnerOptions):
    """(the scored corpus' task, the classes or dimensions scored, the utterances) of an evaluation:
    another corpus' transfer set, on the classes (two or more) or dimensions (one or more) both
    name, or the cell's own test split."""
    cell, condition = evaluation.source, evaluation.condition
    if condition["kind"] != "transfer":
        task = _task(cell.task, cell.task_args, options)
        return task, model_classes, _chosen(list(task.training(cell.training).test), condition.get("max_utterances"))
    task = _task(condition["test_task"], condition.get("task_args") or {}, options)
    classes = shared_classes(model_classes, task.classes)
    if rated_cell and not classes:
        raise EvaluationError(f"{evaluation.label}: the model's dimensions ({', '.join(model_classes)}) and "
                              f"{task.name}'s ({', '.join(task.classes)}) share none")
    if not rated_cell and len(classes) < 2:
        raise EvaluationError(f"{evaluation.label}: the model's classes ({', '.join(model_classes)}) and "
                              f"{task.name}'s ({', '.join(task.classes)}) share fewer than two")
    # Only the utterances whose label the model knows (every rated one): the others have no right answer.
    utterances = rated(transfer_set(task), task.classes, classes) if rated_cell else [
        u for u in transfer_set(task) if u.label in classes]
    return task, classes, _chosen(utterances, condition.get("max_utterances"))


def run_evaluation(
    evaluation: Evaluation,
    *,
    device: str | None = None,
    results_dir: str | Path = "results",
    options: RunnerOptions | None = None,
) -> dict[str, Any]:
    """Score one evaluation; returns its record (not yet saved)."""
    options = options or RunnerOptions()
    started = time.time()
    device = resolve_device(device)
    select(device)
    store = ResultStore(results_dir)
    source_record, artifact = _source(store, evaluation)
    cell, condition = evaluation.source, evaluation.condition
    cfg = TrainConfig.from_dict(cell.train)
    precision = resolve_precision(cfg.precision, device)
    model_classes, rated_cell = record_classes(source_record), source_record.get("kind") == "attributes"
    task, classes, utterances = _what_is_scored(evaluation, model_classes, rated_cell, options)
    # An attribute cell is scored on the scored corpus' own scale; its clips' labels are their unit ratings.
    scale = tuple(task.scale) if rated_cell else None
    target = attributes.unit_targets(scale) if rated_cell else None
    skipped = dict(task.skipped)
    clips = load_clips(utterances, cfg.max_seconds, strict=options.strict, skipped=skipped, evaluation=True, classes=classes,
                       target=target)
    if not clips:
        raise EvaluationError(f"{evaluation.label}: no usable utterance to score")
    try:
        model, config = load_artifact(artifact, device=str(device), checkpoint_dir=options.checkpoint_dir)
    except (OSError, ValueError, KeyError) as exc:
        raise EvaluationError(f"the artifact of {cell.label} ({artifact}) does not load: {exc}") from None
    if condition["kind"] == "transfer":
        results = [_result({"test_task": condition["test_task"]}, model, clips, cfg, device, precision, model_classes,
                           classes, scale)]
        if tuple(task.classes) != model_classes:  # label sets differ: say which classes were scored, either way round
            results[0]["classes"] = list(classes)
    else:
        results = [clean_result(clips, source_record)] + [
            _result({"noise": kind, "snr_db": snr}, model, [NoisyClip(c, kind, snr) for c in clips], cfg, device, precision,
                    model_classes, classes, scale)
            for kind in condition["types"] for snr in condition["snr_db"]
        ]
    if rated_cell:
        for result in results:  # the rating scale its values and RMSE are on: the scored corpus'
            result["scale"] = list(scale)
    # the weights scored: an evaluation whose artifact was since replaced runs again (ResultStore.should_run)
    source = {**evaluation.identity()["source"], "weights_sha256": config.get("weights_sha256")}
    return evaluation_record(evaluation, **{
        "source": source,
        "results": results,
        "classes": list(model_classes),
        **({"kind": "attributes", "scale": source_record.get("scale")} if rated_cell else {}),
        "clips": len(clips),
        "skipped": skipped,
        "wall_time_s": round(time.time() - started, 3),
        "device": str(device),
        "machine": machine_info(device),
        "precision": precision,
        "versions": versions(),
    })
