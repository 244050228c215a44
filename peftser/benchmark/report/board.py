"""The board: run records collected into (task, variant, upstream) groups, with what is missing.

Reads the records (through the record module, which checks each against the contract), sorts them into groups against the
expected cells of the grids that ran, and computes the numbers every table shares (mean ± std
over trainings, the mean of corpus means of the Table V analogue). Knows nothing of markdown or plots.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from peftser.benchmark.cell import Cell
from peftser.benchmark.record import problem as record_problem, read_records
from peftser.benchmark.report.corpora import (corpus_family, paper_corpora, registered_sources, registered_trainings,
                                              task_info, twin)
from peftser.benchmark.report.cost import RunCost, run_cost
from peftser.benchmark.report.label_sets import cell_classes, group_label_set, label_set_group
from peftser.upstream import listed, spec_of

METHOD_ORDER = ("downstream", "adapter", "parallel_adapter", "embedding_prompt", "lora")
# Population std: a corpus' trainings are the protocol's complete, fixed set of folds/seeds (and
# the overall table's corpora are the fixed four), not a sample; it also stays defined for n = 1.
STD_DDOF = 0


# -- ordering ------------------------------------------------------------------------------------
def _natural_key(text: str) -> tuple:
    """"lora_r8" before "lora_r16": digit runs compare as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _ranked(name: str, order: Sequence[str], prefix: str) -> tuple:
    base = name[len(prefix):] if prefix and name.startswith(prefix) else name
    rank = order.index(base) if base in order else len(order)
    return (rank, _natural_key(name))


def method_sort_key(name: str) -> tuple:
    """The paper's method order, then others alphabetically."""
    return _ranked(name, METHOD_ORDER, "")


def backbone_sort_key(name: str) -> tuple:
    """The paper's backbone order (the entries listed in its Table II; a random-weight twin sorts
    as the encoder it stands for), then others alphabetically."""
    spec = spec_of(name)
    return _ranked((spec.twin_of if spec else None) or name, listed("paper"), "")


def corpus_sort_key(name: str) -> tuple:
    """The paper's corpora in its order, then their synthetic analogues in that order, then others."""
    family = ("paper", "synthetic", "other").index(corpus_family(name))
    info = task_info(name)
    base = info.twin_of if family == 1 else name
    return (family, paper_corpora().index(base) if family < 2 else 0, _natural_key(name))


# -- records -------------------------------------------------------------------------------------
def _record_problem(record: Any) -> str | None:
    """Why a record cannot be used, or None; an entry the reader could not use keeps its reason."""
    if isinstance(record, dict) and record.get("status") == "unreadable":
        return str(record.get("error") or "unreadable")
    return record_problem(record)


def load_records(results_dir: str | Path) -> list[dict]:
    """Every run record under results_dir/records; unusable files become {"status": "unreadable"} entries."""
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results directory {root} does not exist")
    records = []
    for entry in read_records(root):
        if entry.problem:
            warnings.warn(f"{root / entry.path}: {entry.problem}; listed in the leaderboard's notes", stacklevel=2)
            records.append({"status": "unreadable", "path": entry.path, "error": entry.problem})
        else:
            records.append(entry.record)
    return records


# -- collecting ----------------------------------------------------------------------------------
Group = tuple[str, str, str]  # (task, variant, upstream)


@dataclass(frozen=True)
class Run:
    """The numbers of one successful training that the tables use."""

    task: str
    variant: str
    method: str
    upstream: str
    training: str
    key: str
    uar: float
    demographic_parity: float | None
    equality_of_odds: float | None
    method_params: int
    head_params: int
    upstream_params: int | None
    notes: tuple[str, ...]
    cost: RunCost | None = None  # what it cost (the cost table's figures)
    reference_demographic_parity: float | None = None  # None also in records written before it was computed
    # The record itself, for the web page's drill-down (its history, dev metrics, deviations).
    record: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.upstream}/{self.variant}/{self.task}/{self.training}"


