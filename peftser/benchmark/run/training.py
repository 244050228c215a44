"""One training of the grid (a cell), exactly the paper's protocol (docs/protocol.md, section 5).

Adam with ReduceLROnPlateau on dev loss, class-weighted cross entropy, training-only
augmentation, the test set scored once with the weights of the best dev-UAR epoch.
"""

from __future__ import annotations

import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from peftser.benchmark.artifact import artifact_config, save_artifact
from peftser.benchmark.card import write_model_card
from peftser.benchmark.run import attributes
from peftser.benchmark.run.batches import BatchLoader, augmentation_seeds, eval_batches, train_batches
from peftser.benchmark.cell import Cell
from peftser.benchmark.config import TrainConfig
from peftser.benchmark.run.devices import resolve_device
from peftser.benchmark.machine import machine_info, versions
from peftser.benchmark.run.gpu import PeakMemory, gpu_settings, native_bf16, select
from peftser.benchmark.run.meter import CellMeter
from peftser.benchmark.run.runner import RunnerOptions
from peftser.benchmark.run.tasks import worker_task
from peftser.benchmark.metrics import compute_metrics, metrics_by_group
from peftser.benchmark.record import failed_record, ok_record
from peftser.benchmark.store import ResultStore
from peftser.downstream.audio import load_audio
from peftser.downstream.decode import MIN_SAMPLES, REPAIRABLE, AudioError
from peftser.downstream.task import EMOTIONS, Utterance
from peftser.model import SERModel, build_model
from peftser.benchmark.run.finite import NonFiniteError, check_finite_loss, finite
from peftser.upstream.base import CheckpointError


@dataclass(frozen=True)
class Clip:
    """An utterance whose audio is known to be usable; the samples are read when a batch needs them
    (from the decoded-audio cache), so a worker never holds a whole corpus in memory."""

    utterance: Utterance
    length: int  # samples, after the cut (and the padding of a repaired clip)
    max_seconds: float
    repaired: str | None = None  # the flaw of a dev or test clip scored repaired (AudioError.kind)
    label: int | tuple[float, ...] | None = None  # index into the classes it is scored over, or an attribute task's targets

    def __post_init__(self):
        if self.label is None:  # a default index would silently relabel the clip
            raise ValueError(f"clip {self.utterance.key}: its label index (into the task's classes) is required")

    def wave(self) -> np.ndarray:
        return load_audio(self.utterance.path, max_seconds=self.max_seconds, repair=self.repaired is not None,
                          segment=self.utterance.segment)


def load_clips(utterances, max_seconds: float, *, strict: bool, skipped: dict[str, int], evaluation: bool = False,
               classes: Sequence[str] = EMOTIONS, target=None) -> list[Clip]:
    """The utterances with usable audio, labelled by their index in ``classes``; unusable files are
    counted in ``skipped`` (or raise with ``strict``).

    With ``evaluation`` (dev and test), flawed clips (all zeros, NaN, too short) are kept and read
    repaired, as the reference scores them (``load_audio(..., repair=True)``); training skips them.
    ``target`` (utterance -> label), when given, labels them instead (an attribute task's ratings).
    """
    clips, classes = [], list(classes)
    for utt in utterances:
        label = classes.index(utt.label) if target is None else target(utt)
        try:
            clips.append(Clip(utt, len(load_audio(utt.path, max_seconds=max_seconds, segment=utt.segment)), max_seconds, label=label))
        except AudioError as err:
            if evaluation and err.repairable:
                wave = load_audio(utt.path, max_seconds=max_seconds, repair=True, segment=utt.segment)
                clips.append(Clip(utt, len(wave), max_seconds, repaired=err.kind, label=label))
                continue
            if strict:
                raise
            warnings.warn(f"skipping {utt.key}: {err}", stacklevel=2)
            reason = f"bad audio: {err.kind}"  # the task's own skip counts use the same names
            skipped[reason] = skipped.get(reason, 0) + 1
    return clips


def flawed_audio_deviations(skipped: dict[str, int], evaluated: list[Clip]) -> list[str]:
    """What the handling of flawed clips changed against the reference code, when there were any:
    training skips them, and dev/test clips with NaN samples or under 25 ms are repaired."""
    notes = []
    kinds = {k: skipped[f"bad audio: {k}"] for k in REPAIRABLE if skipped.get(f"bad audio: {k}")}
    if kinds:
        listed = ", ".join(f"{n} {k}" for k, n in kinds.items())
        notes.append(f"training skipped {sum(kinds.values())} clip(s) with flawed audio ({listed}), which the reference code trains on")
    repaired = {k: sum(c.repaired == k for c in evaluated) for k in ("nan/inf", "too short")}
    if repaired["nan/inf"]:
        notes.append(
            f"dev/test: {repaired['nan/inf']} clip(s) with NaN or infinite samples scored with those samples set to zero "
            "(the reference zeroes a clip whose first sample is NaN and passes other NaN on to the encoder)"
        )
    if repaired["too short"]:
        notes.append(
            f"dev/test: {repaired['too short']} clip(s) under {MIN_SAMPLES} samples scored zero-padded to {MIN_SAMPLES} "
            "(the reference scored clips unpadded, one at a time, which wav2vec 2.0 and WavLM cannot take)"
        )
    return notes


