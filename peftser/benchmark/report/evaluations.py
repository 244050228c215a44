"""The evaluations beyond the paper on the board: cross-corpus transfer and noise robustness.

Evaluation records (peftser.benchmark.evaluation) are sorted into scores per (backbone, variant,
train corpus, test corpus) and per (backbone, variant, corpus, noise, SNR), one per training, and
compared with the baseline by the same paired statistics as the in-corpus tables
(peftser.benchmark.report.paired): a transfer unit is (train corpus -> test corpus, training),
stratified by corpus pair; a noise unit is (corpus, training) at one noise and SNR. Every UAR is
recomputed from the records' per-utterance predictions, so a table cannot disagree with them.

``Evaluations`` holds the categorical cells' UARs; the attribute cells' mean CCCs are collected by
its subclass in ``attribute_evaluations`` (which says how a score is read, and how it reads), so
that both kinds share these tables' making and statistics without ever sharing a table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from peftser.benchmark.metrics import uar as uar_of
from peftser.benchmark.record import problem as record_problem
from peftser.benchmark.report.board import Board, backbone_sort_key, corpus_sort_key, mean_std
from peftser.benchmark.report.label_sets import chance_line
from peftser.benchmark.report.paired import UAR, Comparison, Metric, Table, compare, holm_table

ARROW = " → "
CLEAN = "clean"
TransferKey = tuple[str, str, str, str]  # (upstream, variant, train task, test task)
NoiseKey = tuple[str, str, str, str, "float | None"]  # (upstream, variant, task, noise, snr dB; None when clean)


def prediction_uar(predictions: Sequence[dict[str, Any]], classes: Sequence[str] | None = None) -> float:
    """UAR (in %) of per-utterance predictions over ``classes`` (default the paper's four), as the
    training's metrics compute it."""
    from peftser.benchmark.metrics import prediction_indices
    from peftser.downstream.task import EMOTIONS

    classes = classes or EMOTIONS
    return uar_of(*prediction_indices(predictions, classes), len(classes))


@dataclass
class Evaluations:
    """Per-training UARs of every evaluation recorded, and what failed. The class attributes say how
    its scores read in the tables and plots (a subclass scores another metric)."""

    metric: ClassVar[Metric] = UAR
    digits: ClassVar[int] = 2  # decimals of a score in the tables
    plot_range: ClassVar[tuple[float, float]] = (0.0, 100.0)
    plot_label: ClassVar[str] = "UAR (%)"
    transfer_title: ClassVar[str] = "Mean transfer UAR"
    heat_format: ClassVar[str] = "{:.0f}"  # a heatmap cell's text
    plot_prefix: ClassVar[str] = ""  # of the plots' file names

    transfer: dict[TransferKey, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    noise: dict[NoiseKey, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    failed: list[dict] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    shared: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # (train, test) -> classes scored on
    planned: int | None = None  # evaluations the grids ask for (None: no grid said)
    recorded: int = 0
    left_out: dict[str, int] = field(default_factory=dict)  # records kept on disk but out of the tables, by reason

    def __bool__(self) -> bool:
        return bool(self.transfer or self.noise or self.failed or self.unreadable or self.left_out)

    def chance(self, corpora: Iterable[str]) -> tuple[float, str]:
        """A guess' score averaged over ``corpora`` (as the curves average), and its legend: each
        corpus' own chance, so that a six-class corpus lowers it."""
        return chance_line(corpora)

    def leave_out(self, reason: str) -> None:
        self.left_out[reason] = self.left_out.get(reason, 0) + 1

    def add(self, record: dict[str, Any]) -> None:
        """One evaluation record: each of its results as a score of its training."""
        self.recorded += 1
        if record["status"] == "failed":
            self.failed.append(record)
            return
        side, train = (record["upstream"], record.get("variant") or record["method"]), self.train_task(record)
        for result in record["results"]:
            condition, score = result["condition"], self.score(result, record)
            if score is None:  # undefined (an attribute model's constant output): no value to average
                continue
            if "test_task" in condition:
                test = self.test_task(record, condition)
                if result.get("classes"):  # a transfer across label sets, scored on the classes both name
                    self.shared[(train, test)] = tuple(result["classes"])
                self.transfer[(*side, train, test)][record["training"]] = score
            else:
                self.noise[(*side, train, condition["noise"], condition["snr_db"])][record["training"]] = score

    # -- what a subclass scoring another metric changes --------------------------------------------
    def score(self, result: dict[str, Any], record: dict[str, Any]) -> float | None:
        """One result's score, recomputed from its predictions: UAR over the classes it was scored on."""
        return prediction_uar(result["predictions"], result.get("classes") or record.get("classes"))

    def train_task(self, record: dict[str, Any]) -> str:
        """The corpus a record's cell trained on, as the board names it."""
        return record["task"]

    def test_task(self, record: dict[str, Any], condition: dict[str, Any]) -> str:
        """The corpus a transfer scored, as the board names it."""
        return condition["test_task"]

    def in_corpus(self, board: Any, upstream: str, variant: str, task: str) -> list[float]:
        """The in-corpus test scores of a group of the board, one per training (a matrix' diagonal)."""
        return [r.uar for r in board.runs.get((task, variant, upstream), [])]

    # -- what the tables are made of ---------------------------------------------------------------
    def backbones(self) -> list[str]:
        keys = list(self.transfer) + list(self.noise)
        return sorted({k[0] for k in keys}, key=backbone_sort_key)

    def variants(self, board: Board) -> list[str]:
        keys = list(self.transfer) + list(self.noise)
        return sorted({k[1] for k in keys}, key=board.variant_key)

    def corpora(self) -> list[str]:
        keys = [k[2] for k in self.transfer] + [k[3] for k in self.transfer] + [k[2] for k in self.noise]
        return sorted(set(keys), key=corpus_sort_key)

    def transfer_pairs(self) -> list[tuple[str, str]]:
        return sorted({(k[2], k[3]) for k in self.transfer}, key=lambda p: (corpus_sort_key(p[0]), corpus_sort_key(p[1])))

    def conditions(self) -> list[tuple[str, float]]:
        """(noise, SNR) pairs, noise types in their order of appearance, SNRs from high to low."""
        found = {(k[3], k[4]) for k in self.noise if k[3] != CLEAN}
        kinds = list(dict.fromkeys(k[3] for k in self.noise if k[3] != CLEAN))
        return sorted(found, key=lambda c: (kinds.index(c[0]), -c[1]))

    def transfer_cell(self, upstream: str, variant: str, train: str, test: str, board: Board) -> list[float]:
        """The UARs of one matrix cell, one per training; the diagonal is the in-corpus test UAR."""
        if train == test:
            return self.in_corpus(board, upstream, variant, train)
        return list(self.transfer.get((upstream, variant, train, test), {}).values())

    def mean_transfer(self, upstream: str, variant: str) -> tuple[float, float, int] | None:
        """Mean ± std over the off-diagonal cells of their mean over trainings, and how many cells."""
        means = [float(np.mean(list(v.values()))) for k, v in self.transfer.items() if k[:2] == (upstream, variant) and v]
        return (*mean_std(means), len(means)) if means else None

    def noise_summary(self, upstream: str, variant: str, noise: str, snr: float | None) -> tuple[float, float, int] | None:
        """Corpus-balanced UAR (mean ± std over corpora of the mean over trainings) at one condition, and the corpora."""
        means = [float(np.mean(list(v.values()))) for k, v in self.noise.items() if k[:2] == (upstream, variant)
                 and k[3] == noise and k[4] == snr and v]
        return (*mean_std(means), len(means)) if means else None

    def noise_drop(self, upstream: str, variant: str, noise: str, snr: float) -> float | None:
        """Corpus-balanced mean of (noisy UAR - clean UAR) over the trainings scored both ways."""
        drops = []
        for (up, var, task, kind, level), scores in self.noise.items():
            if (up, var, kind, level) != (upstream, variant, noise, snr):
                continue
            clean = self.noise.get((up, var, task, CLEAN, None), {})
            paired = [scores[t] - clean[t] for t in scores if t in clean]
            if paired:
                drops.append(float(np.mean(paired)))
        return float(np.mean(drops)) if drops else None


Slot = tuple[str, "str | None"]  # (kind, test corpus): evaluations of one slot must score the same utterances


def slot_of(condition: dict[str, Any]) -> Slot:
    """What an evaluation scores, but for its utterance subset: (kind, test corpus or None)."""
    return (condition.get("kind", "noise" if "types" in condition else "transfer"), condition.get("test_task"))


def collect_evaluations(records: Iterable[dict | tuple[str, str]], planned: int | None = None, *,
                        subsets: dict[Slot, int | None] | None = None,
                        trained: dict[str, str | None] | None = None, into: type[Evaluations] = Evaluations) -> Evaluations:
    """Evaluation records into an Evaluations (or the subclass ``into``); ``(path, problem)`` pairs are unusable files.

    ``subsets`` is the utterance subset (``max_utterances``, None for all) the grids ask of each
    slot; a slot no grid names takes the subset most of its records have. Records of another
    subset are left out, so that a table never mixes utterance sets (and a method is compared
    with the baseline on the same clips). ``trained`` maps each cell with an ok record to its
    artifact's weights_sha256 (None when its record predates it): an evaluation of a cell not in
    it, or of an artifact since replaced, is left out too. Each is counted in ``left_out``.
    """
    found = into(planned=planned)
    usable = []
    for record in records:
        if isinstance(record, tuple):
            found.unreadable.append(record)
            continue
        why = record_problem(record)
        if why:
            found.unreadable.append((str(record.get("label", "an evaluation record")), why))
            continue
        usable.append(record)
    chosen = _subsets(usable, subsets or {})
    for record in usable:
        reason = _left_out_because(record, chosen, trained)
        if reason:
            found.leave_out(reason)
        else:
            found.add(record)
    return found


def _subsets(records: list[dict], asked: dict[Slot, int | None]) -> dict[Slot, int | None]:
    counts: dict[Slot, dict[int | None, int]] = defaultdict(lambda: defaultdict(int))
    for record in records:
        counts[slot_of(record["evaluation"])][record["evaluation"].get("max_utterances")] += 1
    # most records first; on a tie, the larger subset (all of them above any limit)
    most = {slot: max(seen, key=lambda n: (seen[n], n is None, n or 0)) for slot, seen in counts.items()}
    return {**most, **asked}


def _left_out_because(record: dict, chosen: dict[Slot, int | None], trained: dict[str, str | None] | None) -> str | None:
    source = record.get("source") or {}
    if trained is not None:
        if source.get("key") not in trained:
            return "their cell has no ok training record"
        scored, current = source.get("weights_sha256"), trained[source["key"]]
        if scored and current and scored != current:
            return "they scored an artifact that has since been replaced (its cell trained again)"
    limit = chosen.get(slot_of(record["evaluation"]))
    if record["evaluation"].get("max_utterances") != limit:
        subset = "all utterances" if limit is None else f"max_utterances {limit}"
        return f"they scored another utterance subset than these tables ({subset})"
    return None


# -- paired comparisons ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TransferSide:
    """One variant on one backbone, its units (train -> test pair, training): a paired.Side for transfer."""

    evaluations: Evaluations
    upstream: str
    variant: str

    def values(self, metric: Metric, pairs: Iterable[str]) -> dict[tuple[str, str], float]:
        out = {}
        for pair in pairs:
            train, test = pair.split(ARROW)
            for training, score in self.evaluations.transfer.get((self.upstream, self.variant, train, test), {}).items():
                out[(pair, training)] = score
        return out

    def describe(self) -> dict[str, str]:
        return {"upstream": self.upstream, "variant": self.variant}


@dataclass(frozen=True)
class NoiseSide:
    """One variant on one backbone at one noise and SNR, its units (corpus, training)."""

    evaluations: Evaluations
    upstream: str
    variant: str
    noise: str
    snr_db: float

    def values(self, metric: Metric, tasks: Iterable[str]) -> dict[tuple[str, str], float]:
        return {(task, training): score for task in tasks for training, score in
                self.evaluations.noise.get((self.upstream, self.variant, task, self.noise, self.snr_db), {}).items()}

    def describe(self) -> dict[str, Any]:
        return {"upstream": self.upstream, "variant": self.variant, "noise": self.noise, "snr_db": self.snr_db}


def condition_title(noise: str, snr: float) -> str:
    return f"{noise} {snr:g} dB"


def _rows(evaluations: Evaluations, board: Board, baseline: str) -> list[tuple[str, str]]:
    variants = [v for v in evaluations.variants(board) if v != baseline]
    return [(b, v) for b in evaluations.backbones() for v in variants] if baseline in evaluations.variants(board) else []


def transfer_table(evaluations: Evaluations, board: Board, baseline: str) -> Table | None:
    """Each method against the baseline on mean transfer UAR (its metric), Holm-adjusted across the table."""
    pairs, metric = [f"{a}{ARROW}{b}" for a, b in evaluations.transfer_pairs()], evaluations.metric
    comparisons: list[Comparison] = [
        compare(TransferSide(evaluations, b, v), TransferSide(evaluations, b, baseline), metric, pairs, "transfer", (b, v))
        for b, v in _rows(evaluations, board, baseline)
    ]
    title = f"Cross-corpus {metric.title} vs baseline"
    return holm_table(title, ("backbone", "method"), (metric,), comparisons) if comparisons and pairs else None


def noise_table(evaluations: Evaluations, board: Board, baseline: str) -> Table | None:
    """Each method against the baseline at each noise and SNR, Holm-adjusted across the table."""
    tasks, metric = sorted({k[2] for k in evaluations.noise}, key=corpus_sort_key), evaluations.metric
    comparisons = [
        compare(NoiseSide(evaluations, b, v, noise, snr), NoiseSide(evaluations, b, baseline, noise, snr), metric, tasks,
                condition_title(noise, snr), (b, v))
        for b, v in _rows(evaluations, board, baseline) for noise, snr in evaluations.conditions()
    ]
    title = f"Noise: {metric.title} vs baseline at each SNR"
    return holm_table(title, ("backbone", "method"), (metric,), comparisons) if comparisons else None


# -- leaderboard.json ------------------------------------------------------------------------------
def _entry(upstream: str, variant: str, board: Board, scores: dict[str, float] | list[float], metric: Metric = UAR,
           **where: Any) -> dict[str, Any]:
    values = list(scores.values()) if isinstance(scores, dict) else list(scores)
    mean, std = mean_std(values) if values else (None, None)
    return {"upstream": upstream, "variant": variant, "method": board.method_of.get(variant, variant), **where,
            "trainings": len(values), metric.name: None if mean is None else {"mean": mean, "std": std}}


def evaluations_json(evaluations: Evaluations, board: Board, baseline: str) -> dict[str, Any]:
    """The ``cross_corpus`` and ``noise`` entries of leaderboard.json (beyond the paper); each entry's
    score under its metric's name (``uar``, or an attribute cell's ``mean_ccc``)."""
    cross, metric = [], evaluations.metric
    for upstream in evaluations.backbones():
        for variant in evaluations.variants(board):
            for train in evaluations.corpora():
                for test in evaluations.corpora():
                    if train == test or (upstream, variant, train, test) in evaluations.transfer:
                        scores = evaluations.transfer_cell(upstream, variant, train, test, board)
                        if scores:
                            cross.append(_entry(upstream, variant, board, scores, metric, train_task=train, test_task=test,
                                                in_corpus=train == test))
    noise = [_entry(k[0], k[1], board, v, metric, train_task=k[2], test_task=k[2], noise=k[3], snr_db=k[4])
             for k, v in sorted(evaluations.noise.items(), key=lambda kv: _noise_order(kv[0], board))]
    transfer, noisy = transfer_table(evaluations, board, baseline), noise_table(evaluations, board, baseline)
    return {
        "beyond_the_paper": True,
        "cross_corpus": cross,
        "noise": noise,
        # Its own key: the in-corpus "paired" tables stay beside it.
        "paired_evaluations": [t.to_dict() for t in (transfer, noisy) if t is not None],
        "evaluations": {"recorded": evaluations.recorded, "planned": evaluations.planned, "failed": len(evaluations.failed),
                        **({"left_out": dict(evaluations.left_out)} if evaluations.left_out else {})},
    }


def _noise_order(key: NoiseKey, board: Board) -> tuple:
    return (backbone_sort_key(key[0]), board.variant_key(key[1]), corpus_sort_key(key[2]), key[3] != CLEAN, key[3],
            -(key[4] if key[4] is not None else np.inf))