@dataclass(frozen=True)
class Fairness:
    """Mean fairness of one group over the trainings where it is defined."""

    demographic_parity: float  # holisticai's multiclass statistical parity
    equality_of_odds: float
    uar: float  # the mean UAR of the same trainings
    reference_demographic_parity: float | None  # None unless every one of these trainings has it
    trainings: int


@dataclass
class Board:
    """Records sorted into groups, with what was expected and what went wrong."""

    runs: dict[Group, list[Run]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[Group, list[dict]] = field(default_factory=lambda: defaultdict(list))
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0})  # distinct records
    failed_records: list[dict] = field(default_factory=list)  # each once, whatever groups it counts in
    expected: dict[Group, set[str]] | None = None
    method_of: dict[str, str] = field(default_factory=dict)
    outside_expected: list[str] = field(default_factory=list)
    # Beyond the paper: the cross-corpus and noise scores of the trained cells, a
    # report.evaluations.Evaluations (typed loosely: that module builds on this one).
    evaluations: Any = None
    # Beyond the paper: the attribute tasks' records (report.attributes.AttributeBoard), kept apart from UAR.
    attributes: Any = None

    def groups(self) -> set[Group]:
        """Every (task, variant, upstream) with a record or an expected cell."""
        return set(self.runs) | set(self.failed) | set(self.expected or {})

    def tasks(self) -> list[str]:
        """The corpora, in the paper's order."""
        return sorted({g[0] for g in self.groups()}, key=corpus_sort_key)

    def backbones(self, variants: Collection[str] | None = None) -> list[str]:
        """The upstreams (of the given variants), in the paper's order."""
        names = {g[2] for g in self.groups() if variants is None or g[1] in variants}
        return sorted(names, key=backbone_sort_key)

    def variant_key(self, variant: str) -> tuple:
        """Sort key: the variant's method in the paper's order, then the variant naturally."""
        return (method_sort_key(self.method_of.get(variant, variant)), _natural_key(variant))

    def main_tasks(self) -> list[str]:
        """Tasks with a group of some method's default configuration."""
        main = set(self.main_variants())
        return [t for t in self.tasks() if any(g[0] == t and g[1] in main for g in self.groups())]

    def recorded_trainings(self, group: Group) -> set[str]:
        """Trainings of a group with an ok or a failed record."""
        return {r.training for r in self.runs.get(group, [])} | {r["training"] for r in self.failed.get(group, [])}

    def missing_trainings(self, group: Group) -> list[str]:
        """Expected trainings of a group with neither an ok nor a failed record."""
        return sorted(self.full_trainings(group) - self.recorded_trainings(group), key=_natural_key)

    def main_variants(self) -> list[str]:
        """Variants that are a method's default configuration (variant == method)."""
        names = {g[1] for g in self.groups() if self.method_of.get(g[1], g[1]) == g[1]}
        return sorted(names, key=self.variant_key)

    def ablation_variants(self) -> dict[str, list[str]]:
        """Method -> its other configurations (variant != method)."""
        by_method = defaultdict(set)
        for _, variant, _ in self.groups():
            method = self.method_of.get(variant, variant)
            if method != variant:
                by_method[method].add(variant)
        return {m: sorted(by_method[m], key=self.variant_key) for m in sorted(by_method, key=method_sort_key)}

    def fairness(self, group: Group) -> "Fairness | None":
        """The group's mean gender fairness: over the trainings where both metrics are defined (a
        class absent for one gender leaves them undefined), with those trainings' mean UAR. The
        one rule every table, the JSON and the plots use."""
        runs = [r for r in self.runs.get(group, []) if r.demographic_parity is not None and r.equality_of_odds is not None]
        if not runs:
            return None
        return Fairness(
            demographic_parity=float(np.mean([r.demographic_parity for r in runs])),
            equality_of_odds=float(np.mean([r.equality_of_odds for r in runs])),
            reference_demographic_parity=_mean_of_all([r.reference_demographic_parity for r in runs]),
            uar=float(np.mean([r.uar for r in runs])),
            trainings=len(runs),
        )

    def full_trainings(self, group: Group) -> set[str]:
        """The trainings a group should have: the expected grid's, else the task's, else those seen."""
        if self.expected is not None and group in self.expected:
            return self.expected[group]
        registered = registered_trainings(group[0])
        if registered is not None:
            return set(registered)
        seen = {run.training for (task, _, _), runs in self.runs.items() if task == group[0] for run in runs}
        seen |= {r["training"] for (task, _, _), recs in self.failed.items() if task == group[0] for r in recs}
        return seen


