"""``run_benchmark.py --compare A B``: the paired statistics of any two variants, or of two results directories.

- ``--compare lora adapter [--results DIR]``: lora against adapter on every backbone that has either;
  ``UPSTREAM/VARIANT`` picks one backbone (``whisper_base/lora whisper_tiny/lora`` pairs the trainings of
  two backbones).
- ``--compare NEW_DIR OLD_DIR``: a regression check, every variant and backbone of both directories
  against itself.

The difference is always A minus B (B is the baseline), matched by corpus and training name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from peftser.benchmark.report.board import Board
from peftser.benchmark.report.leaderboard import check_variant, load_board
from peftser.benchmark.report.paired import Pair, PairedStats, Side, paired_stats, variants_of
from peftser.benchmark.report.render_paired import section

def check_one_configuration(board: Board, variant: str, upstream: str | None, root: Path) -> None:
    """ValueError when ``variant`` (on ``upstream``, or any) holds trainings of several configurations
    (cell keys), e.g. two grids that name different settings alike: their mean would mix them."""
    for (task, name, up), runs in sorted(board.runs.items()):
        if name != variant or (upstream and up != upstream):
            continue
        keys: dict[str, set[str]] = {}
        for run in runs:
            keys.setdefault(run.training, set()).add(run.key)
        mixed = sorted((t, k) for t, k in keys.items() if len(k) > 1)
        if mixed:
            training, found = mixed[0]
            raise ValueError(
                f"--compare: variant {variant} on {up} holds {len(found)} configurations in {root} ({task}/{training}"
                f" has records of cells {', '.join(sorted(found))}); give them distinct variant names, or compare"
                " the results directories of the two grids"
            )


def _spec(board: Board, text: str, root: Path) -> tuple[str | None, str]:
    """``VARIANT`` or ``UPSTREAM/VARIANT``, checked against the board."""
    upstream, _, variant = text.rpartition("/")
    check_variant(board, variant, "--compare", root)
    if upstream and upstream not in board.backbones():
        raise ValueError(f"--compare {text}: no upstream {upstream} in {root}; its upstreams: {', '.join(board.backbones())}")
    check_one_configuration(board, variant, upstream or None, root)
    return upstream or None, variant


def variant_pairs(board: Board, a: str, b: str, root: Path) -> list[Pair]:
    """A against B in one board: on each backbone with either, or on the backbones the specs name."""
    (up_a, var_a), (up_b, var_b) = _spec(board, a, root), _spec(board, b, root)
    if up_a and up_b:
        backbones = [(up_a, up_b)]
    elif up_a or up_b:
        backbones = [(up_a or up_b, up_a or up_b)]
    else:
        backbones = [(u, u) for u in board.backbones([var_a, var_b])]
    pairs = [((f"{ua}/{var_a}", f"{ub}/{var_b}"), Side(board, ua, var_a), Side(board, ub, var_b))
             for ua, ub in backbones]
    pairs = [p for p in pairs if p[1].has_runs() or p[2].has_runs()]  # expected cells alone make no row
    if not pairs:
        raise ValueError(f"--compare {a} {b}: neither has a successful training in {root}")
    return pairs


def directory_pairs(new: Board, old: Board, new_root: Path, old_root: Path) -> list[Pair]:
    """Every variant on every backbone with trainings in both directories, new against old."""
    pairs = []
    variants = [v for v in variants_of(new) if v in variants_of(old)]
    for upstream in [u for u in new.backbones(variants) if u in old.backbones(variants)]:
        for variant in variants:
            mine, theirs = Side(new, upstream, variant, str(new_root)), Side(old, upstream, variant, str(old_root))
            if mine.has_runs() and theirs.has_runs():
                check_one_configuration(new, variant, upstream, new_root)
                check_one_configuration(old, variant, upstream, old_root)
                pairs.append(((upstream, variant), mine, theirs))
    if not pairs:
        raise ValueError(f"--compare {new_root} {old_root}: the two directories have no variant on a backbone in common")
    return pairs


def is_results_dir(spec: str, results_given: bool) -> bool:
    """Whether a --compare spec names a results directory rather than a variant: with --results
    given, only a directory holding records/ is (a ./lora folder leaves ``lora`` a variant)."""
    return (Path(spec) / "records").is_dir() if results_given else Path(spec).is_dir()


def compare_stats(a: str, b: str, results: str | Path | None) -> tuple[PairedStats, str]:
    """The paired tables of A against B, and a one-line description of what was compared;
    ``results`` is the directory of variant names (None: not given, ``results``)."""
    dir_a, dir_b = is_results_dir(a, results is not None), is_results_dir(b, results is not None)
    if dir_a != dir_b:
        directory, other = (a, b) if dir_a else (b, a)
        raise ValueError(f"--compare takes two variants or two results directories: {directory} is a directory,"
                         f" {other} is not")
    if dir_a:
        (new, *_), (old, *_) = load_board(a), load_board(b)
        pairs = directory_pairs(new, old, Path(a), Path(b))
        tasks = sorted(set(new.tasks()) | set(old.tasks()))
        return paired_stats(pairs, tasks, ("backbone", "variant")), f"each variant of {a} (A) against itself in {b} (B)"
    root = Path(results or "results")
    board, *_ = load_board(root)
    return paired_stats(variant_pairs(board, a, b, root), board.tasks(), ("A", "B")), f"{a} (A) against {b} (B) in {root}"


def compare_command(a: str, b: str, *, results: str | None = None, as_json: bool = False) -> int:
    """``--compare A B``: A minus B, paired; ``results`` is the directory for variant names.

    Bad names or directories raise ValueError or FileNotFoundError for the CLI's one-line error.
    """
    paired, what = compare_stats(a, b, results)
    if as_json:
        print(json.dumps({"a": a, "b": b, "difference": "A - B", **paired.to_dict()}, indent=1, ensure_ascii=False))
        return 0
    lines = [f"# {a} vs {b} (paired)", "", f"Compared: {what}. Δ = A − B: B is the baseline.", ""]
    lines += section(paired.uar, paired.uar_per_corpus, "B")
    lines += section(paired.fairness, paired.fairness_per_corpus, "B")
    print("\n".join(lines).rstrip())
    return 0
