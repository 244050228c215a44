"""The leaderboard: markdown tables, JSON and PNG plots regenerated from the run records alone.

The work is split by concern: ``board`` collects the records into groups, ``paired`` (on
``stats``) compares every method with the baseline, ``render``/``render_json`` write the
markdown and the JSON, ``plots`` draws the figures. This module ties them together for the grid
run and the CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from peftser.benchmark.report.board import (  # noqa: F401  (sort keys and load_records re-exported)
    Board,
    backbone_sort_key,
    collect,
    corpus_sort_key,
    load_records,
    method_sort_key,
)
from peftser.benchmark.cell import Cell
from peftser.benchmark.evaluation import FOLDER as EVALUATIONS
from peftser.benchmark.record import read_records
from peftser.benchmark.report.attribute_evaluations import AttributeEvaluations, planned_keys, split_entries
from peftser.benchmark.report.attributes import collect_attributes, split
from peftser.benchmark.report.evaluations import Evaluations, collect_evaluations, slot_of
from peftser.benchmark.report.paired import DEFAULT_BASELINE, PairedStats, baseline_pairs, paired_stats, variants_of
from peftser.benchmark.report.render_html import PAGE, write_page
from peftser.benchmark.report.section import View
from peftser.benchmark.report.sections import leaderboard_json, render, write_plots
from peftser.files import check_writable_dir, write_text_atomic

LEADERBOARD = "leaderboard.md"
LEADERBOARD_JSON = "leaderboard.json"
GRIDS_FILE_NAME = "grids.json"  # the store's GRIDS_FILE, named here without importing the store


def versus_baseline(board: Board, baseline: str = DEFAULT_BASELINE) -> PairedStats | None:
    """Every main method against ``baseline`` on the same backbone; None when the board has no such pair."""
    pairs = baseline_pairs(board, baseline)
    if baseline not in variants_of(board) or not pairs:
        return None
    return paired_stats(pairs, board.main_tasks(), ("backbone", "method"))


def build_leaderboard(
    records: Iterable[dict],
    *,
    expected: Iterable[Cell | dict | str] | None = None,
    footnotes: Sequence[str] | None = None,
    plots: Collection[str] = (),
    baseline: str = DEFAULT_BASELINE,
) -> str:
    """The leaderboard markdown; ``expected`` (Cells, Cell dicts or labels) reveals missing cells."""
    board = _collect(records, expected)
    return render(board, footnotes or (), set(plots), versus_baseline(board, baseline), baseline)


def write_leaderboard(
    results_dir: str | Path,
    *,
    expected_cells: Iterable[Cell | dict | str] | None = None,
    footnotes: Sequence[str] | None = None,
    baseline: str = DEFAULT_BASELINE,
) -> Path:
    """Regenerate results_dir/leaderboard.md, leaderboard.json, index.html and the PNG plots from the records; the markdown's path."""
    root = Path(results_dir)
    return _write(root, _collect(load_records(root), expected_cells), footnotes or (), baseline)


def _collect(records: Iterable[dict], expected: Iterable[Cell | dict | str] | None) -> Board:
    """The board of the categorical records, with the attribute tasks' records on a board of their own."""
    (records, expected), (rated, rated_expected) = split(records, expected)
    board = collect(records, expected)
    board.attributes = collect_attributes(rated, rated_expected)
    return board


def _write(root: Path, board: Board, footnotes: Sequence[str], baseline: str, expected_rule: str | None = None) -> Path:
    paired = versus_baseline(board, baseline)
    plots = write_plots(View(board, paired, baseline), root)  # every registered section's
    data = leaderboard_json(board, paired, baseline)
    write_text_atomic(root / LEADERBOARD_JSON, data)
    path = root / LEADERBOARD
    write_text_atomic(path, render(board, footnotes, set(plots), paired, baseline, expected_rule))
    write_page(root, data, board, footnotes, plots, expected_rule)  # index.html: the same board, in a browser
    return path


def write_results_leaderboard(results_dir: str | Path, baseline: str = DEFAULT_BASELINE) -> tuple[Path, str]:
    """The leaderboard of a results directory by its one rule for expected cells (every grid of its
    grids.json), at the end of a grid run and with --leaderboard alike; its path and what was read."""
    root = Path(results_dir)
    board, footnotes, source, rule = load_board(root)
    return _write(root, board, footnotes, baseline, rule), source


