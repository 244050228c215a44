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


@pytest.mark.parametrize("task_args, chance", [({}, 25.0), ({"classes": "native"}, 100 / 6)])
def test_a_corpus_plot_draws_chance_for_its_own_number_of_classes(task_args, chance, tmp_path, monkeypatch):
    from fake_records import make_cell, make_record, save

    for training in ("fold1", "fold2"):
        cell = make_cell("demo_whisper_tiny", "lora", "synthetic_crema_d", training)
        record = make_record(cell.__class__(**{**cell.to_dict(), "task_args": task_args}), 40.0)
        if task_args:
            record["classes"] = ["neutral", "happy", "sad", "angry", "fear", "disgust"]
        save(tmp_path, record)
    lines = {}

    def keep(self, target, **kwargs):
        ax = self.axes[0]
        lines[ax.get_title()] = {line.get_label(): line.get_ydata()[0] for line in ax.get_lines()
                                 if line.get_label().startswith("chance")}
        target.write(b"png")

    monkeypatch.setattr(Figure, "savefig", keep)
    write_leaderboard(tmp_path)
    (drawn,) = [found for title, found in lines.items() if "UAR by backbone" in title]
    assert drawn == {f"chance ({chance:.3g} %)": pytest.approx(chance)}
