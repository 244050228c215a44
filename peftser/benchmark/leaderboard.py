"""The leaderboard: markdown tables and PNG plots regenerated from the run records alone.

Tables follow the paper: UAR per corpus (methods x backbones), the overall Table V analogue,
gender fairness (Table VI), trainable parameters (Table IV) and the Section VI ablations. A
table never averages over missing trainings without saying so: cells show ``(k/n)`` when only k
of n trainings have a result, and missing, failed and unreadable records are listed.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter
from tabulate import tabulate

from peftser.benchmark.config import Cell
from peftser.files import atomic_write, write_text_atomic
from peftser.registry import TASKS

METHOD_ORDER = ("downstream", "adapter", "parallel_adapter", "embedding_prompt", "lora")
BACKBONE_ORDER = ("whisper_tiny", "whisper_base", "whisper_small", "wav2vec2_base", "wavlm_base_plus")
CORPUS_ORDER = ("iemocap", "msp_improv", "crema_d", "msp_podcast")
SYNTHETIC_PREFIX = "synthetic_"
# Population std: a corpus' trainings are the protocol's complete, fixed set of folds/seeds (and
# the overall table's corpora are the fixed four), not a sample; it also stays defined for n = 1.
STD_DDOF = 0
CHANCE_UAR = 25.0  # four classes
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")
LEADERBOARD = "leaderboard.md"


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
    """The paper's backbone order (``demo_`` names keep it), then others alphabetically."""
    return _ranked(name, BACKBONE_ORDER, "demo_")


def corpus_sort_key(name: str) -> tuple:
    """The paper's corpora in its order, then their synthetic analogues in that order, then others."""
    family = ("paper", "synthetic", "other").index(_corpus_family(name))
    base = name[len(SYNTHETIC_PREFIX):] if family == 1 else name
    return (family, CORPUS_ORDER.index(base) if family < 2 else 0, _natural_key(name))


# -- records -------------------------------------------------------------------------------------
_REQUIRED_OK = ("upstream", "method", "task", "training", "test.uar", "test.demographic_parity",
                "test.equality_of_odds", "method_params", "head_params")
_REQUIRED_FAILED = ("upstream", "method", "task", "training", "error")


def _field(record: dict, dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def _record_problem(record: Any) -> str | None:
    """Why a record cannot be used, or None."""
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    status = record.get("status")
    if status not in ("ok", "failed"):
        return str(record.get("error") or "unreadable") if status == "unreadable" else f"unknown status {status!r}"
    missing = []
    for name in _REQUIRED_OK if status == "ok" else _REQUIRED_FAILED:
        try:
            _field(record, name)
        except KeyError:
            missing.append(name)
    if missing:
        return f"{status} record without {', '.join(missing)}"
    if status == "ok" and not isinstance(record["test"]["uar"], (int, float)):
        return f"test.uar is {record['test']['uar']!r}, not a number"
    return None


def load_records(results_dir: str | Path) -> list[dict]:
    """Every run record under results_dir/records; unreadable files become {"status": "unreadable"} entries."""
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results directory {root} does not exist")
    records = []
    for path in sorted((root / "records").glob("**/*.json")):
        source = path.relative_to(root).as_posix()
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            problem = _record_problem(record)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            problem = f"cannot be read as JSON ({error})"
        if problem:
            warnings.warn(f"{path}: {problem}; listed in the leaderboard's notes", stacklevel=2)
            record = {"status": "unreadable", "path": source, "error": problem}
        records.append(record)
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

    @property
    def label(self) -> str:
        return f"{self.upstream}/{self.variant}/{self.task}/{self.training}"


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

    def full_trainings(self, group: Group) -> set[str]:
        """The trainings a group should have: the expected grid's, else the task's, else those seen."""
        if self.expected is not None and group in self.expected:
            return self.expected[group]
        registered = _registered_trainings(group[0])
        if registered is not None:
            return set(registered)
        seen = {run.training for (task, _, _), runs in self.runs.items() if task == group[0] for run in runs}
        seen |= {r["training"] for (task, _, _), recs in self.failed.items() if task == group[0] for r in recs}
        return seen


@lru_cache(maxsize=None)
def _registered_trainings(task: str) -> tuple[str, ...] | None:
    """A registered task's training names (class attribute, no data read), if the task is known."""
    if find_spec("peftser.downstream.tasks") is None:
        return None
    import_module("peftser.downstream.tasks")
    return tuple(TASKS.get(task).training_names) if task in TASKS else None


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
        key = None
        if isinstance(item, Cell):
            method_of.setdefault(item.variant or item.method, item.method)
            key, item = item.key, item.label
        # A bare label names the variant only: unless a record names its method, it is its own method.
        upstream, variant, task, training = _parse_label(item)
        expected.groups[(task, variant, upstream)].add(training)
        if key is not None:
            expected.claims[key].append((task, variant, upstream))
    return expected


def _optional(value: Any) -> float | None:
    """A fairness value; None (or a NaN from an older record) means undefined."""
    return None if value is None or np.isnan(value) else float(value)


def _run_from_record(record: dict, variant: str) -> Run:
    test = record["test"]
    return Run(
        task=record["task"], variant=variant, method=record["method"],
        upstream=record["upstream"], training=record["training"], key=str(record.get("key", "")),
        uar=float(test["uar"]), demographic_parity=_optional(test["demographic_parity"]),
        equality_of_odds=_optional(test["equality_of_odds"]), method_params=int(record["method_params"]),
        head_params=int(record["head_params"]), upstream_params=record.get("upstream_params"),
        notes=tuple(test.get("notes") or ()),
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
        own = (record["task"], record.get("variant") or record["method"], record["upstream"])
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
def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=STD_DDOF))


