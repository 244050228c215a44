"""The Python API: load a trained artifact and predict the emotion of clips.

    import peftser
    model = peftser.load("results/demo/artifacts/<cell key>")
    for p in model.predict(["a.wav", "b.wav"]):
        print(p.source, p.label, p.probabilities)

``predict`` takes file paths, 1-D numpy arrays or torch tensors (with their ``sample_rate``), or a
list mixing them. Arrays are prepared by the same recipe as decoded files (integer PCM scaled as a
decoder scales it, channel mean, soxr resampling to 16 kHz, the same checks; samples far outside
[-1, 1] refused), and every clip is cut to the model's training cut
(``max_seconds``). Clips are scored longest first in padded batches by the evaluation code of a
training, which keeps padding out of every clip, so each answer is the one the clip gets alone.
``--predict`` is this API on the command line.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from peftser.benchmark.artifact import CONFIG, load_artifact
from peftser.benchmark.cell import Cell
from peftser.downstream.audio import SAMPLE_RATE, load_audio
from peftser.downstream.decode import AudioError, conform
from peftser.downstream.samples import as_float_samples, check_peak

DEFAULT_BATCH_SIZE = 8


@dataclass(frozen=True)
class Prediction:
    """One clip's answer: its most probable ``label`` and every class' ``probabilities``; from an
    attribute model, no label but ``values``, each dimension on its training corpus' rating scale.

    ``seconds`` is the clip's length and ``scored_seconds`` what the model scored: a clip longer
    than the model's training cut is scored on its start, and ``cut`` says so. With
    ``errors="report"``, a clip that could not be used has ``error`` set and no label.
    """

    source: str  # the file's path, or "input <i>" for an array or tensor
    label: str | None
    probabilities: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    scored_seconds: float = 0.0
    error: str | None = None
    values: dict[str, float] = field(default_factory=dict)  # an attribute model's answer

    @property
    def cut(self) -> bool:
        """True when only the clip's first ``scored_seconds`` were scored."""
        return self.error is None and self.scored_seconds < self.seconds


@dataclass(frozen=True)
class _Input:
    """A prepared clip in the shape the evaluation batches take (``length``, ``wave()``, ``label``:
    the label index, here unknown and never used; 0 stands in, only the logits are kept)."""

    samples: np.ndarray
    label: int = 0

    @property
    def length(self) -> int:
        return len(self.samples)

    def wave(self) -> np.ndarray:
        return self.samples


class SERPredictor:
    """A trained artifact, ready to predict: ``labels``, ``cell``, ``metrics``, ``predict``.

    ``cell`` is the Cell it was trained as (None when neither its config nor its record says),
    ``record`` its run record and ``metrics`` that record's test metrics (None without a record:
    an artifact copied away from its results folder still predicts).
    """

    def __init__(self, model, config: dict, directory: Path, device: torch.device, record: dict | None):
        self.model = model
        self.config = config
        self.directory = directory
        self.device = device
        self.record = record
        self.labels: tuple[str, ...] = tuple(config["classes"])  # an attribute model's: its dimensions
        self.scale = tuple(config["scale"]) if config.get("kind") == "attributes" else None  # its ratings' scale
        self.max_seconds = float(config["max_seconds"])
        cell = config.get("cell") or (record or {}).get("cell")
        self.cell: Cell | None = Cell.from_dict(cell) if cell else None
        self.metrics: dict[str, Any] | None = record.get("test") if record else None

    def __repr__(self) -> str:
        what = self.cell.label if self.cell else f"{self.config['upstream']}/{self.config['method']}"
        return f"SERPredictor({what}, artifact {self.directory})"

    def predict(self, inputs, sample_rate: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE, errors: str = "raise"):
        """The Prediction of one input, or a list of them for a list of inputs (in its order).

        An input is a path (str or Path), a 1-D numpy array or torch tensor of samples at
        ``sample_rate`` Hz (float in [-1, 1], or int16/int32/int8/uint8 PCM, scaled to it as a
        decoder does), or a ``(samples, rate)`` pair. Samples beyond ``MAX_PEAK`` (4) are refused. ``errors="raise"`` (the default) raises
        the first input's problem (an AudioError naming it); ``errors="report"`` returns it as
        that input's ``error`` and scores the others.
        """
        if errors not in ("raise", "report"):
            raise ValueError(f"errors must be 'raise' or 'report', got {errors!r}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive whole number, got {batch_size!r}")
        single = not isinstance(inputs, (list, tuple)) or _is_pair(inputs)
        items = [inputs] if single else list(inputs)
        if not items:
            raise ValueError("predict needs at least one input: the list is empty")
        prepared: list[tuple[str, np.ndarray | AudioError]] = []
        for index, item in enumerate(items):
            source = _source_name(item, index)
            try:
                prepared.append((source, self._prepare(item, sample_rate, source)))
            except AudioError as err:
                if errors == "raise":
                    raise
                prepared.append((source, err))
        waves = [w for _, w in prepared if not isinstance(w, AudioError)]
        probabilities = iter(self._probabilities(waves, batch_size) if waves else [])
        results = []
        for source, wave in prepared:
            if isinstance(wave, AudioError):
                results.append(Prediction(source, None, error=str(wave)))
                continue
            probs = next(probabilities)
            if not np.isfinite(probs).all():  # samples are bounded (check_peak): no label is the only answer
                err = AudioError(source, "nan/inf", "the model's scores are not finite (NaN or infinity)")
                if errors == "raise":
                    raise err
                results.append(Prediction(source, None, error=str(err)))
                continue
            seconds = len(wave) / SAMPLE_RATE
            if self.scale is not None:
                results.append(Prediction(source, None, {}, seconds, min(seconds, self.max_seconds),
                                          values=dict(zip(self.labels, map(float, probs)))))
                continue
            results.append(Prediction(
                source, self.labels[int(np.argmax(probs))], dict(zip(self.labels, map(float, probs))),
                seconds, min(seconds, self.max_seconds),
            ))
        return results[0] if single else results

    def _prepare(self, item, sample_rate: int | None, source: str) -> np.ndarray:
        """The whole clip as 16 kHz mono float32 (the cut comes when it is scored)."""
        if isinstance(item, (str, Path)):
            wave = load_audio(item, cache=False)  # one-off clips stay out of the corpus cache
            check_peak(wave, source)
            return wave
        if _is_pair(item):
            item, sample_rate = item
        if isinstance(item, torch.Tensor):  # integer tensors keep their dtype: PCM is scaled below
            item = item.detach().cpu()
            item = (item.float() if item.is_floating_point() else item).numpy()
        if not isinstance(item, np.ndarray):  # an AudioError, so that errors="report" reports it for this input
            raise AudioError(source, "unreadable", f"expected a path, a 1-D numpy array or torch tensor, got {type(item).__name__}")
        if isinstance(sample_rate, float) and sample_rate.is_integer():
            sample_rate = int(sample_rate)  # 16000.0 is 16000 Hz
        if item.ndim != 1:
            raise AudioError(source, "unreadable", f"samples must be 1-D (one channel), got shape {tuple(item.shape)}; "
                                                   "average the channels first, as the harness does")
        if sample_rate is None:
            raise ValueError(f"{source}: an array or tensor needs its sample_rate (e.g. predict(x, sample_rate=16000))")
        wave, flaw = conform(as_float_samples(item, source), sample_rate, source)
        if flaw is not None:  # as --predict treats a flawed file
            raise flaw
        check_peak(wave, source)
        return wave

    @torch.no_grad()
    def _probabilities(self, waves: list[np.ndarray], batch_size: int) -> np.ndarray:
        """Class probabilities [N, C] (an attribute model's values on its scale [N, D]), through the
        evaluation batching of a training."""
        from peftser.benchmark.run.training import predict

        cut = int(round(self.max_seconds * SAMPLE_RATE))
        clips = [_Input(wave[:cut]) for wave in waves]
        logits = predict(self.model, clips, batch_size, self.device, "fp32")
        if self.scale is not None:
            from peftser.downstream.tasks.attributes import from_unit

            return np.array([from_unit(row, self.scale) for row in logits.double().numpy()])
        return torch.softmax(logits, dim=-1).numpy()


