"""The run record: one JSON object per cell, ok or failed. Its builders, its one validator, its one reader.

Every module that makes, keeps or reads records goes through here: the training builds ok
records, the scheduler and the Slurm tasks failed ones, the store writes them where they belong
(``records/<task>/<key>.json``), and the store, the board and the Slurm follower read them back.
An evaluation of a trained cell (peftser.benchmark.evaluation) has a record of the same shape,
told apart by its ``evaluation`` field and kept under ``evaluations/<task>/<key>.json``: its
``results`` hold one entry per condition scored (a transfer corpus; clean and each noise and SNR),
each with its metrics and per-utterance predictions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from peftser.benchmark.machine import machine_info

if TYPE_CHECKING:
    from peftser.benchmark.cell import Cell
    from peftser.benchmark.evaluation import Evaluation

STATUSES = ("ok", "failed")
# What each status must hold, as dotted paths, and what each may be: the contract the tables rely on.
_TEXT, _COUNT, _NUMBER, _OPTIONAL_NUMBER = "a non-empty string", "a whole number >= 0", "a finite number", "a finite number or null"
# UAR, accuracy, macro F1 and both fairness gaps are percentages: a value outside [0, 100] cannot
# be measured, and averaged it would move a mean or a paired delta by any amount.
_PERCENT, _OPTIONAL_PERCENT = "a percentage from 0 to 100", "a percentage from 0 to 100 or null"
FIELDS = {
    "ok": {
        "upstream": _TEXT, "method": _TEXT, "task": _TEXT, "training": _TEXT,
        "test.uar": _PERCENT, "test.demographic_parity": _OPTIONAL_PERCENT, "test.equality_of_odds": _OPTIONAL_PERCENT,
        "method_params": _COUNT, "head_params": _COUNT, "key": _TEXT,
    },
    "failed": {"upstream": _TEXT, "method": _TEXT, "task": _TEXT, "training": _TEXT, "error": _TEXT, "key": _TEXT},
}
# An attribute task's record (``"kind": "attributes"``) carries CCC where a categorical one has UAR.
ATTRIBUTE_FIELDS = {
    "upstream": _TEXT, "method": _TEXT, "task": _TEXT, "training": _TEXT, "test.mean_ccc": _OPTIONAL_NUMBER,
    "test.ccc": "a mapping", "predictions": "a list", "method_params": _COUNT, "head_params": _COUNT, "key": _TEXT,
}
# reference_demographic_parity: absent from records written before it was computed.
OPTIONAL = {"variant": _TEXT, "upstream_params": _COUNT, "test.notes": "a list of strings",
            "test.acc": _PERCENT, "test.macro_f1": _PERCENT, "dev.uar": _PERCENT,
            "test.reference_demographic_parity": _OPTIONAL_PERCENT}
# What a model card reads of an ok record beyond the contract above.
CARD_FIELDS = {"label": _TEXT, "test.acc": _PERCENT, "test.macro_f1": _PERCENT}
ATTRIBUTE_CARD_FIELDS = {"label": _TEXT}  # an attribute record's CCC, r and RMSE are its contract's (ATTRIBUTE_FIELDS)
_RESULTS = "a non-empty list of results, each with test.uar (a percentage from 0 to 100) and predictions"
_RATED_RESULTS = "a non-empty list of results, each with test.mean_ccc (a finite number or null), test.ccc and predictions"
EVALUATION_FIELDS = {
    "ok": {"upstream": _TEXT, "method": _TEXT, "task": _TEXT, "training": _TEXT, "key": _TEXT,
           "evaluation.kind": _TEXT, "source.key": _TEXT, "results": _RESULTS},
    "failed": {"upstream": _TEXT, "method": _TEXT, "task": _TEXT, "training": _TEXT, "key": _TEXT,
               "evaluation.kind": _TEXT, "source.key": _TEXT, "error": _TEXT},
}
# An ok record's ``cost`` (what the training cost: memory, throughput, arithmetic). Records written
# before it was measured have none, and stay valid; a record that has it has all of it, well formed.
_POSITIVE, _NON_NEGATIVE, _OPTIONAL_NON_NEGATIVE, _OPTIONAL_TEXT = (
    "a finite number > 0", "a finite number >= 0", "a finite number >= 0 or null", "a non-empty string or null")
COST = {
    "peak_memory_mb": _OPTIONAL_NON_NEGATIVE, "peak_memory_measure": _OPTIONAL_TEXT,
    "train_clips": _COUNT, "train_seconds": _POSITIVE, "train_clips_per_s": _POSITIVE,
    "train_gflop": _NON_NEGATIVE, "achieved_gflops": _NON_NEGATIVE, "bound_gflops": _POSITIVE,
    "share_of_bound": _NON_NEGATIVE,
}


class CorruptRecordError(ValueError):
    """A record file that cannot be used; the message names the file and what is wrong."""


# -- builders --------------------------------------------------------------------------------------
def ok_record(cell: "Cell", **fields: Any) -> dict[str, Any]:
    """An ok run record: the cell's identity, then what the training measured."""
    return {"status": "ok", **cell.identity(), **fields}


