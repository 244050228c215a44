"""The leaderboard as a web page (index.html): one static file that opens from the file system.

The page computes nothing. It embeds the text of leaderboard.json as it was written and, per
(upstream, variant, task), each training's own figures from its record (test and dev metrics, the
confusion matrix, dev UAR per epoch, cost, deviations); its script only lays them out. The script
and the style are this package's ``web/`` files, inlined, so the page needs no server and no network,
and its Content-Security-Policy allows exactly those two (by hash) and the run's PNGs.
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

from peftser.benchmark.report.board import Board, Run, backbone_sort_key, corpus_sort_key
from peftser.benchmark.report.render import _first_line, notes_section, problems_section  # the markdown's own
from peftser.benchmark.report.render_evaluations import evaluation_problems
from peftser.downstream.task import EMOTIONS
from peftser.files import write_text_atomic

PAGE = "index.html"
WEB = files("peftser.benchmark.report") / "web"
METRICS = ("uar", "acc", "macro_f1", "demographic_parity", "equality_of_odds", "n")


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


def _classes(record: dict[str, Any], size: int) -> list[str]:
    """The confusion matrix's class names, in its order (the record's own list when it has one)."""
    named = record.get("classes")
    if isinstance(named, list) and len(named) == size:
        return [str(c) for c in named]
    return list(EMOTIONS) if size == len(EMOTIONS) else [f"class {i}" for i in range(size)]


def _evaluations(board: Board, record: dict[str, Any]) -> dict[str, Any]:
    """This training's scores beyond the paper: UAR on each other corpus, and under each noise."""
    evaluations, training = board.evaluations, record["training"]
    if not evaluations:
        return {"transfer": [], "noise": []}
    side = (record["upstream"], record.get("variant") or record["method"], record["task"])
    transfer = sorted(([key[3], scores[training]] for key, scores in evaluations.transfer.items()
                       if key[:3] == side and training in scores), key=lambda t: corpus_sort_key(t[0]))
    noise = [[key[3], key[4], scores[training]] for key, scores in evaluations.noise.items()
             if key[:3] == side and training in scores]
    return {"transfer": transfer, "noise": noise}


def _training(run: Run, board: Board) -> dict[str, Any]:
    """One training of a drill-down: what its record says, as the page shows it."""
    record = run.record
    test = _metrics(record.get("test"))
    size = len(test["confusion"] or []) if test else 0
    cell = record.get("cell") or {}
    return {
        "training": run.training, "key": run.key, "test": test, "dev": _metrics(record.get("dev")),
        "classes": _classes(record, size), "best_epoch": record.get("best_epoch"),
        "history": [[h.get("epoch"), _number(h.get("dev_uar"))] for h in record.get("history") or ()],
        "cost": None if run.cost is None else asdict(run.cost),
        "method_params": run.method_params, "head_params": run.head_params, "upstream_params": run.upstream_params,
        "deviations": [str(d) for d in record.get("deviations") or ()],
        "skipped": record.get("skipped") or {},
        "config": {name: cell.get(name) or {} for name in ("method_args", "upstream_args", "task_args", "train")},
        **_evaluations(board, record),
    }


def drilldown(board: Board) -> list[dict[str, Any]]:
    """Per (upstream, variant, task) of the board: its trainings, failed trainings and missing ones."""
    cells = []
    order = sorted(board.groups(), key=lambda g: (corpus_sort_key(g[0]), backbone_sort_key(g[2]), board.variant_key(g[1])))
    for group in order:
        task, variant, upstream = group
        cells.append({
            "upstream": upstream, "variant": variant, "method": board.method_of.get(variant, variant), "task": task,
            "trainings": [_training(run, board) for run in sorted(board.runs.get(group, []), key=lambda r: r.training)],
            "failed": [{"training": r["training"], "key": r.get("key"), "error": _first_line(r.get("error") or "")}
                       for r in board.failed.get(group, [])],
            "missing": board.missing_trainings(group),
        })
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
    }


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def render_page(leaderboard_json: str, data: dict[str, Any]) -> str:
    """The page: the template with the style, both data blocks and the script filled in."""
    style, script = (WEB / "leaderboard.css").read_text(), (WEB / "leaderboard.js").read_text()
    parts = {
        "policy": (f"default-src 'none'; script-src {_csp_hash(script)}; style-src {_csp_hash(style)}; "
                   "img-src 'self' file:; base-uri 'none'; form-action 'none'"),
        "style": style, "script": script,
        "leaderboard": script_json(json.loads(leaderboard_json)), "page": script_json(data),
    }
    # One pass over the template: an inserted part is never scanned for another marker.
    return re.sub(r"@@(\w+)@@", lambda m: parts[m.group(1)], (WEB / "index.html").read_text())


def write_page(root: Path, leaderboard_json: str, board: Board, footnotes: Sequence[str], plots: Collection[str],
               expected_rule: str | None = None) -> Path:
    """Write root/index.html from the leaderboard.json text just written and the board it came from."""
    data = page_data(board, footnotes, plots, f"Leaderboard: {root.resolve().name}", expected_rule)
    return write_text_atomic(root / PAGE, render_page(leaderboard_json, data))
