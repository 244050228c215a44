"""Leaderboard plots are written atomically: a failed or killed redraw leaves the old PNG whole."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from grid_runners import toy_grid, toy_record
from peftser.benchmark.report.leaderboard import write_leaderboard
from peftser.benchmark.store import ResultStore


def test_a_redraw_that_dies_midway_leaves_the_old_plot(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    for cell in toy_grid(2).cells():
        store.save_record(toy_record(cell, "cpu"))
    write_leaderboard(tmp_path)
    plots = sorted(tmp_path.glob("*.png"))
    assert plots
    before = {p: p.read_bytes() for p in plots}

    def dies_midway(self, target, **kwargs):
        target.write(b"\x89PNG\r\n\x1a\n half a pic")
        raise RuntimeError("killed while drawing")

    monkeypatch.setattr(Figure, "savefig", dies_midway)
    with pytest.raises(RuntimeError, match="killed while drawing"):
        write_leaderboard(tmp_path)
    assert {p: p.read_bytes() for p in plots} == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