def _is_pair(item) -> bool:
    """A ``(samples, rate)`` pair rather than a list of two inputs."""
    return (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], (np.ndarray, torch.Tensor))
            and isinstance(item[1], (int, float, np.integer, np.floating)) and not isinstance(item[1], bool))


def _source_name(item, index: int) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"input {index}"


def find_record(directory: str | Path, config: dict | None = None) -> dict | None:
    """The run record of the artifact in ``directory``, or None when there is none beside it.

    An artifact lives at ``<results>/artifacts/<key>`` and its record at
    ``<results>/records/<task>/<key>.json``; an artifact whose config does not name its task
    (written before it did) is matched by its folder's name in every task's records.
    """
    directory = Path(directory).resolve()
    if config is None:
        config = json.loads((directory / CONFIG).read_text())
    key = config.get("key") or directory.name
    records = directory.parent.parent / "records"
    task = (config.get("cell") or {}).get("task")
    candidates = [records / task / f"{key}.json"] if task else sorted(records.glob(f"*/{key}.json"))
    from peftser.benchmark.record import CorruptRecordError, read_record

    for path in candidates:
        if not path.is_file():
            continue
        try:
            record = read_record(path)
        except CorruptRecordError as err:
            warnings.warn(f"{directory}: its run record cannot be read ({err}); metrics are unknown", stacklevel=3)
            return None
        if record.get("key") == key and record.get("status") == "ok":
            return record
    return None


def load(artifact_dir: str | Path, device: str | None = None, *, checkpoint_dir=None, verify: bool = True) -> SERPredictor:
    """The trained model in ``artifact_dir`` (a folder holding adapter.safetensors and
    adapter_config.json), on ``device`` (default: cuda when available, else cpu).

    A folder written by ``--export`` (``model_config.json``) loads whole, standalone or ONNX.
    ``peftser.load`` (peftser.loading) also takes a list of artifact folders.

    A missing folder or file raises FileNotFoundError, weights that differ from the sha256 in the
    config, or a config without one, a ValueError; ``verify=False`` skips that check, for an
    artifact known to be sound. The frozen upstream is rebuilt from its registry entry
    (``checkpoint_dir`` as for training).
    """
    from peftser.benchmark.run.devices import resolve_device

    resolved = resolve_device(device)  # an unusable device is named before anything is read
    directory = Path(artifact_dir)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a peftser artifact: no such folder")
    from peftser.deploy.folder import is_export
    from peftser.deploy.loading import load_export

    if is_export(directory):  # --export's folder: the whole model, standalone or ONNX
        model, config = load_export(directory, device=str(resolved), verify=verify)
        return SERPredictor(model, config, directory, resolved, None)
    model, config = load_artifact(directory, device=str(resolved), checkpoint_dir=checkpoint_dir, verify=verify)
    return SERPredictor(model, config, directory, resolved, find_record(directory, config))