def expected_rule(grid_names: Sequence[str]) -> str:
    """The header's sentence on which cells a results directory's leaderboard expects."""
    if not grid_names:
        return "Expected cells: no grid ran into this directory, so each task's own trainings."
    return (f"Expected cells: every cell of every grid run into this directory ({GRIDS_FILE_NAME}: "
            f"{', '.join(grid_names)}), after a grid run and with --leaderboard alike.")


def load_board(results_dir: str | Path) -> tuple[Board, list[str], str, str]:
    """A results directory's board against the grids that ran into it (its grids.json), their
    footnotes, where the expected cells came from, and the header's sentence saying so.
    FileNotFoundError names a directory without records (and the subfolders that have some).
    """
    from peftser.benchmark.store import ResultStore

    root = Path(results_dir)
    if not (root / "records").is_dir():
        with_records = sorted(str(p.parent) for p in root.glob("*/records/")) if root.is_dir() else []
        hint = f"; directories with records: {', '.join(with_records)}" if with_records else ""
        raise FileNotFoundError(f"{root} holds no run records (no {root / 'records'}){hint}")
    records = load_records(root)
    grids = ResultStore(root).grids()
    cells = [c for grid in grids for c in grid.cells()]
    footnotes = list(dict.fromkeys(note for grid in grids for note in grid.footnotes()))
    expected = f"expected cells from grid(s) {', '.join(g.name for g in grids)}" if grids else "no grid ran here: no expected cells"
    board = _collect(records, [c.to_dict() for c in cells] or None)
    trained = {r["key"]: (r.get("artifact") or {}).get("weights_sha256") for r in records if r["status"] == "ok"}
    board.evaluations, board.attributes.evaluations = load_evaluations(root, grids, trained)
    return board, footnotes, f"{len(records)} records; {expected}", expected_rule([g.name for g in grids])


def load_evaluations(root: Path, grids: Sequence, trained: dict[str, str | None] | None = None
                     ) -> tuple[Evaluations, AttributeEvaluations]:
    """The evaluation records of a results directory, against what its grids plan: the utterance
    subset each asks for (the grid run last decides) and the cells trained (``trained``: key ->
    artifact weights_sha256, see collect_evaluations); the categorical cells' and the attribute
    cells' apart, never in one table."""
    entries = [e.record if e.record is not None else (e.path, e.problem) for e in read_records(root, EVALUATIONS)]
    planned = [e for grid in grids for e in grid.evaluations(grid.cells())]
    subsets = {slot_of(e.condition): e.condition.get("max_utterances") for e in planned}
    categorical, rated = split_entries(entries)
    return (
        collect_evaluations(categorical, planned=len(planned_keys(planned, False)) or None, subsets=subsets, trained=trained),
        collect_evaluations(rated, planned=len(planned_keys(planned, True)) or None, subsets=subsets, trained=trained,
                            into=AttributeEvaluations),
    )


def check_variant(board: Board, name: str, option: str, root: Path) -> None:
    """ValueError naming the option when the board (its categorical or its attribute cells) has no variant ``name``."""
    known = variants_of(board)
    known += [v for v in (board.attributes.variants() if board.attributes else ()) if v not in known]
    if name not in known:
        raise ValueError(f"{option} {name}: no variant of that name in {root}; its variants: {', '.join(known) or 'none'}")


def leaderboard_command(results: str | Path | None = None, *, baseline: str | None = None) -> int:
    """``--leaderboard [--results DIR] [--baseline NAME]``.

    The grids that ran into DIR (its grids.json) give the expected cells and footnotes, so the
    regenerated leaderboard is the one the grid run wrote at its end (with the default baseline).
    """
    root = Path(results or "results")
    try:
        board, footnotes, source, rule = load_board(root)
        check_writable_dir(root, "the results folder (leaderboard.md and its plots)")
        if baseline is not None:
            check_variant(board, baseline, "--baseline", root)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    path = _write(root, board, footnotes, baseline or DEFAULT_BASELINE, rule)
    print(f"wrote {path}, {LEADERBOARD_JSON} and {PAGE} ({source})")
    return 0
