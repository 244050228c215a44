"""The committed board fixture (tests/data/board): 15 records of the demo's demo_whisper_tiny x
synthetic_crema_d slice with the grids.json of that run, and the leaderboard files written from them."""

from __future__ import annotations

import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "board"


def board_results(tmp_path: Path) -> Path:
    """A results directory holding a copy of the fixture's records and grids.json."""
    results = tmp_path / "results"
    results.mkdir()
    shutil.copytree(DATA / "records", results / "records")
    shutil.copy(DATA / "grids.json", results / "grids.json")
    return results


def fixture_evaluations(board):
    """Stand-in scores beyond the paper for a board's runs (an Evaluations, as evaluation records
    would give): each training tested on synthetic_iemocap at its UAR - 5, and under white noise
    at 10 and 0 dB at its UAR - 10 and - 20, beside a clean score equal to its UAR."""
    from peftser.benchmark.report.evaluations import Evaluations

    evaluations = Evaluations(planned=None)
    for (task, variant, upstream), runs in board.runs.items():
        for run in runs:
            evaluations.transfer[(upstream, variant, task, "synthetic_iemocap")][run.training] = run.uar - 5
            for noise, snr, drop in (("clean", None, 0), ("white", 10.0, 10), ("white", 0.0, 20)):
                evaluations.noise[(upstream, variant, task, noise, snr)][run.training] = run.uar - drop
            evaluations.recorded += 2
    return evaluations