def class_weights(clips: list[Clip], num_classes: int = len(EMOTIONS)) -> torch.Tensor:
    """Inverse training frequency, N / (C n_c); a class absent from training gets weight 0."""
    counts = np.bincount([c.label for c in clips], minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def resolve_precision(requested: str, device: torch.device) -> str:
    """bf16 only on a GPU that computes it natively (compute capability 8.0 or later); fp32
    otherwise (with a warning if bf16 was asked)."""
    if requested not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {requested!r}")
    if requested == "bf16" and not native_bf16(device):
        warnings.warn(f"bf16 autocast needs a GPU of compute capability 8.0 or later, not {device}; training in fp32", stacklevel=2)
        return "fp32"
    return requested


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The paper's Adam over the parameters that train."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def train_step(model, waves, lengths, labels, optimizer, loss_fn, device, precision) -> torch.Tensor:
    """One optimiser step on one batch (forward, backward, update); the batch's loss (a tensor, so
    that reading it is the caller's choice of when to wait for the device)."""
    with _autocast(device, precision):
        loss = loss_fn(model(waves, lengths).float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def train_epoch(model, clips, cfg: TrainConfig, optimizer, loss_fn, device, precision, rng, loader=None, meter=None) -> float:
    """One pass over the training clips (augmented, through ``loader``: the training's own, or a
    new one); the mean training loss. A ``meter`` (the cell's CellMeter) sees every step."""
    loader = BatchLoader(device, augmentation=(cfg.snr_db, cfg.time_mask)) if loader is None else loader
    model.train()
    total, count = 0.0, 0
    batches = train_batches([c.length for c in clips], cfg.batch_size, rng, bucketing=cfg.length_bucketing)
    seeds = augmentation_seeds(rng, len(batches)) if cfg.augment else None
    for waves, lengths, labels in loader(clips, batches, seeds=seeds):
        x, lengths, labels = (t.to(device, non_blocking=True) for t in (waves, lengths, labels))
        step = partial(train_step, model, x, lengths, labels, optimizer, loss_fn, device, precision)
        loss = step() if meter is None else meter.step(step, model, x)
        total += loss.item() * len(labels)
        count += len(labels)
    return total / max(count, 1)


@torch.no_grad()
def predict(model: SERModel, clips: list[Clip], batch_size: int, device, precision, loader=None) -> torch.Tensor:
    """Logits [N, C] for the clips, in their order, scored in padded batches of similar length
    (each clip's logits are those it gets alone: evaluation keeps padding out of every clip).
    The batches come through ``loader`` (the training's own), or a new one."""
    loader = BatchLoader(device) if loader is None else loader
    model.eval()
    logits = None  # [N, outputs], sized by the model's first answer (any model: an export has no head to ask)
    batches = eval_batches([c.length for c in clips], batch_size)
    for batch, (waves, lengths, _) in zip(batches, loader(clips, batches)):
        with _autocast(device, precision):
            out = model(waves.to(device, non_blocking=True), lengths.to(device)).float().cpu()
        if logits is None:
            logits = torch.empty(len(clips), out.shape[-1])
        logits[batch] = out
    return torch.empty(0, 0) if logits is None else logits


def score(logits: torch.Tensor, clips: list[Clip], classes: Sequence[str] = EMOTIONS) -> tuple[float, dict[str, Any], list[int]]:
    """(mean loss, metrics over ``classes``, predicted indices) of logits against the clips' labels.

    The loss is the plain mean cross entropy: the reference scores dev one utterance at a time,
    where the class-weighted loss of one utterance is its unweighted loss, and averages those.
    It is the plateau scheduler's signal; the class weights are for training only.
    """
    labels = torch.tensor([c.label for c in clips])
    loss = float(nn.functional.cross_entropy(logits, labels))
    preds = logits.argmax(dim=1).tolist()
    metrics = compute_metrics(labels.tolist(), preds, [c.utterance.gender for c in clips], classes)
    return loss, metrics, preds


def check_names(cell: Cell) -> None:
    """Unknown upstream, method (or its arguments), task or training: a clear error."""
    from peftser.registry import TASKS, UPSTREAMS

    from peftser.upstream import check_upstream_args

    cell.resolved()  # the method and its arguments
    UPSTREAMS.get(cell.upstream)
    check_upstream_args(cell.upstream, cell.upstream_args)
    TASKS.get(cell.task).check_training(cell.training)


def run_cell(
    cell: Cell,
    *,
    device: str | None = None,
    results_dir: str | Path = "results",
    options: RunnerOptions | None = None,
    task_root: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train and test one cell; writes its artifact and returns its run record (not yet saved).

    ``options`` say where the corpora and checkpoints are and whether unexpected counts are errors;
    ``task_root`` reads this cell's corpus from that folder instead of under the data root.
    """
    options = options or RunnerOptions()
    strict = options.strict
    started = time.time()
    cfg = TrainConfig.from_dict(cell.train)
    device = resolve_device(device)  # an unusable device fails before the corpus and model are built
    select(device)
    precision = resolve_precision(cfg.precision, device)
    meter = CellMeter(device, precision)  # the cell's cost, from here: peak memory, throughput, arithmetic
    check_names(cell)  # before a corpus is read: a typo should cost seconds, not a corpus scan
    task = worker_task(cell.task, data_root=options.data_root, root=task_root, strict=strict, **cell.task_args)
    training = task.training(cell.training)
    skipped = dict(task.skipped)
    classes = task.classes
    rated = task.kind == "attributes"  # continuous targets: tasks.attributes, run.attributes
    target = attributes.unit_targets(task.scale) if rated else None
    train = load_clips(training.train, cfg.max_seconds, strict=strict, skipped=skipped, classes=classes, target=target)
    dev, test = (load_clips(split, cfg.max_seconds, strict=strict, skipped=skipped, evaluation=True, classes=classes, target=target)
                 for split in (training.dev, training.test))
    for split, clips in (("train", train), ("dev", dev), ("test", test)):
        if not clips:
            raise ValueError(f"{cell.label}: the {split} split has no usable utterances")
    if len(train) < cfg.batch_size:
        raise ValueError(
            f"{cell.label}: {len(train)} training utterances make no full batch of batch_size {cfg.batch_size} "
            "(the last partial batch is dropped, as in the reference); lower batch_size"
        )

    torch.manual_seed(training.seed)
    rng = np.random.default_rng(training.seed)
    model = build_model(
        cell.upstream, cell.method, method_args=cell.method_args, upstream_args=cell.upstream_args,
        checkpoint_dir=options.checkpoint_dir, head_hidden=cfg.head_hidden, head_dropout=cfg.head_dropout,
        include_input_state=cfg.include_input_state, num_classes=len(classes),
    ).to(device)
    model.upstream.layerdrop_enabled = cfg.layerdrop
    model.upstream.mask_padding_in_training = cfg.mask_padding
    model.upstream.per_clip_log_mel_in_training = cfg.per_clip_log_mel
    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience, min_lr=cfg.min_lr
    )
    if rated:
        train_loss_fn = attributes.attribute_loss(cfg.attribute_loss)
        scored = partial(attributes.score_attributes, dimensions=classes, scale=task.scale, loss_name=cfg.attribute_loss)
    else:
        weights = class_weights(train, len(classes)) if cfg.class_weighted else torch.ones(len(classes))
        train_loss_fn = nn.CrossEntropyLoss(weight=weights.to(device))
        scored = partial(score, classes=classes)
    selection = attributes.SELECTION if rated else "uar"  # the dev figure the best epoch maximises
    loader = BatchLoader(device, augmentation=(cfg.snr_db, cfg.time_mask))  # its workers serve every pass

    history, best = [], None
    memory = PeakMemory(device)  # on a GPU: peak allocated and reserved memory, training and evaluation apart
    epochs = _progress(range(1, cfg.epochs + 1), cell.label, progress)
    for epoch in epochs:
        lr = optimizer.param_groups[0]["lr"]
        with memory.phase("training"), meter.training_pass():
            train_loss = train_epoch(model, train, cfg, optimizer, train_loss_fn, device, precision, rng, loader, meter)
        check_finite_loss(train_loss, epoch, lr)
        with memory.phase("evaluation"):
            logits = finite(predict(model, dev, cfg.batch_size, device, precision, loader), f"dev in epoch {epoch}")
            dev_loss, dev_metrics, _ = scored(logits, dev)
        scheduler.step(dev_loss)
        history.append({"epoch": epoch, "train_loss": train_loss, "dev_loss": dev_loss, f"dev_{selection}": dev_metrics[selection], "lr": lr})
        if best is None or _better(dev_metrics[selection], best["dev"][selection]):
            # Keep the best epoch's weights (only the trainable ones) instead of re-scoring test every epoch.
            best = {"epoch": epoch, "dev": dev_metrics, "weights": {k: v.clone() for k, v in model.trainable_state_dict().items()}}
        if hasattr(epochs, "set_postfix"):
            epochs.set_postfix({f"dev_{selection}": f"{dev_metrics[selection] or 0:.3g}", "best": f"{best['dev'][selection] or 0:.3g}"})

    model.load_state_dict(best["weights"], strict=False)
    with memory.phase("evaluation"):
        _, test_metrics, test_preds = scored(finite(predict(model, test, cfg.batch_size, device, precision, loader), "test"), test)
    if hasattr(task, "source_of"):  # a pooled task: each source corpus' test metrics too
        test_metrics["per_source"] = metrics_by_group(
            [c.label for c in test], test_preds, [c.utterance.gender for c in test],
            [task.source_of(c.utterance) for c in test], classes,
        )

    store = ResultStore(results_dir)
    artifact_dir = store.artifact_dir(cell)
    config = artifact_config(model, cell.upstream, cell.upstream_args, cfg.max_seconds, cell=cell, classes=classes)
    if rated:  # its outputs are the dimensions' values in [0, 1] of this scale
        config.update(kind="attributes", scale=list(task.scale))
    artifact_bytes = save_artifact(model, artifact_dir, config)
    counts = model.parameter_counts()
    record = ok_record(cell, **{
        "seed": training.seed,
        "classes": list(classes),
        "deviations": cfg.departures() + flawed_audio_deviations(skipped, dev + test) + list(getattr(task, "deviations", ())),
        "test": test_metrics,
        "dev": best["dev"],
        "best_epoch": best["epoch"],
        "history": history,
        **counts,
        "artifact": {"path": store.relative(artifact_dir), "bytes": artifact_bytes, "weights_sha256": store.weights_sha256(cell)},
        "split_sizes": {"train": len(train), "dev": len(dev), "test": len(test)},
        "skipped": skipped,
        "wall_time_s": round(time.time() - started, 3),
        "device": str(device),
        "machine": machine_info(device),
        "precision": precision,
        "gpu": gpu_settings(device),  # None on the CPU
        "gpu_peak_memory_mb": memory.summary(),
        "cost": meter.summary(memory.summary()),
        "versions": versions(),
        "predictions": attributes.prediction_entries(test, test_preds, classes) if rated else [
            {"key": c.utterance.key, "label": c.utterance.label, "pred": classes[p], "gender": c.utterance.gender}
            for c, p in zip(test, test_preds)
        ],
        **({"kind": "attributes", "scale": list(task.scale)} if rated else {}),
    })
    write_model_card(artifact_dir, record)  # the artifact travels with its model card
    return record


def _better(value: float | None, best: float | None) -> bool:
    """Strictly better (the first of equal epochs is kept); an undefined figure (a constant output's
    CCC) is never better, and anything beats an undefined best."""
    return value is not None and (best is None or value > best)


def _progress(epochs, label: str, enabled: bool):
    if not enabled:
        return epochs
    from tqdm import tqdm

    return tqdm(epochs, desc=label, unit="epoch", leave=False)


SUMMARY_METRICS = ("uar", "acc", "macro_f1", "demographic_parity", "equality_of_odds", "reference_demographic_parity")


def train_command(cell: Cell, *, results_dir: str | Path = "results", device: str | None = None,
                  options: RunnerOptions | None = None, task_root=None) -> int:
    """``--train UPSTREAM METHOD TASK TRAINING``: run one cell, save its record, print a summary line."""
    from peftser.downstream.audio import check_cache_writable

    store = ResultStore(results_dir)
    resolve_device(device)  # an unusable --device or a misspelt name must not even create a folder
    check_names(cell)
    store.check_writable([cell.task])  # before a corpus is read or a model trained
    check_cache_writable()
    started = time.time()
    try:
        record = run_cell(
            cell, device=device, results_dir=results_dir, options=options, task_root=task_root,
            progress=sys.stderr.isatty(),
        )
    except (CheckpointError, NonFiniteError) as err:  # the cell failed, as a grid's worker records it; the message is the line
        store.save_record(failed_record(cell, f"{type(err).__name__}: {err}", traceback.format_exc(),
                                        device=str(resolve_device(device)), wall_time_s=round(time.time() - started, 3)))
        raise
    path = store.save_record(record)
    if record.get("kind") == "attributes":
        print(f"{cell.label}: {attributes.summary_line(record['test'])} (best epoch {record['best_epoch']}, "
              f"{record['wall_time_s']:.1f} s) -> {path}")
        return 0
    t = {k: ("n/a" if v is None else f"{v:.2f}") for k, v in record["test"].items() if k in SUMMARY_METRICS}
    print(
        f"{cell.label}: test UAR {t['uar']} acc {t['acc']} macro-F1 {t['macro_f1']} "
        f"DP {t['demographic_parity']} EO {t['equality_of_odds']} reference DP {t['reference_demographic_parity']} (best epoch {record['best_epoch']}, "
        f"{record['wall_time_s']:.1f} s) -> {path}"
    )
    return 0
