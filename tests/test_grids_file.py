"""grids.json: the grids run into a results folder, kept whole under concurrent writers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grid_runners import RUNNER, toy_grid, toy_record
from peftser.benchmark.run.slots import Local
from peftser.benchmark.grids import load_grid
from peftser.benchmark.report.leaderboard import leaderboard_command
from peftser.benchmark.run.orchestrator import run_grid
from peftser.benchmark.store import ResultStore

REPO = Path(__file__).resolve().parents[1]

WRITER = """
import sys, time
from pathlib import Path
from peftser.benchmark.grids import Grid, MethodEntry, TaskEntry, UpstreamEntry
from peftser.benchmark.store import ResultStore
results, me, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = ResultStore(results)
grids = [Grid(name=f"g{me}_{i}", upstreams=(UpstreamEntry("toy_up"),), methods=(MethodEntry("toy"),),
              tasks=(TaskEntry("toy_task", ("fold1",)),), source=f"/nowhere/g{me}_{i}.yaml") for i in range(8)]
while not go.exists():
    time.sleep(0.005)
for grid in grids:
    store.remember_grid(grid)
"""


@pytest.mark.slow
def test_concurrent_writers_keep_every_grid(tmp_path):
    results, go = tmp_path / "results", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(results), str(n), str(go)], env=env, stderr=subprocess.PIPE, text=True)
               for n in range(8)]
    time.sleep(1.0)  # let them all import and wait at the start line
    go.touch()
    for w in writers:
        assert w.wait(timeout=120) == 0, w.stderr.read()
    names = {entry["name"] for entry in json.loads((results / "grids.json").read_text())}
    assert names == {f"g{n}_{i}" for n in range(8) for i in range(8)}


def write_grid(path: Path) -> Path:
    path.write_text("name: mine\nupstreams: [demo_whisper_tiny]\nmethods: [downstream, adapter]\n"
                    "tasks: [{task: synthetic_crema_d, trainings: [fold1, fold2]}]\ntrain: {epochs: 2}\n")
    return path


def test_leaderboard_works_after_the_users_grid_file_moved(tmp_path, capsys):
    grid = load_grid(write_grid(tmp_path / "mine.yaml"))
    results = tmp_path / "results"
    store = ResultStore(results)
    store.save_record(toy_record(grid.cells()[0], "cpu"))
    store.remember_grid(grid)
    (tmp_path / "mine.yaml").rename(tmp_path / "moved.yaml")
    assert leaderboard_command(results) == 0
    assert "expected cells from grid(s) mine" in capsys.readouterr().out
    markdown = (results / "leaderboard.md").read_text()
    assert "3 expected training(s) without a record" in markdown
    assert "Grid 'mine' trains with epochs 2 (paper: 30)." in markdown


def test_the_grid_is_stored_as_run_with_command_line_overrides(tmp_path):
    results = tmp_path / "results"
    run_grid(toy_grid(2), results_dir=results, backend=Local("cpu", 1), runner=RUNNER,
             leaderboard=False, train={"epochs": 1}, stream=io.StringIO())
    (grid,) = ResultStore(results).grids()
    assert grid.train == {"epochs": 1}
    assert {c.key for c in grid.cells()} == {r["key"] for r in ResultStore(results).records()}


def test_a_damaged_grids_file_is_named(tmp_path, capsys):
    results = tmp_path / "results"
    (results / "records").mkdir(parents=True)
    (results / "grids.json").write_text('[{"name": "demo", ')
    with pytest.raises(ValueError, match=rf"{results / 'grids.json'} is damaged"):
        ResultStore(results).grids()
    # A grid run into the folder fails before it starts, not after its last cell.
    with pytest.raises(ValueError, match=rf"{results / 'grids.json'} is damaged"):
        run_grid(toy_grid(2), results_dir=results, backend=Local("cpu", 1), runner=RUNNER,
                 leaderboard=False, stream=io.StringIO())
    assert not list(results.glob("records/*/*.json")) and not list(results.glob("records/*"))


def test_cli_names_a_damaged_grids_file_in_one_line(tmp_path, capsys):
    from peftser.cli import main

    results = tmp_path / "results"
    (results / "records").mkdir(parents=True)
    (results / "grids.json").write_text("[1, 2")
    assert main(["--leaderboard", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {results / 'grids.json'} is damaged") and err.count("\n") == 1