def group_order(board: Any) -> list[Group]:
    """A board's groups (a Board's or an attribute board's) in the tables' order: corpus, backbone, method."""
    return sorted(board.groups(), key=lambda g: (corpus_sort_key(g[0]), backbone_sort_key(g[2]), board.variant_key(g[1])))


def pretraining_overlap(board: Board, task: str) -> dict[str, list[str]]:
    """Backbone -> the corpora of ``task`` (itself, or a pooled task's sources) that its entry says
    it was pre-trained on: its scores on ``task`` are not on data it never saw."""
    corpora = {task, *registered_sources(task)}
    found = {}
    for upstream in board.backbones():
        spec = spec_of(upstream)
        overlap = spec.pretrained_on(corpora) if spec else []
        if overlap and any(g[0] == task and g[2] == upstream for g in board.groups()):
            found[upstream] = overlap
    return found


def _parse_label(label: str) -> tuple[str, str, str, str]:
    parts = label.split("/")
    if len(parts) != 4 or not all(parts):
        raise ValueError(f"expected cell label {label!r} is not upstream/variant/task/training")
    return parts[0], parts[1], parts[2], parts[3]


@dataclass
class Expected:
    """The expected grid: trainings per group, and which groups claim a configuration (cell key)."""

    groups: dict[Group, set[str]] = field(default_factory=lambda: defaultdict(set))
    claims: dict[str, list[Group]] = field(default_factory=lambda: defaultdict(list))


def _expected(cells: Iterable[Cell | dict | str], method_of: dict[str, str]) -> Expected:
    expected = Expected()
    for item in cells:
        if not isinstance(item, (Cell, dict, str)):
            raise TypeError(f"expected cells must be Cells, Cell dicts or labels, got {item!r}")
        if isinstance(item, dict):
            item = Cell.from_dict(item)
        key, classes = None, None
        if isinstance(item, Cell):
            method_of.setdefault(item.variant or item.method, item.method)
            key, classes, item = item.key, cell_classes(item), item.label
        # A bare label names the variant only: unless a record names its method, it is its own method.
        upstream, variant, task, training = _parse_label(item)
        task = label_set_group(task, classes)
        expected.groups[(task, variant, upstream)].add(training)
        if key is not None:
            expected.claims[key].append((task, variant, upstream))
    return expected


def _optional(value: Any) -> float | None:
    """A fairness value; None (or a NaN from an older record) means undefined."""
    return None if value is None or np.isnan(value) else float(value)


def _mean_of_all(values: Sequence[float | None]) -> float | None:
    """The mean, or None when any value is missing (a mean over fewer trainings would mix sets)."""
    return None if any(v is None for v in values) else float(np.mean(values))


def _run_from_record(record: dict, variant: str) -> Run:
    test = record["test"]
    return Run(
        task=record["task"], variant=variant, method=record["method"],
        upstream=record["upstream"], training=record["training"], key=str(record.get("key", "")),
        uar=float(test["uar"]), demographic_parity=_optional(test["demographic_parity"]),
        equality_of_odds=_optional(test["equality_of_odds"]), method_params=int(record["method_params"]),
        head_params=int(record["head_params"]), upstream_params=record.get("upstream_params"),
        notes=tuple(test.get("notes") or ()), cost=run_cost(record), record=record,
        reference_demographic_parity=_optional(test.get("reference_demographic_parity")),
    )


