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
    for path, why in zip(paths, ("no test.acc", "no label", "test.macro_f1 is 'high', not a percentage from 0 to 100")):
        assert f"run record {path}: no card written: {why}" in messages
    assert len(list((results / "artifacts").rglob("README.md"))) == len(paths) - 3
    assert f"{len(paths) - 3} model card(s) written, 3 record(s) without one" in capsys.readouterr().out


def _noise_evaluations(results) -> list:
    """A noise evaluation record of each fixture cell, its predictions the cell's own (no model run)."""
    from peftser.benchmark.cell import Cell
    from peftser.benchmark.evaluation import Evaluation
    from peftser.benchmark.record import evaluation_record

    paths = []
    for path in sorted((results / "records").rglob("*.json")):
        record = json.loads(path.read_text())
        evaluation = Evaluation(Cell.from_dict(record["cell"]),
                                {"kind": "noise", "types": ["white"], "snr_db": [10.0], "max_utterances": None})
        scored = [({"noise": "clean", "snr_db": None}, record["test"]["uar"]), ({"noise": "white", "snr_db": 10.0}, 30.0)]
        evaluated = evaluation_record(evaluation, results=[
            {"condition": condition, "test": {"uar": uar}, "predictions": record["predictions"]} for condition, uar in scored])
        paths.append(results / "evaluations" / evaluation.task / f"{evaluation.key}.json")
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        paths[-1].write_text(json.dumps(evaluated))
    return paths


@pytest.mark.parametrize("field, value, why", [
    ("condition", {"noise": "white", "snr_db": "loud"}, "results[1] condition.snr_db is 'loud', not a number in [-100, 100]"),
    ("test", {"uar": 1e300}, "results[1] test.uar is 1e+300, not a percentage in [0, 100]"),
])
def test_leaderboard_lists_a_tampered_evaluation_record_and_tabulates_the_rest(results, field, value, why):
    paths = _noise_evaluations(results)
    _edit(paths[0], lambda r: r["results"][1].__setitem__(field, value))
    assert main(["--leaderboard", "--results", str(results)]) == 0
    board = (results / "leaderboard.md").read_text()
    assert f"- Evaluation record {paths[0].relative_to(results).as_posix()}: {why}" in board
    noise = json.loads((results / "leaderboard.json").read_text())["noise"]
    assert noise and all(e["trainings"] <= len(paths) for e in noise)


HOSTILE = "first line\n---\n| a | b | <b>bold</b>"


def _rows_keep_their_columns(markdown: str) -> None:
    import re

    table = []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            table.append(len(re.findall(r"(?<!\\)\|", line)))
        elif table:
            assert len(set(table)) == 1, table  # every row of a table has its header's cells
            table = []


def test_grid_texts_cannot_break_the_leaderboard(tmp_path):
    results = board_results(tmp_path)
    grids = json.loads((results / "grids.json").read_text())
    grids[0]["grid"]["deviations"].append(HOSTILE)
    (results / "grids.json").write_text(json.dumps(grids))
    for path in sorted((results / "records").rglob("*.json"))[:2]:
        _edit(path, lambda r: r.__setitem__("variant", "lo\nra | x"))
    assert main(["--leaderboard", "--results", str(results)]) == 0
    board = (results / "leaderboard.md").read_text()
    _rows_keep_their_columns(board)
    assert "\n---\n" not in board and "<b>" not in board
    assert "first line --- \\| a \\| b \\| &lt;b>bold&lt;/b>" in board  # the footnote, on its one line


def test_grid_texts_cannot_break_a_model_card(results, tmp_path):
    from huggingface_hub import ModelCard

    from peftser.benchmark.card import write_model_card

    path = sorted((results / "records").rglob("*.json"))[0]
    record = json.loads(path.read_text())
    record["label"] = record["label"] + "\n---\n| x"
    card = write_model_card(results / record["artifact"]["path"], record, deviations=[HOSTILE, "# not a heading"])
    text = card.read_text()
    body = text.split("\n---\n", 1)[1]  # after the metadata header
    _rows_keep_their_columns(body)
    assert "\n---\n" not in body and "<b>" not in body and "\n# not a heading" not in body
    assert "- \\# not a heading" in body
    assert ModelCard.load(card).data.model_name.startswith("peftser ")
