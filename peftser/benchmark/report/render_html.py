"""The leaderboard as a web page (index.html): one static file that opens from the file system.

The page computes nothing. It embeds the text of leaderboard.json as it was written and, per
(upstream, variant, task), each training's own figures from its record (test and dev metrics, the
confusion matrix and dev UAR per epoch, or an attribute training's CCC, r and RMSE per dimension
and dev mean CCC per epoch; cost, deviations); its scripts only lay them out. The scripts and the
style are this package's ``web/`` files, inlined, so the page needs no server and no network, and
its Content-Security-Policy allows exactly those (by hash) and the run's PNGs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path
from typing import Any

from peftser.benchmark.report.attributes import AttributeBoard
from peftser.benchmark.report.board import Board, _natural_key, corpus_sort_key, group_order
from peftser.benchmark.report.cost import run_cost
from peftser.benchmark.report.render import _first_line, notes_section, problems_section  # the markdown's own
from peftser.benchmark.report.render_evaluations import evaluation_problems
from peftser.downstream.task import EMOTIONS
from peftser.files import write_text_atomic

PAGE = "index.html"
WEB = files("peftser.benchmark.report") / "web"
METRICS = ("uar", "acc", "macro_f1", "demographic_parity", "equality_of_odds", "n")
ATTRIBUTE_METRICS = ("ccc", "r", "rmse", "ccc_gap", "rmse_gap")  # each per dimension
# Each its own <script> in the template, in this order: the building blocks, then the attribute
# sections (which the last one calls), then the leaderboard's.
SCRIPTS = ("blocks.js", "attributes.js", "leaderboard.js")


def script_json(data: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: ``<``, ``>`` and ``&`` written as
    ``\\u003c`` ``\\u003e`` ``\\u0026`` (they only occur inside strings, where JSON.parse reads them
    back), so no string of the data can close the block or start markup."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _number(value: Any) -> float | None:
    """A metric, None when undefined (a NaN in an older record)."""
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def _metrics(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(metrics, dict):
        return None
    kept = {name: _number(metrics.get(name)) for name in METRICS}
    return {**kept, "confusion": metrics.get("confusion"), "notes": list(metrics.get("notes") or ())}


def _attribute_metrics(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    """An attribute split's metrics: each per dimension, the mean CCC, the count and the notes."""
    if not isinstance(metrics, dict):
        return None
    per_dimension = {name: {str(d): _number(v) for d, v in (metrics.get(name) or {}).items()} for name in ATTRIBUTE_METRICS}
    return {**per_dimension, "mean_ccc": _number(metrics.get("mean_ccc")), "n": _number(metrics.get("n")),
            "notes": list(metrics.get("notes") or ())}


def _classes(record: dict[str, Any], size: int) -> list[str]:
    """The confusion matrix's class names, in its order (the record's own list when it has one)."""
    named = record.get("classes")
    if isinstance(named, list) and len(named) == size:
        return [str(c) for c in named]
    return list(EMOTIONS) if size == len(EMOTIONS) else [f"class {i}" for i in range(size)]


def _evaluations(evaluations: Any, record: dict[str, Any], task: str) -> dict[str, Any]:
    """This training's scores beyond the paper (UAR, or an attribute cell's mean CCC) on each other
    corpus and under each noise; ``task`` is its task as the evaluations name it."""
    training = record["training"]
    if not evaluations:
        return {"transfer": [], "noise": []}
    side = (record["upstream"], record.get("variant") or record["method"], task)
    transfer = sorted(([key[3], scores[training]] for key, scores in evaluations.transfer.items()
                       if key[:3] == side and training in scores), key=lambda t: corpus_sort_key(t[0]))
    noise = [[key[3], key[4], scores[training]] for key, scores in evaluations.noise.items()
             if key[:3] == side and training in scores]
    return {"transfer": transfer, "noise": noise}


def _training(record: dict[str, Any], evaluations: Any, task: str, rated: bool) -> dict[str, Any]:
    """One training of a drill-down: what its record says, as the page shows it. An attribute
    (``rated``) training's metrics are per dimension (its classes are its dimensions), its history
    dev mean CCC."""
    metrics = _attribute_metrics if rated else _metrics
    test = metrics(record.get("test")) or {}
    classes = ([str(c) for c in record.get("classes") or test.get("ccc") or ()] if rated
               else _classes(record, len(test.get("confusion") or [])))
    score = "dev_mean_ccc" if rated else "dev_uar"
    cell = record.get("cell") or {}
    return {
        "training": record["training"], "key": str(record.get("key", "")), "test": test or None,
        "dev": metrics(record.get("dev")), "classes": classes, "best_epoch": record.get("best_epoch"),
        "history": [[h.get("epoch"), _number(h.get(score))] for h in record.get("history") or ()],
        "cost": asdict(run_cost(record)),
        "method_params": int(record["method_params"]), "head_params": int(record["head_params"]),
        "upstream_params": record.get("upstream_params"),
        "deviations": [str(d) for d in record.get("deviations") or ()],
        "skipped": record.get("skipped") or {},
        "config": {name: cell.get(name) or {} for name in ("method_args", "upstream_args", "task_args", "train")},
        **_evaluations(evaluations, record, task),
    }


