"""The leaderboard: markdown tables, JSON and PNG plots regenerated from the run records alone.

The work is split by concern: ``board`` collects the records into groups, ``render`` writes the
markdown, ``plots`` draws the figures. This module ties them together for the grid run and the CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from peftser.benchmark.board import (  # noqa: F401  (sort keys and load_records re-exported)
    backbone_sort_key,
    collect,
    corpus_sort_key,
    load_records,
    method_sort_key,
)
from peftser.benchmark.config import Cell
from peftser.benchmark.plots import write_plots
from peftser.benchmark.render import render
from peftser.files import write_text_atomic

LEADERBOARD = "leaderboard.md"


def build_leaderboard(
    records: Iterable[dict],
    *,
    expected: Iterable[Cell | dict | str] | None = None,
    footnotes: Sequence[str] | None = None,
    plots: Collection[str] = (),
) -> str:
    """The leaderboard markdown; ``expected`` (Cells, Cell dicts or labels) reveals missing cells."""
    return render(collect(records, expected), footnotes or (), set(plots))


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
    write_text_atomic(path, render(board, footnotes or (), set(plots)))
    return path


def main(args: Any) -> int:
    """CLI: ``run_benchmark.py --leaderboard [--results DIR]``; args.results is the directory.

    The grids that ran into DIR (its grids.json) give the expected cells and footnotes, so the
    regenerated leaderboard is the one the grid run wrote at its end.
    """
    from peftser.benchmark.store import ResultStore

    root = Path(getattr(args, "results", None) or "results")
    if not (root / "records").is_dir():
        with_records = sorted(str(p.parent) for p in root.glob("*/records/")) if root.is_dir() else []
        hint = f"; directories with records: {', '.join(with_records)}" if with_records else ""
        print(f"error: {root} holds no run records (no {root / 'records'}){hint}", file=sys.stderr)
        return 2
    records = load_records(root)
    grids = ResultStore(root).grids()
    cells = [c for grid in grids for c in grid.cells()]
    footnotes = list(dict.fromkeys(note for grid in grids for note in grid.footnotes()))
    path = _write(root, records, [c.to_dict() for c in cells] or None, footnotes)
    expected = f"expected cells from grid(s) {', '.join(g.name for g in grids)}" if grids else "no grid ran here: no expected cells"
    print(f"wrote {path} ({len(records)} records; {expected})")
    return 0
