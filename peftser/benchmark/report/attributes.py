"""The leaderboard's attribute section: CCC per dimension of the attribute tasks, never mixed with UAR.

Attribute records (``"kind": "attributes"``) and the expected cells of attribute tasks are kept out
of the categorical board (``split``) and collected here into (task, variant, upstream) groups.
Tables give the test CCC per dimension as mean +- std over trainings (population std, as the UAR
tables); the paired comparisons of each method with the baseline on the same backbone use the
UAR tables' machinery (``paired.compare``: stratified bootstrap, sign-flip test, Holm per table).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tabulate import tabulate

from peftser.benchmark.cell import Cell
from peftser.benchmark.report.board import (
    _natural_key,
    backbone_sort_key,
    corpus_sort_key,
    group_order,
    mean_std,
    method_sort_key,
)
from peftser.benchmark.report.cost import RunCost, cost_rows, run_cost
from peftser.benchmark.report.paired import Metric, statistics_settings, table
from peftser.benchmark.report.render_paired import section
from peftser.downstream.tasks.attributes import is_attribute_task
from peftser.registry import TASKS

Group = tuple[str, str, str]  # (task, variant, upstream)
MEAN_CCC = Metric("mean_ccc", "mean CCC", lower_is_better=False, unit="CCC units")


def _is_attribute_record(record: Any) -> bool:
    if not isinstance(record, dict) or record.get("status") == "unreadable":
        return False
    return record.get("kind") == "attributes" or is_attribute_task(str(record.get("task", "")))


def _cell_of(item: Cell | dict | str) -> Cell | None:
    return Cell.from_dict(item) if isinstance(item, dict) else item if isinstance(item, Cell) else None


def split(records: Iterable[dict], expected: Iterable[Cell | dict | str] | None):
    """((categorical records, their expected cells), (attribute records, their expected cells));
    expected stays None when it was None. A label (str) is an attribute cell when its task is one."""
    records = list(records)
    cells = None if expected is None else list(expected)

    def rated(item) -> bool:
        cell = _cell_of(item)
        task = cell.task if cell else str(item).split("/")[2] if str(item).count("/") == 3 else ""
        return is_attribute_task(task)

    mine = [r for r in records if _is_attribute_record(r)]
    theirs = [r for r in records if not _is_attribute_record(r)]
    if cells is None:
        return (theirs, None), (mine, None)
    return (theirs, [c for c in cells if not rated(c)]), (mine, [c for c in cells if rated(c)])


@dataclass(frozen=True)
class AttributeRun:
    """One successful attribute training: its test metrics per dimension."""

    task: str
    variant: str
    upstream: str
    training: str
    test: dict[str, Any]
    key: str = ""  # the cell's
    cost: RunCost | None = None  # what it cost (the cost table's figures)
    # The record itself, for the web page's drill-down (its dev metrics, history, cost, deviations).
    record: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def value(self, name: str) -> float | None:
        """``mean_ccc`` or ``<metric>:<dimension>`` (e.g. ``ccc:arousal``)."""
        if ":" not in name:
            return self.test.get(name)
        metric, dim = name.split(":", 1)
        return (self.test.get(metric) or {}).get(dim)


@dataclass
class AttributeBoard:
    """Attribute records in (task, variant, upstream) groups, with the expected trainings."""

    runs: dict[Group, list[AttributeRun]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[Group, list[dict]] = field(default_factory=lambda: defaultdict(list))  # the failed records
    expected: dict[Group, set[str]] = field(default_factory=lambda: defaultdict(set))
    dimensions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # task -> its dimensions
    method_of: dict[str, str] = field(default_factory=dict)
    # Beyond the paper: the attribute cells' transfer and noise scores (report.attribute_evaluations).
    evaluations: Any = None

    def __bool__(self) -> bool:
        return bool(self.runs or self.failed or self.expected)

    def groups(self) -> set[Group]:
        return set(self.runs) | set(self.failed) | set(self.expected)

    def tasks(self) -> list[str]:
        return sorted({g[0] for g in self.groups()}, key=corpus_sort_key)

    def variants(self) -> list[str]:
        return sorted({g[1] for g in self.groups()}, key=self.variant_key)

    def variant_key(self, variant: str) -> tuple:
        """The paper's method order, then the variant's name (digit runs as numbers)."""
        return (method_sort_key(self.method_of.get(variant, variant)), _natural_key(variant))

    def backbones(self) -> list[str]:
        return sorted({g[2] for g in self.groups()}, key=backbone_sort_key)

    def trainings(self, group: Group) -> int:
        """Expected trainings of a group (those recorded when nothing was expected)."""
        return len(self.expected.get(group) or {r.training for r in self.runs.get(group, [])})

    def values(self, group: Group, name: str) -> list[float]:
        return [v for r in self.runs.get(group, []) if (v := r.value(name)) is not None]


def task_label(task: str, dims: Sequence[str] | None) -> str:
    """The task, or "task (valence)" when trained on fewer dimensions than the task has."""
    if dims is None or not is_attribute_task(task) or tuple(dims) == tuple(TASKS.get(task).classes_for({})):
        return task
    return f"{task} ({', '.join(dims)})"


def collect_attributes(records: Iterable[dict], expected: Iterable[Cell | dict | str] | None = None) -> AttributeBoard:
    """The attribute board of records (attribute ones only) against the expected attribute cells."""
    board = AttributeBoard()
    for item in expected or ():
        cell = _cell_of(item)
        if cell is None:
            continue
        dims = TASKS.get(cell.task).classes_for(dict(cell.task_args))
        group = (task_label(cell.task, dims), cell.variant or cell.method, cell.upstream)
        board.expected[group].add(cell.training)
        board.method_of.setdefault(group[1], cell.method)
        board.dimensions.setdefault(group[0], tuple(dims))
    for record in records:
        variant = record.get("variant") or record["method"]
        board.method_of.setdefault(variant, record["method"])
        task = task_label(record["task"], record.get("classes"))
        group = (task, variant, record["upstream"])
        if record.get("status") != "ok":
            board.failed[group].append(record)
            continue
        board.dimensions.setdefault(task, tuple(record["test"]["ccc"]))
        board.runs[group].append(AttributeRun(task, variant, record["upstream"], record["training"], record["test"],
                                              key=record.get("key", ""), cost=run_cost(record), record=record))
    return board


@dataclass(frozen=True)
class AttributeSide:
    """One variant on one backbone of the attribute board, as ``paired.compare`` takes a side."""

    board: AttributeBoard
    upstream: str
    variant: str
    source: str = ""  # its results directory, when two are compared

    def values(self, metric: Metric, tasks: Iterable[str]) -> dict[tuple[str, str], float]:
        found = defaultdict(list)
        for task in tasks:
            for run in self.board.runs.get((task, self.variant, self.upstream), []):
                value = run.value(metric.name)
                if value is not None:
                    found[(task, run.training)].append(value)
        return {unit: float(np.mean(v)) for unit, v in found.items()}

    def has_runs(self) -> bool:
        """Whether the side has any successful training."""
        return any(self.board.runs.get((task, self.variant, self.upstream)) for task in self.board.tasks())

    def describe(self) -> dict[str, str]:
        """The side as JSON fields (those of a categorical side)."""
        return {"upstream": self.upstream, "variant": self.variant, **({"results": self.source} if self.source else {})}


def _dimension_metrics(*boards: AttributeBoard) -> tuple[Metric, ...]:
    dims = list(dict.fromkeys(d for board in boards for task in board.tasks() for d in board.dimensions.get(task, ())))
    return (MEAN_CCC, *(Metric(f"ccc:{d}", f"CCC {d}", lower_is_better=False, unit="CCC units") for d in dims))


def ccc_tables(pairs: Sequence, boards: Sequence[AttributeBoard], headers: tuple[str, ...] = ("backbone", "method"),
               per_task: str = "Mean CCC per task vs baseline"):
    """(overall table over the attribute tasks of ``boards``, per-task table titled ``per_task``) of
    the pairs (row, method side, baseline side): mean CCC and CCC per dimension, paired by (task, training)."""
    tasks = sorted({t for board in boards for t in board.tasks()}, key=corpus_sort_key)
    overall = table("Mean CCC, the attribute tasks", headers, pairs, _dimension_metrics(*boards), [("attribute tasks", tasks)])
    return overall, table(per_task, headers, pairs, (MEAN_CCC,), [(t, (t,)) for t in tasks])


def paired_tables(board: AttributeBoard, baseline: str):
    """(overall table over the attribute tasks, per-task table) of each variant vs ``baseline``; None without pairs."""
    variants = [v for v in board.variants() if v != baseline and board.method_of.get(v, v) == v]
    if baseline not in board.variants() or not variants:
        return None
    pairs = [((b, v), AttributeSide(board, b, v), AttributeSide(board, b, baseline))
             for b in board.backbones() for v in variants]
    return ccc_tables(pairs, [board])


def _cell(values: Sequence[float], digits: int = 3) -> str:
    if not values:
        return "–"
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _task_table(board: AttributeBoard, task: str) -> str:
    dims = board.dimensions.get(task, ())
    headers = ["backbone", "method", *(f"CCC {d}" for d in dims), "mean CCC", *(f"RMSE {d}" for d in dims),
               "CCC gap (mean)", "trainings"]
    rows = []
    for upstream in board.backbones():
        for variant in board.variants():
            group = (task, variant, upstream)
            if group not in board.groups():
                continue
            gaps = [float(np.mean(g)) for r in board.runs.get(group, [])
                    if (g := [v for v in r.test.get("ccc_gap", {}).values() if v is not None])]
            rows.append([upstream, variant, *(_cell(board.values(group, f"ccc:{d}")) for d in dims),
                         _cell(board.values(group, "mean_ccc")), *(_cell(board.values(group, f"rmse:{d}")) for d in dims),
                         _cell(gaps), f"{len(board.runs.get(group, []))}/{board.trainings(group)}"
                         + (f", {len(board.failed[group])} failed" if board.failed.get(group) else "")])
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def overview(board: AttributeBoard) -> list[tuple[str, str, list[list[float]]]]:
    """Per backbone and variant with some training: the test mean CCCs of its trainings on each task
    (in ``board.tasks()`` order), the figures of the "Mean CCC per task" table."""
    rows = []
    for upstream in board.backbones():
        for variant in board.variants():
            means = [board.values((t, variant, upstream), "mean_ccc") for t in board.tasks()]
            if any(means):
                rows.append((upstream, variant, means))
    return rows


def _overview_table(board: AttributeBoard) -> str:
    """Mean test CCC (over the dimensions) per task, mean over trainings, and its mean over the tasks."""
    rows = []
    for upstream, variant, means in overview(board):
        task_means = [float(np.mean(v)) for v in means if v]
        overall = _cell(task_means) if len(task_means) == len(means) else "–"
        rows.append([upstream, variant, *(_cell(v) for v in means), overall])
    return tabulate(rows, headers=["backbone", "method", *board.tasks(), "mean ± std over tasks"], tablefmt="github",
                    disable_numparse=True)


def _overview_json(board: AttributeBoard) -> list[dict[str, Any]]:
    """The overview as leaderboard.json's ``attributes.overall`` (the shape of the UAR ``overall``
    rows): each task's mean over trainings, and their mean ± std when every task has one."""
    rows = []
    for upstream, variant, means in overview(board):
        task_means = {t: float(np.mean(v)) for t, v in zip(board.tasks(), means) if v}
        spread = mean_std(list(task_means.values())) if len(task_means) == len(means) else None
        rows.append({"upstream": upstream, "variant": variant, "method": board.method_of.get(variant, variant),
                     "corpora": board.tasks(), "corpus_means": task_means, "mean": None if spread is None else spread[0],
                     "std": None if spread is None else spread[1], "complete": spread is not None})
    return rows