def _cell(group: tuple[str, str, str], method: str, records: list[dict], failed: list[dict], missing: list[str],
          evaluations: Any, rated: bool = False) -> dict[str, Any]:
    """One (upstream, variant, task) of a drill-down: its trainings, failed trainings and missing ones.
    The evaluations name an attribute training by its group's task (with its dimensions), a UAR one
    by its record's."""
    trainings = sorted(records, key=lambda r: r["training"])
    return {
        "upstream": group[2], "variant": group[1], "method": method, "task": group[0],
        "trainings": [_training(r, evaluations, group[0] if rated else r["task"], rated) for r in trainings],
        "failed": [{"training": r["training"], "key": r.get("key"), "error": _first_line(r.get("error") or "")}
                   for r in failed],
        "missing": missing,
    }


def drilldown(board: Board) -> list[dict[str, Any]]:
    """Per (upstream, variant, task) of the board: its trainings, failed trainings and missing ones."""
    return [_cell(g, board.method_of.get(g[1], g[1]), [r.record for r in board.runs.get(g, [])], board.failed.get(g, []),
                  board.missing_trainings(g), board.evaluations) for g in group_order(board)]


def attribute_drilldown(board: AttributeBoard | None) -> list[dict[str, Any]]:
    """The same per (upstream, variant, task) of the attribute board (its task as the tables name it)."""
    if not board:
        return []
    cells = []
    for group in group_order(board):
        runs, failed = board.runs.get(group, []), board.failed.get(group, [])
        recorded = {r.training for r in runs} | {r["training"] for r in failed}
        missing = sorted(board.expected.get(group, set()) - recorded, key=_natural_key)
        cells.append(_cell(group, board.method_of.get(group[1], group[1]), [r.record for r in runs], failed, missing,
                           board.evaluations, rated=True))
    return cells


def page_data(board: Board, footnotes: Sequence[str], plots: Collection[str], title: str,
              expected_rule: str | None = None) -> dict[str, Any]:
    """What the page shows beside leaderboard.json: footnotes, problems, plots and the drill-down."""
    problems = problems_section(board)[2:] + notes_section(board)
    if board.evaluations:
        problems += evaluation_problems(board.evaluations)
    if board.attributes and board.attributes.evaluations:
        problems += evaluation_problems(board.attributes.evaluations, "Attribute evaluations not in the tables")
    return {
        "title": title, "expected_rule": expected_rule or "", "footnotes": list(footnotes),
        "problems": [line for line in problems if line], "plots": sorted(plots), "cells": drilldown(board),
        "attribute_cells": attribute_drilldown(board.attributes),
    }


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def render_page(leaderboard_json: str, data: dict[str, Any]) -> str:
    """The page: the template with the style, both data blocks and the scripts filled in."""
    style = (WEB / "leaderboard.css").read_text()
    scripts = {name: (WEB / name).read_text() for name in SCRIPTS}
    parts = {
        "policy": (f"default-src 'none'; script-src {' '.join(map(_csp_hash, scripts.values()))}; "
                   f"style-src {_csp_hash(style)}; img-src 'self' file:; base-uri 'none'; form-action 'none'"),
        "style": style, **{name.replace(".", "_"): text for name, text in scripts.items()},
        "leaderboard": script_json(json.loads(leaderboard_json)), "page": script_json(data),
    }
    # One pass over the template: an inserted part is never scanned for another marker.
    return re.sub(r"@@(\w+)@@", lambda m: parts[m.group(1)], (WEB / "index.html").read_text())


def write_page(root: Path, leaderboard_json: str, board: Board, footnotes: Sequence[str], plots: Collection[str],
               expected_rule: str | None = None) -> Path:
    """Write root/index.html from the leaderboard.json text just written and the board it came from."""
    data = page_data(board, footnotes, plots, f"Leaderboard: {root.resolve().name}", expected_rule)
    return write_text_atomic(root / PAGE, render_page(leaderboard_json, data))