def _count(n: int, full: int) -> str:
    return "" if n == full else f" ({n}/{full})"


def _uar_cell(board: Board, group: Group) -> str:
    runs = board.runs.get(group, [])
    full = len(board.full_trainings(group))
    if not runs:
        return "–" + (f" (0/{full})" if full else "")
    mean, std = _mean_std([r.uar for r in runs])
    return f"{mean:.2f} ± {std:.2f}{_count(len(runs), full)}"


def _fairness_cell(board: Board, group: Group) -> str:
    runs = [r for r in board.runs.get(group, []) if r.demographic_parity is not None and r.equality_of_odds is not None]
    full = len(board.full_trainings(group))
    if not runs:
        return "–" + (f" (0/{full})" if full else "")
    dp = np.mean([r.demographic_parity for r in runs])
    eo = np.mean([r.equality_of_odds for r in runs])
    return f"{dp:.2f} / {eo:.2f}{_count(len(runs), full)}"


def _corpus_family(task: str) -> str:
    if task in CORPUS_ORDER:
        return "paper"
    if task.startswith(SYNTHETIC_PREFIX) and task[len(SYNTHETIC_PREFIX):] in CORPUS_ORDER:
        return "synthetic"
    return "other"


def _families(tasks: Iterable[str]) -> dict[str, list[str]]:
    """Family -> the corpora its overall table needs (the paper's four, their synthetic four, others)."""
    present = defaultdict(set)
    for task in tasks:
        present[_corpus_family(task)].add(task)
    families = {}
    if "paper" in present:
        families["paper"] = list(CORPUS_ORDER)
    if "synthetic" in present:
        families["synthetic"] = [SYNTHETIC_PREFIX + c for c in CORPUS_ORDER]
    if "other" in present:
        families["other"] = sorted(present["other"], key=corpus_sort_key)
    return families


FAMILY_TITLES = {
    "paper": "The paper's four corpora",
    "synthetic": "The four synthetic corpora",
    "other": "Other corpora",
}


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
        mean, std = _mean_std(list(self.corpus_means.values()))
        return f"{mean:.2f} ± {std:.2f}" + (" †" if self.partial else "")


def _overall(board: Board, variant: str, upstream: str, corpora: Sequence[str]) -> Overall:
    means, partial = {}, False
    for task in corpora:
        runs = board.runs.get((task, variant, upstream), [])
        if runs:
            means[task] = float(np.mean([r.uar for r in runs]))
            partial |= len(runs) != len(board.full_trainings((task, variant, upstream)))
    return Overall(means, partial, tuple(corpora))


