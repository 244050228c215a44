"""The leaderboard's numbers as JSON (leaderboard.json), for tools that should not parse markdown."""

from __future__ import annotations


from peftser.benchmark.report.board import (
    FAMILY_TITLES,
    Board,
    families,
    group_order,
    mean_std,
    overall,
    pretraining_overlap,
)
from peftser.benchmark.report.cost import cost_rows
from peftser.benchmark.report.paired import PairedStats


def _groups(board: Board) -> list[dict]:
    """Every (task, variant, upstream) group: trainings found and expected, mean ± std UAR, mean fairness."""
    rows = []
    for task, variant, upstream in group_order(board):
        runs = board.runs.get((task, variant, upstream), [])
        uar = mean_std([r.uar for r in runs]) if runs else None
        fairness = board.fairness((task, variant, upstream))
        rows.append({
            "task": task, "upstream": upstream, "variant": variant, "method": board.method_of.get(variant, variant),
            "trainings": len(runs), "expected": len(board.full_trainings((task, variant, upstream))),
            "uar": None if uar is None else {"mean": uar[0], "std": uar[1]},
            "demographic_parity": None if fairness is None else fairness.demographic_parity,
            "equality_of_odds": None if fairness is None else fairness.equality_of_odds,
            "reference_demographic_parity": None if fairness is None else fairness.reference_demographic_parity,
        })
    return rows


def _overall(board: Board) -> list[dict]:
    """The Table V analogue: per corpus family, variant and backbone, the corpus means and their mean ± std."""
    rows = []
    variants = board.main_variants()
    for family, corpora in families(board.main_tasks()).items():
        for variant in variants:
            for upstream in board.backbones(variants):
                summary = overall(board, variant, upstream, corpora)
                stats = mean_std(list(summary.corpus_means.values())) if summary.complete else None
                rows.append({
                    "family": FAMILY_TITLES[family], "corpora": list(corpora), "upstream": upstream, "variant": variant,
                    "corpus_means": summary.corpus_means, "mean": None if stats is None else stats[0],
                    "std": None if stats is None else stats[1], "complete": summary.complete, "partial": summary.partial,
                })
    return rows


def summary_json(board: Board) -> dict:
    """The record counts, and what the numbers are."""
    return {
        "records": {**board.records, "unreadable": len(board.unreadable),
                    "missing": sum(len(board.missing_trainings(g)) for g in board.groups())},
        "metrics": "percent, on the test set at the epoch with the best dev UAR",
    }


def groups_json(board: Board) -> dict:
    """Every group's numbers, and the corpora flagged for pre-training overlap (only when there is one)."""
    data: dict = {"groups": _groups(board)}
    overlap = {task: found for task in board.tasks() if (found := pretraining_overlap(board, task))}
    if overlap:  # the contamination flag: corpus -> backbone -> the corpora its pre-training included
        data["pretraining_overlap"] = overlap
    return data


def overall_json(board: Board) -> dict:
    return {"overall": _overall(board)}


def paired_json(paired: PairedStats | None, baseline: str) -> dict:
    return {"baseline": baseline, "paired": None if paired is None else paired.to_dict()}


def cost_json(board: Board) -> dict:
    return {"cost": [row.to_dict() for row in cost_rows(board)]}
