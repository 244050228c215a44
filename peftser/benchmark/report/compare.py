"""``run_benchmark.py --compare A B``: the paired statistics of any two variants, or of two results directories.

- ``--compare lora adapter [--results DIR]``: lora against adapter on every backbone that has either;
  ``UPSTREAM/VARIANT`` picks one backbone (``whisper_base/lora whisper_tiny/lora`` pairs the trainings of
  two backbones).
- ``--compare NEW_DIR OLD_DIR``: a regression check, every variant and backbone of both directories
  against itself.

The difference is always A minus B (B is the baseline), matched by corpus and training name. The
categorical cells are compared on UAR and fairness; the attribute cells, in tables of their own,
on mean CCC and CCC per dimension (the leaderboard's attribute statistics).
"""

from __future__ import annotations

import json
from pathlib import Path

from peftser.benchmark.report.attributes import AttributeBoard, AttributeSide, ccc_tables
from peftser.benchmark.report.board import Board
from peftser.benchmark.report.leaderboard import check_variant, load_board
from peftser.benchmark.report.paired import Pair, PairedStats, Side, Table, paired_stats, variants_of
from peftser.benchmark.report.render_paired import section

PER_TASK = "Mean CCC per task"  # the title of --compare's per-task attribute table


def check_one_configuration(board: Board | AttributeBoard, variant: str, upstream: str | None, root: Path) -> None:
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
    backbones = _backbones(board)
    if upstream and upstream not in backbones:
        raise ValueError(f"--compare {text}: no upstream {upstream} in {root}; its upstreams: {', '.join(backbones)}")
    for kind in _kinds(board):
        check_one_configuration(kind, variant, upstream or None, root)
    return upstream or None, variant


def _kinds(board: Board) -> list[Board | AttributeBoard]:
    """The board of the categorical cells and, when there is one, that of the attribute cells."""
    return [board] + ([board.attributes] if board.attributes else [])


def _backbones(board: Board) -> list[str]:
    found = board.backbones()
    return found + [u for u in (board.attributes.backbones() if board.attributes else ()) if u not in found]


def _variants(board: Board | AttributeBoard) -> list[str]:
    return board.variants() if isinstance(board, AttributeBoard) else variants_of(board)


def _side(board: Board | AttributeBoard):
    return AttributeSide if isinstance(board, AttributeBoard) else Side


def variant_pairs(board: Board, a: str, b: str, root: Path) -> tuple[list[Pair], list[Pair]]:
    """A against B in one board, (categorical, attribute) rows: on each backbone with either, or on
    the backbones the specs name."""
    (up_a, var_a), (up_b, var_b) = _spec(board, a, root), _spec(board, b, root)
    found = []
    for kind in _kinds(board):
        if up_a and up_b:
            backbones = [(up_a, up_b)]
        elif up_a or up_b:
            backbones = [(up_a or up_b, up_a or up_b)]
        else:
            named = [var_a, var_b]
            backbones = [(u, u) for u in (kind.backbones() if isinstance(kind, AttributeBoard) else kind.backbones(named))]
        side = _side(kind)
        pairs = [((f"{ua}/{var_a}", f"{ub}/{var_b}"), side(kind, ua, var_a), side(kind, ub, var_b)) for ua, ub in backbones]
        found.append([p for p in pairs if p[1].has_runs() or p[2].has_runs()])  # expected cells alone make no row
    categorical, rated = found[0], (found[1] if len(found) > 1 else [])
    if not categorical and not rated:
        raise ValueError(f"--compare {a} {b}: neither has a successful training in {root}")
    return categorical, rated