def _format_params(values: Collection[int]) -> str:
    def one(n: int) -> str:
        if n >= 1e6:
            return f"{n / 1e6:.2f} M"
        if n >= 1e3:
            return f"{n / 1e3:.1f} k"
        return str(n)

    if not values:
        return "–"
    low, high = min(values), max(values)
    return one(low) if low == high else f"{one(low)} to {one(high)}"


# -- markdown ------------------------------------------------------------------------------------
def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _image(plots: Collection[str], name: str, caption: str) -> list[str]:
    return [f"![{caption}]({name})", ""] if name in plots else []


def _overall_section(board: Board) -> list[str]:
    variants, lines = board.main_variants(), ["## Overall UAR (Table V analogue)", ""]
    for family, corpora in _families(board.main_tasks()).items():
        backbones = board.backbones(variants)
        rows = [[v] + [_overall(board, v, b, corpora).cell() for b in backbones] for v in variants]
        lines += [f"### {FAMILY_TITLES[family]}", "", _table(["method"] + backbones, rows), ""]
        lines.append(
            f"Each cell: the mean over the {len(corpora)} corpora ({', '.join(corpora)}) of the corpus' mean test"
            f" UAR over its trainings, ± the population standard deviation (ddof={STD_DDOF}) of those"
            f" {len(corpora)} corpus means (the paper's Table V statistic). It is computed only when every"
            " corpus has results; otherwise the cell says how many corpora do."
        )
        if any(_overall(board, v, b, corpora).partial for v in variants for b in backbones):
            lines.append("† some corpus mean in this cell is over fewer trainings than expected"
                         " (see the per-corpus tables).")
        lines.append("")
    return lines


def _per_corpus_section(board: Board, plots: Collection[str]) -> list[str]:
    variants = board.main_variants()
    backbones = board.backbones(variants)
    lines = ["## UAR per corpus", ""]
    for task in board.main_tasks():
        rows = [[v] + [_uar_cell(board, (task, v, b)) for b in backbones] for v in variants]
        lines += [f"### {task}", "", _table(["method"] + backbones, rows), ""]
        lines += _image(plots, f"uar_by_backbone_{task}.png", f"UAR on {task} by backbone and method")
    lines += [
        f"Test UAR (%) at the epoch with the best dev UAR: mean ± population standard deviation"
        f" (numpy's default, ddof={STD_DDOF}) over the corpus' trainings, which are the protocol's fixed"
        " set of folds or seeds rather than a sample of them. (k/n): only k of the n expected trainings"
        " have a result; –: no result.",
        "",
    ]
    return lines


def _fairness_section(board: Board, plots: Collection[str]) -> list[str]:
    variants, tasks = board.main_variants(), board.main_tasks()
    lines = ["## Fairness by gender (Table VI analogue)", ""]
    for backbone in board.backbones(variants):
        rows = [[v] + [_fairness_cell(board, (t, v, backbone)) for t in tasks] for v in variants]
        lines += [f"### {backbone}", "", _table(["method"] + tasks, rows), ""]
    lines += [
        "Each cell: demographic parity / equality of odds (%, lower is fairer) on the test set, mean over"
        " the trainings where both genders are present; (k/n) as above.",
        "",
    ]
    return lines + _image(plots, "fairness_vs_uar.png", "Fairness against UAR")


def _params_section(board: Board, plots: Collection[str]) -> list[str]:
    variants = board.main_variants()
    peft = [v for v in variants if board.method_of.get(v, v) != "downstream"]
    rows = []
    for backbone in board.backbones(variants):
        runs = [r for (t, v, b), rs in board.runs.items() if b == backbone for r in rs]
        encoder = {r.upstream_params for r in runs if r.upstream_params is not None}
        row = [backbone, _format_params(encoder), _format_params({r.head_params for r in runs})]
        row += [_format_params({r.method_params for r in runs if r.variant == v}) for v in peft]
        rows.append(row)
    lines = ["## Trainable parameters (Table IV analogue)", ""]
    lines += [_table(["backbone", "encoder (frozen)", "downstream model"] + peft, rows), ""]
    lines += [
        "Method columns count the method's own parameters (method_params); the downstream model"
        " (head_params) trains with every method and adds to them, as in the paper's Table IV.",
        "",
    ]
    return lines + _image(plots, "uar_vs_params.png", "UAR against trainable parameters")