def evaluation_record(evaluation: "Evaluation", **fields: Any) -> dict[str, Any]:
    """An ok evaluation record: the evaluation's identity, then what it scored."""
    return {"status": "ok", **evaluation.identity(), **fields}


def failed_record(cell: "Cell | Evaluation", error: str, trace: str, *, device: str, wall_time_s: float) -> dict[str, Any]:
    """A failed run record (of a cell or an evaluation): its identity, the error and its traceback, no metrics."""
    return {
        "status": "failed",
        **cell.identity(),
        "error": error,
        "traceback": trace,
        "wall_time_s": wall_time_s,
        "device": device,
        "machine": machine_info(device),  # without torch's fields where this process has not imported it
    }


# -- the validator ---------------------------------------------------------------------------------
def _field(record: dict, dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def _fits(value: Any, kind: str) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == _TEXT:
        return isinstance(value, str) and bool(value)
    if kind == _COUNT:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == _NUMBER:
        return number and math.isfinite(value)
    if kind == _OPTIONAL_NUMBER:
        return value is None or (number and math.isfinite(value))
    if kind in (_PERCENT, _OPTIONAL_PERCENT):
        return (value is None and kind == _OPTIONAL_PERCENT) or (number and 0.0 <= value <= 100.0)
    if kind in (_RESULTS, _RATED_RESULTS):
        return isinstance(value, list) and bool(value) and all(_result_problem(r, kind == _RATED_RESULTS) is None for r in value)
    if kind in (_POSITIVE, _NON_NEGATIVE, _OPTIONAL_NON_NEGATIVE):
        if value is None:
            return kind == _OPTIONAL_NON_NEGATIVE
        return number and math.isfinite(value) and (value > 0 if kind == _POSITIVE else value >= 0)
    if kind == _OPTIONAL_TEXT:
        return value is None or (isinstance(value, str) and bool(value))
    if kind == "a mapping":
        return isinstance(value, dict)
    if kind == "a list":
        return isinstance(value, list)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _result_problem(result: Any, rated: bool = False) -> str | None:
    """Why one result of an evaluation record cannot be tabulated, or None: its UAR a percentage (an
    attribute cell's: its mean CCC a number or null, its CCC per dimension a mapping), its
    predictions a list, its condition a test corpus or a noise at an SNR (None when clean)."""
    from peftser.benchmark.checks import SNR_DB

    if not isinstance(result, dict):
        return f"is {type(result).__name__}, not an object"
    test = result["test"] if isinstance(result.get("test"), dict) else {}
    if rated and not _fits(test.get("mean_ccc"), _OPTIONAL_NUMBER):
        return f"test.mean_ccc is {_short(test.get('mean_ccc'))}, not {_OPTIONAL_NUMBER}"
    if rated and not isinstance(test.get("ccc"), dict):
        return f"test.ccc is {_short(test.get('ccc'))}, not a mapping"
    if not rated and not (_fits(test.get("uar"), _NUMBER) and 0 <= test["uar"] <= 100):
        return f"test.uar is {_short(test.get('uar'))}, not a percentage in [0, 100]"
    if not isinstance(result.get("predictions"), list):
        return "has no list of predictions"
    condition = result.get("condition")
    if isinstance(condition, dict) and set(condition) == {"test_task"} and _fits(condition["test_task"], _TEXT):
        return None
    if not (isinstance(condition, dict) and set(condition) == {"noise", "snr_db"} and _fits(condition["noise"], _TEXT)):
        return f"condition is {_short(condition)}, not {{test_task}} or {{noise, snr_db}}"
    snr = condition["snr_db"]
    if (snr is None) != (condition["noise"] == "clean") or (snr is not None and not SNR_DB.accepts(snr)):
        return f"condition.snr_db is {_short(snr)}, not {SNR_DB.describe()} (null when clean)"
    return None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def is_evaluation(record: dict) -> bool:
    """Whether a record is an evaluation's rather than a training's."""
    return "evaluation" in record


def problem(record: Any, cell: "Cell | Evaluation | None" = None) -> str | None:
    """Why ``record`` breaks the record contract (of ``cell``, a Cell or an Evaluation, when given), or None."""
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    status = record.get("status")
    if status not in STATUSES:
        return f"status is {status!r}, not one of {', '.join(STATUSES)}"
    if cell is not None and is_evaluation(record) != (getattr(cell, "folder", "records") != "records"):
        return f"an {'evaluation' if is_evaluation(record) else 'training'} record for {cell.label}"
    missing = []
    required = (EVALUATION_FIELDS if is_evaluation(record) else FIELDS)[status]
    if status == "ok" and record.get("kind") == "attributes":
        required = {**required, "results": _RATED_RESULTS} if is_evaluation(record) else ATTRIBUTE_FIELDS
    for name, kind in required.items():
        try:
            value = _field(record, name)
        except KeyError:
            missing.append(name)
            continue
        if kind in (_RESULTS, _RATED_RESULTS) and isinstance(value, list) and value:  # say which result, not the whole list
            why = next(((i, w) for i, r in enumerate(value) if (w := _result_problem(r, kind == _RATED_RESULTS))), None)
            if why:
                return f"results[{why[0]}] {why[1]}"
        if not _fits(value, kind):
            return f"{name} is {_short(value)}, not {kind}"
    if missing:
        return f"{status} record without {', '.join(missing)}"
    for name, kind in OPTIONAL.items():
        try:
            value = _field(record, name)
        except KeyError:
            continue
        if value is not None and not _fits(value, kind):
            return f"{name} is {value!r}, not {kind}"
    if status == "ok" and "cost" in record:
        why = _cost_problem(record["cost"])
        if why:
            return why
    if cell is not None:
        for name, expected in (("key", cell.key), ("task", cell.task)):
            if record[name] != expected:
                return f"{name} is {record[name]!r}, expected {expected!r} for {cell.label}"
    return None


def _cost_problem(cost: Any) -> str | None:
    """Why an ok record's ``cost`` is malformed, or None."""
    if not isinstance(cost, dict):
        return f"cost is {cost!r}, not an object"
    missing = [name for name in COST if name not in cost]
    if missing:
        return f"cost without {', '.join(missing)}"
    for name, kind in COST.items():
        if not _fits(cost[name], kind):
            return f"cost.{name} is {cost[name]!r}, not {kind}"
    return None


def fields_problem(record: dict, fields: dict[str, str]) -> str | None:
    """Why ``record`` lacks one of ``fields`` (dotted path -> kind, as in FIELDS) or holds one of
    another kind, or None: for a reader that uses more of a record than the contract requires."""
    for name, kind in fields.items():
        try:
            value = _field(record, name)
        except KeyError:
            return f"no {name}"
        if not _fits(value, kind):
            return f"{name} is {value!r}, not {kind}"
    return None


# -- the reader ------------------------------------------------------------------------------------
def _load(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the record, None), or (None, why the file is not one)."""
    if not path.is_file():  # a folder or a FIFO named *.json: reading it could hang
        return None, "is not a regular file"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"cannot be read as JSON ({exc})"
    why = problem(record)
    return (None, why) if why else (record, None)


def read_record(path: str | Path) -> dict[str, Any]:
    """One record file; CorruptRecordError names the file when it is not a valid record."""
    record, why = _load(Path(path))
    if why:
        raise CorruptRecordError(f"run record {path}: {why}")
    return record


class Entry(NamedTuple):
    """One file under ``records/``: its path relative to the results directory, and its record or why not."""

    path: str
    record: dict[str, Any] | None
    problem: str | None


def read_records(results_dir: str | Path, folder: str = "records") -> list[Entry]:
    """Every ``*.json`` file under results_dir/<folder> (``records``, or ``evaluations``), in path
    order, read once; a record of the other kind there is an entry with a problem.

    One record per key counts: a copy (``K (copy).json``, ``records/T/backup/K.json``) of a key
    already read is an entry with a problem that names the file kept, so it is reported, not
    counted twice. The record at its own place (``<folder>/<task>/<key>.json``) is the one kept.
    """
    root = Path(results_dir)
    entries = []
    for path in sorted((root / folder).glob("**/*.json")):
        entry = Entry(path.relative_to(root).as_posix(), *_load(path))
        if entry.record is not None and is_evaluation(entry.record) != (folder != "records"):
            entry = Entry(entry.path, None, f"an {'evaluation' if folder == 'records' else 'training'} record in {folder}/")
        entries.append(entry)
    return _one_per_key(entries, folder)


def _one_per_key(entries: list[Entry], folder: str) -> list[Entry]:
    def own_place(entry: Entry) -> bool:
        return entry.path == f"{folder}/{entry.record['task']}/{entry.record['key']}.json"

    kept: dict[str, Entry] = {}
    for entry in entries:
        if entry.record is None:
            continue
        key = entry.record["key"]
        if key not in kept or (own_place(entry) and not own_place(kept[key])):
            kept[key] = entry
    out = []
    for entry in entries:
        if entry.record is not None and kept[entry.record["key"]] is not entry:
            entry = Entry(entry.path, None, f"a second record of cell {entry.record['key']} (counted once, from {kept[entry.record['key']].path})")
        out.append(entry)
    return out
