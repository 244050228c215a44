"""Evaluations beyond the paper: a trained cell scored again on another corpus, or under noise.

An evaluation is a unit of work like a cell: it has a key, a label and a record (under
``evaluations/<train task>/<key>.json``), is claimed, resumed and run by the same schedulers, and
never retrains anything: it loads the cell's artifact. Two kinds:

- ``transfer``: the cell (trained on corpus A) scored on the *transfer set* of corpus B, the
  utterances B's own trainings are tested on (every utterance once for a fold corpus, the official
  test set for MSP-Podcast). One evaluation per (cell, B), so that a corpus missing from
  ``--data-root`` fails its own evaluations and nothing else.
- ``noise``: the cell's own test split scored clean and with additive noise at each (type, SNR)
  the grid names, in one evaluation (one model load, one record).

Both kinds run for categorical and attribute cells alike. Transfer pairs are formed within one
kind only (a classifier cannot be scored on ratings, nor a regressor on classes): a categorical
cell is scored on the grid's other categorical corpora, on the classes both name; an attribute
cell on the grid's other attribute tasks, on the dimensions both rate, its outputs (in [0, 1]
units) mapped onto the test corpus' own rating scale. A task alone of its kind in the grid gets
noise evaluations only.

The grid's ``evaluate:`` section says which run. This module knows no torch: keys and the grid's
checks are computed without it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from peftser.benchmark.cell import Cell
from peftser.benchmark.checks import SNR_DB
from peftser.downstream.tasks.attributes import is_attribute_task

NOISE_TYPES = ("white", "speech_shaped")  # what each is: peftser.benchmark.run.noise
DEFAULT_SNR_DB = (20.0, 10.0, 5.0, 0.0)
FOLDER = "evaluations"  # under the results directory, beside records/


class EvaluateError(ValueError):
    """An ``evaluate:`` section that cannot be used, with what is wrong."""


@dataclass(frozen=True)
class EvaluateSpec:
    """A grid's ``evaluate:`` section::

        evaluate:
          cross_corpus: true            # or {max_utterances: N}: a fixed subset of each transfer set
          noise: {snr_db: [20, 10, 5, 0], types: [white, speech_shaped], max_utterances: N}

    ``max_utterances`` (default: all) keeps the first N utterances of a set in the order of their
    keys' hashes: the same clips for every method and backbone, so comparisons stay paired.
    """

    cross_corpus: bool = False
    transfer_limit: int | None = None
    noise_types: tuple[str, ...] = ()
    snr_db: tuple[float, ...] = ()
    noise_limit: int | None = None

    @property
    def noise(self) -> bool:
        return bool(self.noise_types and self.snr_db)

    @property
    def any(self) -> bool:
        return self.cross_corpus or self.noise

    def to_dict(self) -> dict[str, Any]:
        """The section as the grid file writes it (what ``parse`` reads back)."""
        out: dict[str, Any] = {}
        if self.cross_corpus:
            out["cross_corpus"] = {"max_utterances": self.transfer_limit} if self.transfer_limit else True
        if self.noise:
            out["noise"] = {"snr_db": list(self.snr_db), "types": list(self.noise_types)}
            if self.noise_limit:
                out["noise"]["max_utterances"] = self.noise_limit
        return out

    @classmethod
    def from_stored(cls, data: dict[str, Any] | None) -> "EvaluateSpec":
        """The spec as ``Grid.to_dict`` stored it (its fields; None for a grid stored before it had one)."""
        data = data or {}
        return cls(
            cross_corpus=bool(data.get("cross_corpus", False)), transfer_limit=data.get("transfer_limit"),
            noise_types=tuple(data.get("noise_types") or ()), snr_db=tuple(float(v) for v in data.get("snr_db") or ()),
            noise_limit=data.get("noise_limit"),
        )

    @classmethod
    def parse(cls, data: Any) -> "EvaluateSpec":
        """The section from YAML (None or {} turns nothing on); an EvaluateError says what is wrong."""
        if data in (None, {}):
            return cls()
        if not isinstance(data, dict):
            raise EvaluateError(f"evaluate must be a mapping with cross_corpus and/or noise, got {data!r}")
        unknown = sorted(set(data) - {"cross_corpus", "noise"})
        if unknown:
            raise EvaluateError(f"evaluate: unknown key(s) {unknown}; allowed: cross_corpus, noise")
        cross, transfer_limit = _cross_corpus(data.get("cross_corpus", False))
        noise = data.get("noise")
        if noise in (None, False):
            return cls(cross, transfer_limit)
        if noise is True:
            noise = {}
        if not isinstance(noise, dict):
            raise EvaluateError(f"evaluate.noise must be true or a mapping (snr_db, types, max_utterances), got {noise!r}")
        unknown = sorted(set(noise) - {"snr_db", "types", "max_utterances"})
        if unknown:
            raise EvaluateError(f"evaluate.noise: unknown key(s) {unknown}; allowed: snr_db, types, max_utterances")
        return cls(cross, transfer_limit, _noise_types(noise.get("types", list(NOISE_TYPES))),
                   _snrs(noise.get("snr_db", list(DEFAULT_SNR_DB))), _limit(noise.get("max_utterances"), "evaluate.noise"))


def _cross_corpus(value: Any) -> tuple[bool, int | None]:
    if isinstance(value, bool):
        return value, None
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"max_utterances"})
        if unknown:
            raise EvaluateError(f"evaluate.cross_corpus: unknown key(s) {unknown}; allowed: max_utterances")
        return True, _limit(value.get("max_utterances"), "evaluate.cross_corpus")
    raise EvaluateError(f"evaluate.cross_corpus must be true, false or {{max_utterances: N}}, got {value!r}")


def _limit(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise EvaluateError(f"{where}.max_utterances must be a whole number >= 1, got {value!r}")
    return value


def _noise_types(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or len(set(map(str, value))) != len(value):
        raise EvaluateError(f"evaluate.noise.types must be a non-empty list without repeats, got {value!r}")
    unknown = [v for v in value if v not in NOISE_TYPES]
    if unknown:
        raise EvaluateError(f"evaluate.noise.types: unknown noise {unknown[0]!r}; the noises are {', '.join(NOISE_TYPES)}")
    return tuple(value)


def _snrs(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise EvaluateError(f"evaluate.noise.snr_db must be a non-empty list of numbers, got {value!r}")
    for v in value:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise EvaluateError(f"evaluate.noise.snr_db: {v!r} is not a finite number of dB")
        if not SNR_DB.accepts(v):
            raise EvaluateError(f"evaluate.noise.snr_db: {v!r} dB is out of range; an SNR must be {SNR_DB.describe()} dB")
    if len(set(value)) != len(value):
        raise EvaluateError(f"evaluate.noise.snr_db lists an SNR twice: {value!r}")
    return tuple(float(v) for v in value)


def shared_classes(model_classes, test_classes) -> tuple[str, ...]:
    """The classes a model of ``model_classes`` is scored on in a corpus of ``test_classes``: those
    both name, in the model's order (transfer across label sets is scored on these alone)."""
    return tuple(c for c in model_classes if c in set(test_classes))