def _ablation_section(board: Board, plots: Collection[str]) -> list[str]:
    ablations = board.ablation_variants()
    if not ablations:
        return []
    lines = ["## Ablations (Section VI)", ""]
    for method, variants in ablations.items():
        tasks = sorted({g[0] for g in board.groups() if g[1] in variants}, key=corpus_sort_key)
        rows = []
        for backbone in board.backbones(variants):
            for v in variants:
                runs = [r for t in tasks for r in board.runs.get((t, v, backbone), [])]
                params = _format_params({r.method_params for r in runs})
                rows.append([backbone, v, params] + [_uar_cell(board, (t, v, backbone)) for t in tasks]
                            + [_overall(board, v, backbone, tasks).cell()])
        headers = ["backbone", "variant", "method params"] + tasks + ["mean over corpora"]
        lines += [f"### {method}", "", _table(headers, rows), ""]
        lines += _image(plots, f"ablation_{method}.png", f"Ablation of {method}")
    lines += [
        "UAR cells as in the per-corpus tables; the last column as in the overall table, over the corpora of"
        " this table.",
        "",
    ]
    return lines


def _first_line(text: str, limit: int = 300) -> str:
    """The error's first line (the full text and traceback stay in the record)."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = lines[0] + (" [...]" if len(lines) > 1 else "") if lines else "(no error message)"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _missing(board: Board) -> list[str]:
    """One line per group with missing trainings; a corpus or backbone without any record in one line."""
    lines = []
    for task in board.tasks():
        groups = [g for g in board.groups() if g[0] == task]
        empty = {g for g in groups if not board.runs.get(g) and not board.failed.get(g) and board.full_trainings(g)}
        if len(groups) > 1 and empty == set(groups):
            lines.append(f"- {task}: no record at all ({len(groups)} method/backbone groups)")
            continue
        for backbone in sorted({g[2] for g in groups}, key=backbone_sort_key):
            of_backbone = sorted((g for g in groups if g[2] == backbone), key=lambda g: board.variant_key(g[1]))
            if len(of_backbone) > 1 and empty >= set(of_backbone):
                lines.append(f"- {backbone}/{task}: no record for any of its {len(of_backbone)} methods/variants")
                continue
            for group in of_backbone:
                missing = board.missing_trainings(group)
                if missing:
                    full = len(board.full_trainings(group))
                    lines.append(f"- {backbone}/{group[1]}/{task}: {len(missing)} of {full}: {', '.join(missing)}")
    return lines


def _problems_section(board: Board) -> list[str]:
    lines = ["## Missing, failed and unreadable records", ""]
    missing = _missing(board)
    failed = board.failed_records
    lines.append("Missing (expected trainings without a record):" if missing else "Missing: none.")
    lines += missing + [""]
    if failed:
        lines.append(f"Failed ({len(failed)}; full traceback in records/<task>/<key>.json):")
        for record in sorted(failed, key=lambda r: (corpus_sort_key(r["task"]), str(r.get("label", "")))):
            variant = record.get("variant") or record["method"]
            label = f"{record['upstream']}/{variant}/{record['task']}/{record['training']}"
            lines.append(f"- {label} (key {record.get('key', '?')}): {_first_line(record['error'])}")
    else:
        lines.append("Failed: none.")
    lines.append("")
    if board.unreadable:
        lines.append(f"Unreadable records ({len(board.unreadable)}), left out of every table:")
        lines += [f"- {source}: {problem}" for source, problem in board.unreadable]
        lines.append("")
    if board.outside_expected:
        lines.append(f"Records outside the expected grid ({len(board.outside_expected)}), included in the tables:")
        lines += [f"- {label}" for label in board.outside_expected]
        lines.append("")
    duplicates = _duplicates(board)
    if duplicates:
        lines.append("Trainings recorded more than once (configurations that differ under one variant name;"
                     " each record counts in the tables, give them distinct variant names):")
        lines += [f"- {label}: keys {', '.join(keys)}" for label, keys in duplicates.items()]
        lines.append("")
    return lines


def _duplicates(board: Board) -> dict[str, list[str]]:
    keys = defaultdict(list)
    for runs in board.runs.values():
        for run in runs:
            keys[run.label].append(run.key)
    return {label: k for label, k in sorted(keys.items()) if len(k) > 1}


def _notes_section(board: Board, limit: int = 5) -> list[str]:
    by_note = defaultdict(list)
    for runs in board.runs.values():
        for run in runs:
            for note in run.notes:
                by_note[note].append(run.label)
    if not by_note:
        return []
    lines = ["## Notes from the test metrics", ""]
    for note, labels in sorted(by_note.items()):
        shown = ", ".join(sorted(labels)[:limit]) + (f" and {len(labels) - limit} more" if len(labels) > limit else "")
        lines.append(f"- {note} ({len(labels)} training(s): {shown})")
    return lines + [""]


def _summary(board: Board) -> list[str]:
    n_ok, n_failed = board.records["ok"], board.records["failed"]
    n_missing = sum(len(board.missing_trainings(g)) for g in board.groups())
    text = (f"Regenerated from the run records alone: {n_ok} ok, {n_failed} failed, {len(board.unreadable)} unreadable;"
            f" {n_missing} expected training(s) without a record.")
    if n_failed or n_missing or board.unreadable:
        text += " See \"Missing, failed and unreadable records\" below."
    scope = "All metrics are in percent, on the test set at the epoch with the best dev UAR."
    return ["# Leaderboard", "", text, scope, ""]


def _render(board: Board, footnotes: Sequence[str], plots: Collection[str]) -> str:
    lines = _summary(board)
    if board.main_variants():  # an ablation-only directory has no Table IV-VI analogue
        lines += _overall_section(board)
        lines += _per_corpus_section(board, plots)
        lines += _fairness_section(board, plots)
        lines += _params_section(board, plots)
    lines += _ablation_section(board, plots)
    lines += _problems_section(board)
    lines += _notes_section(board)
    if footnotes:
        lines += ["## Footnotes: deviations from the paper", ""]
        lines += [f"{i}. {note}" for i, note in enumerate(footnotes, 1)] + [""]
    return "\n".join(lines).rstrip() + "\n"


def build_leaderboard(
    records: Iterable[dict],
    *,
    expected: Iterable[Cell | dict | str] | None = None,
    footnotes: Sequence[str] | None = None,
    plots: Collection[str] = (),
) -> str:
    """The leaderboard markdown; ``expected`` (Cells, Cell dicts or labels) reveals missing cells."""
    return _render(collect(records, expected), footnotes or (), set(plots))


# -- plots ---------------------------------------------------------------------------------------
def _colors(names: Sequence[str]) -> dict[str, tuple]:
    palette = colormaps["tab10"].colors
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def _save(fig: Figure, path: Path) -> None:
    # Atomic, like every file the harness writes: a reader never sees half a PNG.
    atomic_write(path, lambda handle: fig.savefig(handle, dpi=120, format="png"))


def _plot_uar_by_backbone(board: Board, task: str, path: Path) -> bool:
    variants = [v for v in board.main_variants() if any(g[0] == task and g[1] == v for g in board.runs)]
    backbones = [b for b in board.backbones(variants) if any(board.runs.get((task, v, b)) for v in variants)]
    if not variants or not backbones:
        return False
    colors = _colors(board.main_variants())
    fig = Figure(figsize=(max(6.0, 1.5 * len(backbones) + 2.5), 4.5), layout="constrained")
    ax = fig.add_subplot()
    x, width = np.arange(len(backbones)), 0.8 / len(variants)
    for i, variant in enumerate(variants):
        stats = [_mean_std([r.uar for r in board.runs[(task, variant, b)]]) if board.runs.get((task, variant, b))
                 else (np.nan, np.nan) for b in backbones]
        ax.bar(x + (i - (len(variants) - 1) / 2) * width, [s[0] for s in stats], width,
               yerr=[s[1] for s in stats], capsize=2, label=variant, color=colors[variant])
    ax.axhline(CHANCE_UAR, color="grey", linestyle=":", label="chance (25 %)")
    ax.set_xticks(x, backbones, rotation=15, ha="right")
    ax.set_ylabel("test UAR (%)")
    ax.set_title(f"{task}: UAR by backbone and method (mean ± std over trainings)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    return True


def _plot_uar_vs_params(board: Board, path: Path) -> bool:
    families = _families(board.tasks())
    variants = board.main_variants() + [v for vs in board.ablation_variants().values() for v in vs]
    methods = sorted({board.method_of.get(v, v) for v in variants}, key=method_sort_key)
    colors, backbones = _colors(methods), board.backbones()
    markers = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(backbones)}
    fig = Figure(figsize=(6.0 * len(families) + 3.0, 5), layout="constrained")
    axes = fig.subplots(1, len(families), squeeze=False)[0]
    plotted = False
    count_format = EngFormatter(sep="")  # 2.37M, 210k: readable even when the axis spans under a decade
    for ax, (family, corpora) in zip(axes, families.items()):
        for variant in variants:
            for backbone in backbones:
                overall = _overall(board, variant, backbone, corpora)
                runs = [r for t in corpora for r in board.runs.get((t, variant, backbone), [])]
                if not runs:
                    continue
                color = colors[board.method_of.get(variant, variant)]
                full = overall.complete and not overall.partial
                ax.scatter(np.mean([r.method_params + r.head_params for r in runs]),
                           np.mean(list(overall.corpus_means.values())), marker=markers[backbone], s=50,
                           facecolors=color if full else "none", edgecolors=color)
                plotted = True
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(count_format)
        ax.xaxis.set_minor_formatter(count_format)
        ax.tick_params(axis="x", which="both", labelrotation=45)
        ax.set_xlabel("trainable parameters (method + downstream model, log scale)")
        ax.set_ylabel("UAR (%), mean of corpus means")
        ax.set_title(FAMILY_TITLES[family])
    fig.suptitle("UAR against trainable parameters (one point per method configuration and backbone)")
    handles = [Line2D([], [], linestyle="", marker="o", color=colors[m], label=m) for m in methods]
    handles += [Line2D([], [], linestyle="", marker=markers[b], color="black", label=b) for b in backbones]
    handles.append(Line2D([], [], linestyle="", marker="o", markerfacecolor="none", color="grey",
                          label="hollow: some corpus or training missing"))
    axes[-1].legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if plotted:
        _save(fig, path)
    return plotted


def _plot_fairness_vs_uar(board: Board, path: Path) -> bool:
    variants = board.main_variants()
    colors, backbones = _colors(variants), board.backbones(variants)
    markers = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(backbones)}
    fig = Figure(figsize=(12, 5), layout="constrained")
    axes = fig.subplots(1, 2)
    plotted = False
    metrics = {"demographic_parity": "demographic parity", "equality_of_odds": "equality of odds"}
    for ax, (metric, title) in zip(axes, metrics.items()):
        for (task, variant, backbone), runs in board.runs.items():
            defined = [r for r in runs if getattr(r, metric) is not None]
            if variant not in colors or not defined:
                continue
            ax.scatter(np.mean([r.uar for r in defined]), np.mean([getattr(r, metric) for r in defined]),
                       color=colors[variant], marker=markers[backbone], s=40, alpha=0.8)
            plotted = True
        ax.set_xlabel("test UAR (%)")
        ax.set_ylabel(f"{title} (%), lower is fairer")
        ax.set_title(title.capitalize())
    handles = [Line2D([], [], linestyle="", marker="o", color=colors[v], label=v) for v in variants]
    handles += [Line2D([], [], linestyle="", marker=markers[b], color="black", label=b) for b in backbones]
    axes[1].legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Gender fairness against UAR: one point per corpus, method and backbone (mean over trainings)")
    if plotted:
        _save(fig, path)
    return plotted


def _plot_ablation(board: Board, method: str, variants: Sequence[str], path: Path) -> bool:
    tasks = [t for t in board.tasks() if any(board.runs.get((t, v, b)) for v in variants for b in board.backbones())]
    if not tasks:
        return False
    backbones = board.backbones(variants)
    colors = _colors(backbones)
    ncols = min(len(tasks), 2)
    nrows = -(-len(tasks) // ncols)
    fig = Figure(figsize=(5.5 * ncols + 1.5, 4.0 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(tasks):]:
        ax.set_visible(False)
    x = np.arange(len(variants))
    for ax, task in zip(axes, tasks):
        for backbone in backbones:
            stats = [_mean_std([r.uar for r in board.runs[(task, v, backbone)]]) if board.runs.get((task, v, backbone))
                     else (np.nan, np.nan) for v in variants]
            ax.errorbar(x, [s[0] for s in stats], yerr=[s[1] for s in stats], marker="o", capsize=3,
                        color=colors[backbone], label=backbone)
        ax.set_xticks(x, variants, rotation=15, ha="right")
        ax.set_xlabel(f"{method} configuration")
        ax.set_ylabel("test UAR (%)")
        ax.set_title(task)
    axes[ncols - 1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"Ablation of {method}: UAR by configuration (mean ± std over trainings)")
    _save(fig, path)
    return True


def write_plots(board: Board, directory: Path) -> list[str]:
    """Draw every plot the records allow into directory; the file names written."""
    written = []

    def keep(name: str, drawn: bool) -> None:
        if drawn:
            written.append(name)

    for task in board.tasks():
        name = f"uar_by_backbone_{task}.png"
        keep(name, _plot_uar_by_backbone(board, task, directory / name))
    keep("uar_vs_params.png", bool(board.runs) and _plot_uar_vs_params(board, directory / "uar_vs_params.png"))
    keep("fairness_vs_uar.png", bool(board.runs) and _plot_fairness_vs_uar(board, directory / "fairness_vs_uar.png"))
    for method, variants in board.ablation_variants().items():
        name = f"ablation_{method}.png"
        keep(name, _plot_ablation(board, method, variants, directory / name))
    return written


# -- entry points --------------------------------------------------------------------------------
def write_leaderboard(
    results_dir: str | Path,
    *,
    expected_cells: Iterable[Cell | dict | str] | None = None,
    footnotes: Sequence[str] | None = None,
) -> Path:
    """Regenerate results_dir/leaderboard.md and its PNG plots from the records; the markdown's path."""
    root = Path(results_dir)
    return _write(root, load_records(root), expected_cells, footnotes)


