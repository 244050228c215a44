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