def check_transfer(task_classes: list[type], label_sets: list[tuple[str, ...]] | None = None) -> None:
    """Refuse cross-corpus evaluation over corpora that cannot transfer: fewer than two of one kind
    (categorical or attribute tasks; pairs never mix the two), a pair of categorical tasks sharing
    fewer than two classes by name or of attribute tasks sharing no dimension (``label_sets``: each
    task's classes or dimensions under its grid arguments; default its class attribute), or two
    tasks sharing a corpus (a pooled task holds its parts' speakers)."""
    kinds = [getattr(cls, "kind", "categorical") for cls in task_classes]
    if all(kinds.count(kind) < 2 for kind in kinds):
        raise EvaluateError("evaluate.cross_corpus needs at least two corpora of one kind in the grid "
                            "(transfer pairs are formed within the categorical and within the attribute tasks)")
    label_sets = label_sets or [tuple(cls.classes) for cls in task_classes]
    tasks = list(zip(task_classes, label_sets, kinds))
    for i, (first, first_classes, kind) in enumerate(tasks):
        for cls, classes, other_kind in tasks[i + 1:]:
            if other_kind != kind:
                continue
            shared = shared_classes(first_classes, classes)
            if kind == "attributes" and not shared:
                raise EvaluateError(
                    f"evaluate.cross_corpus: attribute tasks {first.name!r} ({', '.join(first_classes)}) and {cls.name!r} "
                    f"({', '.join(classes)}) share no dimension; transfer is scored on the dimensions both rate")
            if kind != "attributes" and len(shared) < 2:
                raise EvaluateError(
                    f"evaluate.cross_corpus: tasks {first.name!r} ({', '.join(first_classes)}) and {cls.name!r} "
                    f"({', '.join(classes)}) share {len(shared)} class(es) ({', '.join(shared) or 'none'}); "
                    "transfer is scored on shared classes and needs at least two")
    held: dict[str, str] = {}
    for cls in task_classes:
        for corpus in corpora_of(cls):
            if corpus in held:
                raise EvaluateError(f"evaluate.cross_corpus: tasks {held[corpus]!r} and {cls.name!r} both hold corpus "
                                    f"{corpus!r}; a model trained on one has heard the other's speakers")
            held[corpus] = cls.name


