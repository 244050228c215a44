"""Records the leaderboard must not miscount or choke on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from board_fixture import board_results
from peftser.cli import main

REPO = Path(__file__).resolve().parents[1]



def lora_group(results: Path) -> dict:
    table = json.loads((results / "leaderboard.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    return next(g for g in table["groups"]
                if (g["task"], g["variant"], g["upstream"]) == ("synthetic_crema_d", "lora", "demo_whisper_tiny"))


def first_lora(results: Path) -> Path:
    return next(p for p in sorted(results.glob("records/*/*.json")) if json.loads(p.read_text())["method"] == "lora")


# -- 6: one record per key --------------------------------------------------------------------------
@pytest.mark.parametrize("copy", ["{key} (copy).json", "backup/{key}.json", "../other_task/{key}.json", "link-{key}.json"])
def test_a_copied_record_counts_once_and_is_reported_by_path(tmp_path, capsys, copy):
    results = board_results(tmp_path)
    original = first_lora(results)
    target = original.parent / copy.format(key=original.stem)
    target.parent.mkdir(parents=True, exist_ok=True)
    if copy.startswith("link-"):
        target.symlink_to(original)
    else:
        shutil.copy(original, target)
    with pytest.warns(UserWarning, match="a second record of cell"):
        assert main(["--leaderboard", "--results", str(results)]) == 0
    assert lora_group(results)["trainings"] == 5
    markdown = (results / "leaderboard.md").read_text()
    relative = os.path.normpath(target.relative_to(results)).replace(os.sep, "/")
    assert f"- {relative}: a second record of cell {original.stem} (counted once, from records/" in markdown
    assert "configurations that differ" not in markdown


# -- 9: values that break the record contract --------------------------------------------------------
BROKEN = [
    ("test.demographic_parity", lambda r: r["test"].update(demographic_parity="x")),
    ("test.equality_of_odds", lambda r: r["test"].update(equality_of_odds="0.5")),
    ("test.notes", lambda r: r["test"].update(notes=5)),
    ("training", lambda r: r.update(training=["fold1"])),
    ("upstream_params", lambda r: r.update(upstream_params="big")),
    ("method_params", lambda r: r.update(method_params="abc")),
    ("head_params", lambda r: r.update(head_params=-1)),
    ("variant", lambda r: r.update(variant=5)),
    ("test.uar", lambda r: r["test"].update(uar=float("nan"))),
    ("test.uar", lambda r: r["test"].update(uar=float("inf"))),
    ("test.uar", lambda r: r["test"].update(uar=True)),
]


@pytest.mark.parametrize("field,breaks", BROKEN, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BROKEN)])
def test_a_record_breaking_the_contract_is_listed_unreadable_with_path_and_field(tmp_path, field, breaks):
    results = board_results(tmp_path)
    path = first_lora(results)
    record = json.loads(path.read_text())
    breaks(record)
    path.write_text(json.dumps(record))  # Python writes NaN and Infinity as JSON would not
    with pytest.warns(UserWarning, match=field.replace(".", r"\.")):
        assert main(["--leaderboard", "--results", str(results)]) == 0
    markdown = (results / "leaderboard.md").read_text()
    assert f"- {path.relative_to(results).as_posix()}: {field} is " in markdown
    assert lora_group(results)["trainings"] == 4  # strict JSON, and the other four still count
    tables = "\n".join(line for line in markdown.splitlines() if not line.startswith("- records/"))
    assert "nan" not in tables.lower() and "inf " not in tables.lower()  # only the unreadable list names the value
    plots = sorted(results.glob("*.png"))
    assert plots and all(p.stat().st_mtime <= (results / "leaderboard.md").stat().st_mtime for p in plots)


def test_a_uar_written_as_1e999_is_infinity_and_unreadable(tmp_path):
    results = board_results(tmp_path)
    path = first_lora(results)
    path.write_text(path.read_text().replace('"uar": ', '"uar": 1e999, "was": ', 1))
    with pytest.warns(UserWarning, match="test.uar is inf"):
        assert main(["--leaderboard", "--results", str(results)]) == 0
    assert lora_group(results)["trainings"] == 4


# -- 17: FIFOs named like records or grids.json ------------------------------------------------------
FIFO_RUN = """
import io, os, sys
sys.path.insert(0, {tests!r})
from grid_runners import RUNNER, toy_grid, toy_record
from peftser.benchmark.run.orchestrator import run_grid
from peftser.benchmark.run.slots import Local
from peftser.benchmark.store import ResultStore
results = {results!r}
grid = toy_grid(2)
store = ResultStore(results)
for cell in grid.cells():
    store.save_record(toy_record(cell, "cpu"))
os.mkfifo(os.path.join(results, "records", "toy_task", "zz.json"))
os.mkfifo(os.path.join(results, "records", "toy_task", grid.cells()[0].key + " (copy).json"))
summary = run_grid(grid, results_dir=results, backend=Local("cpu", 1), runner=RUNNER, stream=io.StringIO())
print(summary.missing, summary.leaderboard.name)
"""


@pytest.mark.slow
def test_a_fifo_under_records_hangs_neither_a_grid_run_nor_the_leaderboard(tmp_path):
    results = tmp_path / "results"
    code = FIFO_RUN.format(tests=str(REPO / "tests"), results=str(results))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "leaderboard.md"]
    markdown = (results / "leaderboard.md").read_text()
    assert "- records/toy_task/zz.json: is not a regular file" in markdown
    done = subprocess.run([sys.executable, str(REPO / "run_benchmark.py"), "--leaderboard", "--results", str(results)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr


def test_a_fifo_named_grids_json_is_one_line_not_a_hang(tmp_path, capsys):
    results = board_results(tmp_path)
    (results / "grids.json").unlink()
    os.mkfifo(results / "grids.json")
    assert main(["--leaderboard", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{results / 'grids.json'} is not a regular file" in err