def record_counts(board: AttributeBoard) -> dict[str, int]:
    """The attribute trainings with an ok record, with a failed one, and expected without a record."""
    missing = sum(max(0, board.trainings(g) - len(board.runs.get(g, [])) - len(board.failed.get(g, [])))
                  for g in board.groups())
    return {"ok": sum(len(r) for r in board.runs.values()), "failed": sum(len(f) for f in board.failed.values()),
            "missing": missing}


def ccc_plot_name(task: str) -> str:
    """The file name of an attribute task's mean-CCC chart (plots_attributes draws it)."""
    return f"attributes_ccc_by_backbone_{task}.png"


def attribute_section(board: AttributeBoard, baseline: str, plots: Collection[str] = ()) -> list[str]:
    """Markdown lines of the attribute section (nothing when the board has no attribute cell);
    ``plots`` are the image files written beside the markdown."""
    if not board:
        return []
    counts = record_counts(board)
    lines = ["## Emotional attributes (CCC, not UAR)", "",
             f"Attribute tasks: {counts['ok']} ok, {counts['failed']} failed, {counts['missing']} expected training(s) "
             "without a record. Test CCC (concordance correlation coefficient) per dimension, mean ± std over "
             "trainings, at the epoch with the best mean dev CCC; RMSE on each corpus' own rating scale; the CCC "
             "gap is |CCC(female) − CCC(male)| averaged over the dimensions (lower is fairer). These numbers are "
             "never averaged with any UAR table.", ""]
    lines += ["### Mean CCC per task", "", "Mean CCC over the dimensions, mean ± std over trainings; the last "
              "column is the mean ± std of the task means.", "", _overview_table(board), ""]
    for task in board.tasks():
        lines += [f"### {task}", "", _task_table(board, task), ""]
        if ccc_plot_name(task) in plots:
            lines += [f"![mean CCC on {task} by backbone and method]({ccc_plot_name(task)})", ""]
    tables = paired_tables(board, baseline)
    if tables is None:
        lines += [f"No paired CCC comparison: the baseline {baseline!r} has no attribute records here, "
                  "or it is the only method.", ""]
    else:
        lines += ["Δ below is in CCC units (not points of percent).", ""]
        lines += section([tables[0]], tables[1], baseline)
    return lines