def _write(root: Path, records: list[dict], expected_cells: Iterable[Cell | dict | str] | None,
           footnotes: Sequence[str] | None) -> Path:
    board = collect(records, expected_cells)
    plots = write_plots(board, root)
    path = root / LEADERBOARD
    write_text_atomic(path, _render(board, footnotes or (), set(plots)))
    return path


def main(args: Any) -> int:
    """CLI: ``run_benchmark.py --leaderboard [--results DIR]``; args.results is the directory.

    The grids that ran into DIR (its grids.json) give the expected cells and footnotes, so the
    regenerated leaderboard is the one the grid run wrote at its end.
    """
    from peftser.benchmark.store import ResultStore
    from peftser.files import check_writable_dir

    root = Path(getattr(args, "results", None) or "results")
    if not (root / "records").is_dir():
        with_records = sorted(str(p.parent) for p in root.glob("*/records/")) if root.is_dir() else []
        hint = f"; directories with records: {', '.join(with_records)}" if with_records else ""
        print(f"error: {root} holds no run records (no {root / 'records'}){hint}", file=sys.stderr)
        return 2
    check_writable_dir(root, "the results folder (leaderboard.md and its plots)")
    records = load_records(root)
    grids = ResultStore(root).grids()
    cells = [c for grid in grids for c in grid.cells()]
    footnotes = list(dict.fromkeys(note for grid in grids for note in grid.footnotes()))
    path = _write(root, records, [c.to_dict() for c in cells] or None, footnotes)
    expected = f"expected cells from grid(s) {', '.join(g.name for g in grids)}" if grids else "no grid ran here: no expected cells"
    print(f"wrote {path} ({len(records)} records; {expected})")
    return 0
