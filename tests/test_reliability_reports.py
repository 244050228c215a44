"""--cards and --leaderboard on records edited by hand: each bad record is named with what is wrong,
and everything else is still written."""

from __future__ import annotations

import json

import pytest

from board_fixture import board_results
from peftser.cli import main


def _edit(path, change):
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


@pytest.fixture
def results(tmp_path):
    results = board_results(tmp_path)
    for path in (results / "records").rglob("*.json"):  # the fixture keeps records only: give each its folder
        (results / json.loads(path.read_text())["artifact"]["path"]).mkdir(parents=True)
    return results


def test_cards_name_each_record_they_cannot_use_and_write_the_others(results, capsys):
    paths = sorted((results / "records").rglob("*.json"))
    _edit(paths[0], lambda r: r["test"].pop("acc"))
    _edit(paths[1], lambda r: r.pop("label"))
    _edit(paths[2], lambda r: r["test"].__setitem__("macro_f1", "high"))
    with pytest.warns(UserWarning) as warned:
        assert main(["--cards", "--results", str(results)]) == 2
    messages = [str(w.message) for w in warned]
    for path, why in zip(paths, ("no test.acc", "no label", "test.macro_f1 is 'high', not a finite number")):
        assert f"run record {path}: no card written: {why}" in messages
    assert len(list((results / "artifacts").rglob("README.md"))) == len(paths) - 3
    assert f"{len(paths) - 3} model card(s) written, 3 record(s) without one" in capsys.readouterr().out