def corpora_of(task_class: type) -> tuple[str, ...]:
    """The corpora a task reads: its own, or each source of a pooled task."""
    sources = getattr(task_class, "sources", None)
    return tuple(s.name for s in sources) if sources else (task_class.name,)


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a trained cell: ``condition`` says what it scores.

    ``{"kind": "transfer", "test_task": B, "task_args": {...}, "max_utterances": N|None}`` or
    ``{"kind": "noise", "types": [...], "snr_db": [...], "max_utterances": N|None}``. It quacks like
    a Cell where the schedulers need one (key, label, task, identity); ``task`` is the corpus the
    cell trained on, under whose folder its record is kept.
    """

    source: Cell
    condition: dict[str, Any] = field(default_factory=dict)

    folder = FOLDER

    @property
    def kind(self) -> str:
        return self.condition["kind"]

    @property
    def task(self) -> str:
        return self.source.task

    @property
    def key(self) -> str:
        """A stable id: hash of the source cell's key and the condition."""
        blob = json.dumps({"source": self.source.key, "condition": self.condition}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        what = f"on {self.condition['test_task']}" if self.kind == "transfer" else "under noise"
        return f"{self.source.label} {what}"

    def identity(self) -> dict[str, Any]:
        """The fields every evaluation record starts with, ok or failed: its cell's, under its own
        key and label, with what it evaluates and which cell it comes from."""
        cell = self.source
        return {**cell.identity(), "key": self.key, "label": self.label, "evaluation": dict(self.condition),
                "source": {"key": cell.key, "label": cell.label}}

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source.to_dict(), "condition": dict(self.condition)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Evaluation":
        return cls(Cell.from_dict(d["source"]), dict(d["condition"]))


def evaluations(spec: EvaluateSpec, cells: list[Cell], tasks: dict[str, dict[str, Any]]) -> list[Evaluation]:
    """Every evaluation of ``cells`` the spec asks for; ``tasks`` maps the grid's corpora to their
    task arguments (the transfer targets, read as the grid reads them: those of the cell's kind)."""
    out = []
    for cell in cells:
        if spec.cross_corpus:
            for target, args in tasks.items():
                if target != cell.task and is_attribute_task(target) == is_attribute_task(cell.task):
                    condition = {"kind": "transfer", "test_task": target, "task_args": dict(sorted(args.items())),
                                 "max_utterances": spec.transfer_limit}
                    out.append(Evaluation(cell, condition))
        if spec.noise:
            condition = {"kind": "noise", "types": list(spec.noise_types), "snr_db": list(spec.snr_db),
                         "max_utterances": spec.noise_limit}
            out.append(Evaluation(cell, condition))
    return out


def subset(keys: list[str], limit: int | None) -> list[str]:
    """The first ``limit`` keys in the order of their sha256 (all of them, in that order, without a
    limit): a fixed choice that depends on nothing but the keys."""
    ordered = sorted(keys, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    return ordered if limit is None else ordered[:limit]
