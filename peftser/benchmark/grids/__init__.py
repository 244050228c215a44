"""Grids: YAML files naming upstreams, methods (with arguments), tasks and training overrides.

Every ``*.yaml`` beside this module is registered in ``GRIDS`` under its file stem (``full``,
``ablation``, ``demo``); ``load_grid`` also takes the path of a user's own file. The shape::

    name: full
    description: one paragraph
    deviations: [where this grid departs from the paper; printed as leaderboard footnotes]
    upstreams:           # each a name or {upstream: NAME, args: {...}}
      - whisper_tiny
    methods:             # each a name or {method: NAME, variant: LABEL, args: {...}}
      - downstream
      - {method: lora, args: {rank: 8}}
    tasks:               # each a name or {task: NAME, args: {...}, trainings: [fold1, ...]}
      - iemocap
    train: {}            # TrainConfig overrides; the paper's values otherwise
    evaluate:            # beyond the paper: every trained cell scored again (peftser.benchmark.evaluation)
      cross_corpus: true
      noise: {snr_db: [20, 10, 5, 0], types: [white, speech_shaped]}

A task's trainings default to the registered Task class' ``training_names`` (no data is read).
A grid is the product upstreams x methods x tasks x trainings.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from peftser.benchmark.checks import check_method_args, check_override_types, check_train_ranges
from peftser.benchmark.cell import Cell
from peftser.benchmark.config import TrainConfig
from peftser.benchmark.grids.error import GridError
from peftser.benchmark.grids.loader import GridLoader, capped
from peftser.benchmark.grids.only import ONLY_KEYS, filter_cells, parse_only  # noqa: F401  (the grid's --only, re-exported)
from peftser.benchmark.evaluation import EvaluateError, EvaluateSpec, Evaluation, check_transfer, evaluations
from peftser.registry import GRIDS, METHODS, TASKS, UPSTREAMS, Registry, load_builtins

GRID_DIR = Path(__file__).resolve().parent
_TOP_KEYS = ("name", "description", "deviations", "upstreams", "methods", "tasks", "train", "evaluate")


@dataclass(frozen=True)
class UpstreamEntry:
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MethodEntry:
    method: str
    variant: str = ""  # label that tells two configurations of one method apart
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.variant or self.method


@dataclass(frozen=True)
class TaskEntry:
    name: str
    trainings: tuple[str, ...]
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Grid:
    """A parsed, validated grid; ``cells()`` expands it."""

    name: str
    upstreams: tuple[UpstreamEntry, ...]
    methods: tuple[MethodEntry, ...]
    tasks: tuple[TaskEntry, ...]
    train: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    deviations: tuple[str, ...] = ()
    source: str = ""
    evaluate: EvaluateSpec = EvaluateSpec()

    def evaluations(self, cells: Sequence[Cell]) -> list[Evaluation]:
        """The evaluations the grid's ``evaluate`` section asks of ``cells`` (some of its own)."""
        return evaluations(self.evaluate, list(cells), {t.name: dict(t.args) for t in self.tasks})

    def cells(self, only: Sequence[str] = ()) -> list[Cell]:
        """Every cell, upstream-major, narrowed by ``--only KEY=VALUE`` filters."""
        cells = [
            Cell(
                upstream=up.name,
                method=m.method,
                task=task.name,
                training=training,
                method_args=dict(m.args),
                upstream_args=dict(up.args),
                task_args=dict(task.args),
                train=dict(self.train),
                variant=m.variant,
            )
            for up in self.upstreams
            for m in self.methods
            for task in self.tasks
            for training in task.trainings
        ]
        return filter_cells(cells, only)

    def to_dict(self) -> dict[str, Any]:
        """The grid as plain data (JSON), everything ``cells()`` and ``footnotes()`` need."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Grid":
        """The grid ``to_dict`` gave, as it was: names are not looked up again (a TypeError when an
        entry's args are not a mapping or its trainings not a list of names)."""
        for kind, entry in [("upstream", u) for u in d["upstreams"]] + [("method", m) for m in d["methods"]] + [
            ("task", t) for t in d["tasks"]
        ]:
            _check_stored_entry(kind, entry)
        return cls(
            name=d["name"],
            upstreams=tuple(UpstreamEntry(**u) for u in d["upstreams"]),
            methods=tuple(MethodEntry(**m) for m in d["methods"]),
            tasks=tuple(TaskEntry(t["name"], tuple(t["trainings"]), t.get("args") or {}) for t in d["tasks"]),
            train=dict(d.get("train") or {}),
            description=d.get("description", ""),
            deviations=tuple(d.get("deviations") or ()),
            source=d.get("source", ""),
            evaluate=EvaluateSpec.from_stored(d.get("evaluate")),
        )

    def footnotes(self) -> list[str]:
        """The stated deviations plus every training option that differs from the paper's value."""
        changed = TrainConfig.from_dict(self.train).departures()
        notes = list(self.deviations)
        if changed:
            notes.append(f"Grid {self.name!r} trains with " + ", ".join(changed) + ".")
        return notes


def _check_stored_entry(kind: str, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise TypeError(f"a {kind} is {entry!r}, not a mapping")
    name = entry.get("name", entry.get("method"))
    if not isinstance(entry.get("args") or {}, dict):
        raise TypeError(f"{kind} {name!r}: args is {entry['args']!r}, not a mapping")
    trainings = entry.get("trainings", [])
    if not isinstance(trainings, list) or not all(isinstance(t, str) for t in trainings):
        raise TypeError(f"{kind} {name!r}: trainings is {trainings!r}, not a list of names")


def check_path_name(value: Any, what: str) -> str:
    """``value`` when it can name a folder or file in the results directory: one path component
    (no separator, not ``.`` or ``..``); a GridError saying which name otherwise."""
    if not isinstance(value, str) or not value or value in (".", "..") or any(c in value for c in "/\\\0"):
        raise GridError(f"{what} {value!r} must be one folder name (no '/', '\\' or '..'): results are written under it")
    return value


def with_train(grid: Grid, train: dict[str, Any]) -> Grid:
    """``grid`` with training overrides (--epochs, --precision) applied to every cell, checked first
    (a GridError), so that a bad override is refused before anything is written."""
    merged = {**grid.train, **train}
    try:
        TrainConfig.from_dict(merged)
        check_train_ranges(merged)
    except (ValueError, TypeError) as exc:
        raise GridError(f"grid {grid.name!r}: {exc}") from None
    return dataclasses.replace(grid, train=merged)


# -- loading ---------------------------------------------------------------------------------------
def load_grid(name_or_path: str | Path) -> Grid:
    """A registered grid by name, or a user's YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise GridError(f"grid file {path} does not exist")
        return parse_grid(path)
    load_builtins()
    try:
        entry = GRIDS.get(str(name_or_path))
    except KeyError as exc:
        raise GridError(f"{exc.args[0]} (or pass the path of a .yaml grid file)") from None
    if isinstance(entry, Grid):
        check_path_name(entry.name, f"grid {name_or_path}: name")
        for m in entry.methods:
            check_path_name(m.label, f"grid {name_or_path}: method variant")
        return entry
    grid = parse_grid(Path(entry))
    if Path(entry).parent == GRID_DIR:  # a packaged grid: named within the package, not by a machine's path
        grid = dataclasses.replace(grid, source=f"peftser/benchmark/grids/{Path(entry).name}")
    return grid


def parse_grid(path: Path) -> Grid:
    """Read and validate one grid file; every error names the file and the offending entry."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=GridLoader)
    except yaml.YAMLError as exc:
        raise GridError(capped(f"grid file {path} is not valid YAML: {exc}")) from None
    except GridError as exc:
        raise GridError(f"grid file {path}: {exc}") from None
    try:
        return _grid_from_dict(data, default_name=path.stem, source=str(path))
    except GridError as exc:
        raise GridError(capped(f"grid file {path}: {exc}")) from None


def _grid_from_dict(data: Any, *, default_name: str, source: str) -> Grid:
    if not isinstance(data, dict):
        raise GridError("the top level must be a mapping with upstreams, methods and tasks")
    _check_keys(data, _TOP_KEYS, "the top level")
    missing = [k for k in ("upstreams", "methods", "tasks") if not data.get(k)]
    if missing:
        raise GridError(f"missing or empty {', '.join(missing)}")
    load_builtins()
    train = data.get("train") or {}
    try:
        TrainConfig.from_dict(train)
        check_train_ranges(train)
    except (ValueError, TypeError) as exc:
        raise GridError(f"train: {exc}") from None
    deviations = data.get("deviations") or []
    if not isinstance(deviations, list) or not all(isinstance(d, str) for d in deviations):
        raise GridError("deviations must be a list of strings")
    grid = Grid(
        name=check_path_name(str(data.get("name") or default_name), "name"),
        description=str(data.get("description") or "").strip(),
        deviations=tuple(d.strip() for d in deviations),
        upstreams=tuple(_upstream_entry(item) for item in _as_list(data, "upstreams")),
        methods=tuple(_method_entry(item) for item in _as_list(data, "methods")),
        tasks=tuple(_task_entry(item) for item in _as_list(data, "tasks")),
        train=dict(train),
        source=source,
        evaluate=_evaluate(data.get("evaluate")),
    )
    _check_unique(grid)
    if grid.evaluate.cross_corpus:
        try:
            check_transfer([TASKS.get(t.name) for t in grid.tasks], [TASKS.get(t.name).classes_for(t.args) for t in grid.tasks])
        except EvaluateError as exc:
            raise GridError(str(exc)) from None
    return grid


def _evaluate(data: Any) -> EvaluateSpec:
    try:
        return EvaluateSpec.parse(data)
    except EvaluateError as exc:
        raise GridError(str(exc)) from None


def _as_list(data: dict, key: str) -> list:
    value = data[key]
    if not isinstance(value, list):
        raise GridError(f"{key} must be a list, got {type(value).__name__}")
    return value


def _check_keys(item: dict, allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        raise GridError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(allowed)}")


def _entry_fields(item: Any, kind: str, allowed: Sequence[str]) -> dict[str, Any]:
    """A list item given as a bare name or as a mapping, normalised to a mapping."""
    if isinstance(item, str):
        return {kind: item}
    if not isinstance(item, dict) or not isinstance(item.get(kind), str):
        raise GridError(f"each of the {kind}s must be a name or a mapping with '{kind}: NAME', got {item!r}")
    _check_keys(item, allowed, f"{kind} {item[kind]!r}")
    args = item.get("args") or {}
    if not isinstance(args, dict):
        raise GridError(f"{kind} {item[kind]!r}: args must be a mapping, got {args!r}")
    return item


def _registered(registry: Registry, name: str) -> Any:
    try:
        return registry.get(name)
    except KeyError as exc:
        raise GridError(exc.args[0]) from None


def _upstream_entry(item: Any) -> UpstreamEntry:
    fields_ = _entry_fields(item, "upstream", ("upstream", "args"))
    from peftser.upstream import FAMILY_CONFIGS, UpstreamSpec, check_upstream_args

    entry = _registered(UPSTREAMS, fields_["upstream"])
    args = dict(fields_.get("args") or {})
    try:
        check_upstream_args(fields_["upstream"], args)
    except ValueError as exc:
        raise GridError(str(exc)) from None
    if isinstance(entry, UpstreamSpec):
        try:
            check_override_types(FAMILY_CONFIGS[entry.family], args)
        except ValueError as exc:
            raise GridError(f"upstream {fields_['upstream']!r}: {exc}") from None
    return UpstreamEntry(fields_["upstream"], args)


def _method_entry(item: Any) -> MethodEntry:
    fields_ = _entry_fields(item, "method", ("method", "variant", "args"))
    name, args = fields_["method"], dict(fields_.get("args") or {})
    method_class = _registered(METHODS, name)
    entry = f"method {name!r}" + (f" (variant {fields_['variant']!r})" if fields_.get("variant") else "")
    # A misspelt argument or a bad value would otherwise fail in every cell of the method.
    from_args = getattr(method_class, "from_args", None)
    if from_args is not None:
        try:
            from_args(**args)
            check_method_args(method_class, args)
        except (TypeError, ValueError) as exc:
            raise GridError(f"{entry}: {exc}") from None
    variant = str(fields_.get("variant") or "")
    if variant:
        check_path_name(variant, f"{entry}: variant")
    return MethodEntry(name, variant, args)


def _task_entry(item: Any) -> TaskEntry:
    fields_ = _entry_fields(item, "task", ("task", "args", "trainings"))
    name = fields_["task"]
    task_class = _registered(TASKS, name)
    known = tuple(getattr(task_class, "training_names", ()))
    if not known:
        raise GridError(f"task {name!r} is registered without training_names")
    if "trainings" in fields_ and not fields_["trainings"]:
        raise GridError(f"task {name!r}: trainings is empty; leave it out for all of {', '.join(known)}")
    trainings = fields_.get("trainings") or list(known)
    if not isinstance(trainings, list) or len(set(trainings)) != len(trainings):
        raise GridError(f"task {name!r}: trainings must be a list without repeats, got {trainings!r}")
    unknown = [t for t in trainings if t not in known]
    if unknown:
        raise GridError(f"task {name!r} has no training(s) {unknown}; it has {', '.join(known)}")
    args = dict(fields_.get("args") or {})
    check_options = getattr(task_class, "check_options", None)
    if check_options is not None:
        try:
            check_options(args)
        except ValueError as exc:
            raise GridError(str(exc)) from None
    return TaskEntry(name, tuple(trainings), args)


def _check_unique(grid: Grid) -> None:
    # Two entries with one label would make their records indistinguishable in the leaderboard.
    for kind, labels in (
        ("upstream", [u.name for u in grid.upstreams]),
        ("method variant", [m.label for m in grid.methods]),
        ("task", [t.name for t in grid.tasks]),
    ):
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            hint = " (give each configuration its own 'variant')" if kind == "method variant" else ""
            raise GridError(f"{kind} {repeated[0]!r} is listed twice{hint}")
    # Two labels for one configuration would be one cell (one key) under two names; compared with
    # every default filled in, as the cell key is ({rank: 8} is LoRA's default configuration).
    seen: dict[str, str] = {}
    for m in grid.methods:
        config = json.dumps([m.method, _resolved_args(m)], sort_keys=True, default=str)
        if config in seen:
            raise GridError(f"method variants {seen[config]!r} and {m.label!r} configure {m.method!r} identically")
        seen[config] = m.label


def _resolved_args(m: MethodEntry) -> dict[str, Any]:
    method_class = METHODS.get(m.method)
    try:
        return method_class.from_args(**m.args).args()
    except (AttributeError, TypeError, ValueError):  # a plugin method without the Method contract
        return m.args


def _register_packaged_grids() -> None:
    for path in sorted(GRID_DIR.glob("*.yaml")):
        # A Path, not a str: the registry reads strings as lazy "module:object" references.
        GRIDS.register(path.stem, path)


_register_packaged_grids()
