"""Grid loading refuses what would misplace or mislabel results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peftser.benchmark.run.slots import Local
from peftser.benchmark.grids import GridError, load_grid
from peftser.benchmark.store import ResultStore
from peftser.cli import main

BASE = "upstreams: [demo_whisper_tiny]\nmethods: [downstream]\ntasks: [synthetic_crema_d]\n"


pytestmark = pytest.mark.usefixtures("registries")  # user grids below use the built-in names


def grid_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["/tmp/x/abs", "../../x", "a/b", "..", "a\\b"])
def test_a_grid_name_that_is_not_one_folder_name_is_refused_at_load(tmp_path, name):
    with pytest.raises(GridError, match=r"name .* must be one folder name") as err:
        load_grid(grid_file(tmp_path, f"name: {json.dumps(name)}\n" + BASE))
    assert str(tmp_path / "mine.yaml") in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("variant", ["lora/r16", "../up", ".."])
def test_a_variant_with_a_separator_is_refused_at_load_before_any_cell_runs(tmp_path, variant):
    text = BASE.replace("[downstream]", f"[downstream, {{method: lora, variant: {json.dumps(variant)}, args: {{rank: 4}}}}]")
    with pytest.raises(GridError, match="variant .* must be one folder name"):
        load_grid(grid_file(tmp_path, text))


def test_the_cli_refuses_an_escaping_grid_name_with_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = grid_file(tmp_path, "name: ../outside\n" + BASE)
    assert main(["--grid", str(path), "--devices", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be one folder name" in err
    assert not (tmp_path / "results").exists() and not (tmp_path.parent / "outside").exists()


@pytest.mark.parametrize("empty", ["[]", "null"])
def test_an_empty_trainings_list_is_an_error_not_every_training(tmp_path, empty):
    text = BASE.replace("[synthetic_crema_d]", f"[{{task: synthetic_crema_d, trainings: {empty}}}]")
    with pytest.raises(GridError, match="trainings is empty"):
        load_grid(grid_file(tmp_path, text))


def test_a_variant_spelling_out_a_default_configures_identically(tmp_path):
    text = BASE.replace("[downstream]", "[{method: lora, variant: a}, {method: lora, variant: b, args: {rank: 8}}]")
    with pytest.raises(GridError, match="variants 'a' and 'b' configure 'lora' identically"):
        load_grid(grid_file(tmp_path, text))


def test_a_variant_with_another_value_is_a_configuration_of_its_own(tmp_path):
    text = BASE.replace("[downstream]", "[{method: lora, variant: a}, {method: lora, variant: b, args: {rank: 4}}]")
    assert [m.label for m in load_grid(grid_file(tmp_path, text)).methods] == ["a", "b"]


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_a_bad_epochs_override_leaves_grids_json_as_it_was(tmp_path, capsys, epochs):
    results = tmp_path / "results"
    results.mkdir()
    before = json.dumps([{"name": "old", "file": None, "grid": load_grid("demo").to_dict()}])
    (results / "grids.json").write_text(before)
    argv = ["--grid", "demo", "--only", "upstream=demo_whisper_tiny", "--results", str(results), "--epochs", epochs]
    assert main(argv) == 2
    assert "epochs must be" in capsys.readouterr().err
    assert (results / "grids.json").read_text() == before
    assert sorted(p.name for p in results.iterdir()) == ["grids.json"]


@pytest.mark.parametrize("where,bad", [("tasks", {"args": "x"}), ("upstreams", {"args": [1]}), ("tasks", {"trainings": "fold1"})])
def test_a_damaged_grids_json_entry_names_the_file(tmp_path, capsys, where, bad):
    results = tmp_path / "results"
    (results / "records").mkdir(parents=True)
    grid = load_grid("demo").to_dict()
    grid[where][0].update(bad)
    (results / "grids.json").write_text(json.dumps([{"name": "demo", "file": None, "grid": grid}]))
    with pytest.raises(ValueError, match="grids.json is damaged"):
        ResultStore(results).grids()
    assert main(["--leaderboard", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert str(results / "grids.json") in err and "dictionary update" not in err


def test_a_grid_runs_final_leaderboard_and_leaderboard_expect_the_same_cells(tmp_path, capsys):
    import io

    from grid_runners import RUNNER, toy_grid, toy_record
    from peftser.benchmark.grids import MethodEntry
    from peftser.benchmark.run.orchestrator import run_grid

    results = tmp_path / "results"
    store = ResultStore(results)
    other = toy_grid(3, methods=[MethodEntry("toy", variant="toy_b", args={"sleep": 0.01})], name="other")
    store.remember_grid(other)  # run here earlier; none of its cells recorded
    mine = toy_grid(2, name="mine")
    for cell in mine.cells():
        store.save_record(toy_record(cell, "cpu"))
    summary = run_grid(mine, results_dir=results, backend=Local("cpu", 1), runner=RUNNER, stream=io.StringIO())
    after_run = summary.leaderboard.read_text()
    assert "3 expected training(s) without a record" in after_run
    assert "Expected cells: every cell of every grid run into this directory (grids.json: other, mine)" in after_run
    assert main(["--leaderboard", "--results", str(results)]) == 0
    assert (results / "leaderboard.md").read_text() == after_run