def collect(records: Iterable[dict], expected: Iterable[Cell | dict | str] | None = None) -> Board:
    """Sort records into (task, variant, upstream) groups against the expected cells.

    A record belongs to the expected cells with its key (its configuration), whatever variant name
    it was recorded under: grids share cells (the ablation's lora_r8 is the full grid's lora), so
    one training can count under several names. Other records keep their own group.
    """
    board = Board()
    grid = _expected(expected, board.method_of) if expected is not None else None
    for i, record in enumerate(records):
        problem = _record_problem(record)
        if problem:
            source = (record.get("path") or record.get("label")) if isinstance(record, dict) else None
            board.unreadable.append((str(source or f"record {i}"), problem))
            continue
        own = (label_set_group(record["task"], record.get("classes")), record.get("variant") or record["method"], record["upstream"])
        groups = grid.claims.get(str(record.get("key"))) if grid else None
        if not groups:
            groups = [own]
            board.method_of.setdefault(own[1], record["method"])
            if grid is not None and record["training"] not in grid.groups.get(own, ()):
                board.outside_expected.append(f"{own[2]}/{own[1]}/{own[0]}/{record['training']}")
        board.records[record["status"]] += 1
        if record["status"] == "failed":
            board.failed_records.append(record)
        for group in groups:
            if record["status"] == "ok":
                board.runs[group].append(_run_from_record(record, variant=group[1]))
            else:
                board.failed[group].append({**record, "variant": group[1]})
    if grid is not None:
        board.expected = dict(grid.groups)
    return board


# -- numbers -------------------------------------------------------------------------------------
def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (STD_DDOF)."""
    return float(np.mean(values)), float(np.std(values, ddof=STD_DDOF))


def families(tasks: Iterable[str]) -> dict[str, list[str]]:
    """Family -> the corpora its overall table needs (the paper's four, their synthetic four, others)."""
    present = defaultdict(set)
    for task in tasks:
        present[corpus_family(task)].add(task)
    families = {}
    if "paper" in present:
        families["paper"] = list(paper_corpora())
    if "synthetic" in present:
        families["synthetic"] = [twin(c) for c in paper_corpora()]
    if "other" in present:
        # Corpora with other label sets are averaged only with corpora of the same set.
        by_set: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for task in sorted(present["other"], key=corpus_sort_key):
            by_set[group_label_set(task)].append(task)
        for label_set, members in by_set.items():
            families["other" if len(by_set) == 1 else f"other: {', '.join(label_set)}"] = members
    return families


class _Titles(dict):
    def __missing__(self, family: str) -> str:  # "other: <label set>": other corpora of one label set
        return f"Other corpora ({family.partition(': ')[2]})"


FAMILY_TITLES = _Titles({
    "paper": "The paper's four corpora",
    "synthetic": "The four synthetic corpora",
    "other": "Other corpora",
})


@dataclass(frozen=True)
class Overall:
    """Mean of corpus means for one variant x backbone over a family's corpora."""

    corpus_means: dict[str, float]
    partial: bool  # some corpus mean is over fewer trainings than expected
    corpora: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return len(self.corpus_means) == len(self.corpora)

    def cell(self) -> str:
        if not self.complete:
            return f"incomplete ({len(self.corpus_means)}/{len(self.corpora)} corpora)"
        mean, std = mean_std(list(self.corpus_means.values()))
        return f"{mean:.2f} ± {std:.2f}" + (" †" if self.partial else "")


def overall(board: Board, variant: str, upstream: str, corpora: Sequence[str]) -> Overall:
    """The Table V statistic of one variant on one backbone over the given corpora."""
    means, partial = {}, False
    for task in corpora:
        runs = board.runs.get((task, variant, upstream), [])
        if runs:
            means[task] = float(np.mean([r.uar for r in runs]))
            partial |= len(runs) != len(board.full_trainings((task, variant, upstream)))
    return Overall(means, partial, tuple(corpora))