def directory_pairs(new: Board, old: Board, new_root: Path, old_root: Path) -> tuple[list[Pair], list[Pair]]:
    """Every variant on every backbone with trainings in both directories, new against old:
    (categorical, attribute) rows."""
    found, kinds = [], [(new, old)] + ([(new.attributes, old.attributes)] if new.attributes and old.attributes else [])
    for mine_board, their_board in kinds:
        pairs, side = [], _side(mine_board)
        variants = [v for v in _variants(mine_board) if v in _variants(their_board)]
        for upstream in [u for u in mine_board.backbones() if u in their_board.backbones()]:
            for variant in variants:
                mine = side(mine_board, upstream, variant, str(new_root))
                theirs = side(their_board, upstream, variant, str(old_root))
                if mine.has_runs() and theirs.has_runs():
                    check_one_configuration(mine_board, variant, upstream, new_root)
                    check_one_configuration(their_board, variant, upstream, old_root)
                    pairs.append(((upstream, variant), mine, theirs))
        found.append(pairs)
    categorical, rated = found[0], (found[1] if len(found) > 1 else [])
    if not categorical and not rated:
        raise ValueError(f"--compare {new_root} {old_root}: the two directories have no variant on a backbone in common")
    return categorical, rated


def is_results_dir(spec: str, results_given: bool) -> bool:
    """Whether a --compare spec names a results directory rather than a variant: with --results
    given, only a directory holding records/ is (a ./lora folder leaves ``lora`` a variant)."""
    return (Path(spec) / "records").is_dir() if results_given else Path(spec).is_dir()


def compare_stats(a: str, b: str, results: str | Path | None) -> tuple[PairedStats | None, tuple[Table, Table] | None, str]:
    """The paired tables of A against B (the categorical cells', None without any; the attribute
    cells', None without any), and a one-line description of what was compared; ``results`` is the
    directory of variant names (None: not given, ``results``)."""
    dir_a, dir_b = is_results_dir(a, results is not None), is_results_dir(b, results is not None)
    if dir_a != dir_b:
        directory, other = (a, b) if dir_a else (b, a)
        raise ValueError(f"--compare takes two variants or two results directories: {directory} is a directory,"
                         f" {other} is not")
    if dir_a:
        (new, *_), (old, *_) = load_board(a), load_board(b)
        pairs, rated = directory_pairs(new, old, Path(a), Path(b))
        tasks, headers = sorted(set(new.tasks()) | set(old.tasks())), ("backbone", "variant")
        boards, what = [k.attributes for k in (new, old) if k.attributes], f"each variant of {a} (A) against itself in {b} (B)"
    else:
        root = Path(results or "results")
        board, *_ = load_board(root)
        (pairs, rated), tasks, headers = variant_pairs(board, a, b, root), board.tasks(), ("A", "B")
        boards, what = [board.attributes] if board.attributes else [], f"{a} (A) against {b} (B) in {root}"
    paired = paired_stats(pairs, tasks, headers) if pairs else None
    return paired, ccc_tables(rated, boards, headers, PER_TASK) if rated else None, what


def compare_command(a: str, b: str, *, results: str | None = None, as_json: bool = False) -> int:
    """``--compare A B``: A minus B, paired; ``results`` is the directory for variant names.

    Bad names or directories raise ValueError or FileNotFoundError for the CLI's one-line error.
    """
    paired, rated, what = compare_stats(a, b, results)
    if as_json:
        data = (paired or PairedStats([], None, [], None)).to_dict()
        if rated:
            data["attributes"] = [t.to_dict() for t in rated]
        print(json.dumps({"a": a, "b": b, "difference": "A - B", **data}, indent=1, ensure_ascii=False))
        return 0
    lines = [f"# {a} vs {b} (paired)", "", f"Compared: {what}. Δ = A − B: B is the baseline.", ""]
    if paired is not None:
        lines += section(paired.uar, paired.uar_per_corpus, "B")
        lines += section(paired.fairness, paired.fairness_per_corpus, "B")
    if rated is not None:
        lines += ["## Emotional attributes (CCC, not UAR)", "", "Δ below is in CCC units (not points of percent).", ""]
        lines += section([rated[0]], rated[1], "B")
    print("\n".join(lines).rstrip())
    return 0