def attributes_json(board: AttributeBoard, baseline: str) -> dict[str, Any] | None:
    """leaderboard.json's ``attributes`` entry: per group each metric's mean and std, and the paired tables."""
    if not board:
        return None
    groups = []
    for task, variant, upstream in group_order(board):  # the UAR groups' order: the paper's methods first
        group = (task, variant, upstream)
        entry = {"task": task, "variant": variant, "method": board.method_of.get(variant, variant), "upstream": upstream,
                 "trainings": len(board.runs.get(group, [])), "expected": board.trainings(group),
                 "failed": len(board.failed.get(group, []))}
        for name in ["mean_ccc", *(f"{m}:{d}" for m in ("ccc", "r", "rmse", "ccc_gap", "rmse_gap")
                                   for d in board.dimensions.get(task, ()))]:
            values = board.values(group, name)
            entry[name] = None if not values else dict(zip(("mean", "std"), mean_std(values)))
        groups.append(entry)
    tables = paired_tables(board, baseline)
    return {"records": record_counts(board),
            "metrics": "CCC, Pearson r (unitless) and RMSE (corpus scale) on the test set at the epoch with the best "
                       "mean dev CCC; gaps |female - male|",
            "groups": groups, "overall": _overview_json(board), "baseline": baseline,
            "paired": None if tables is None else [t.to_dict() for t in tables], "statistics": statistics_settings(),
            "cost": [row.to_dict() for row in cost_rows(board)]}
