"""Percent metrics lie in [0, 100]: a record holding an impossible one is unreadable, not averaged."""

from __future__ import annotations

import json

import pytest

from board_fixture import board_results
from peftser.benchmark.record import problem
from peftser.cli import main


def lora_records(results):
    return [p for p in sorted(results.glob("records/*/*.json")) if json.loads(p.read_text())["method"] == "lora"]


def lora_group(results) -> dict:
    table = json.loads((results / "leaderboard.json").read_text())
    return next(g for g in table["groups"]
                if (g["task"], g["variant"], g["upstream"]) == ("synthetic_crema_d", "lora", "demo_whisper_tiny"))


@pytest.mark.parametrize("field, value", [
    ("uar", 150.0), ("uar", -5.0), ("acc", 100.5), ("macro_f1", -0.1),
    ("demographic_parity", 101.0), ("equality_of_odds", -3.0),
])
def test_a_percent_metric_outside_0_to_100_breaks_the_record_contract(tmp_path, field, value):
    record = json.loads(lora_records(board_results(tmp_path))[0].read_text())
    assert problem(record) is None
    record["test"][field] = value
    assert problem(record) == f"test.{field} is {value}, not a percentage from 0 to 100" + (
        " or null" if field in ("demographic_parity", "equality_of_odds") else "")


def test_a_uar_of_150_is_left_out_of_the_leaderboard_and_reported(tmp_path):
    results = board_results(tmp_path)
    path = lora_records(results)[0]
    record = json.loads(path.read_text())
    record["test"]["uar"] = 150.0
    path.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match=r"test\.uar is 150\.0, not a percentage from 0 to 100"):
        assert main(["--leaderboard", "--results", str(results)]) == 0
    assert lora_group(results)["trainings"] == 4  # the other four still count; the impossible one does not
    assert f"- {path.relative_to(results).as_posix()}: test.uar is 150.0" in (results / "leaderboard.md").read_text()


def test_the_bounds_themselves_and_null_fairness_are_valid(tmp_path):
    results = board_results(tmp_path)
    record = json.loads(lora_records(results)[0].read_text())
    record["test"].update(uar=100.0, acc=0.0, demographic_parity=None)
    assert problem(record) is None


def test_an_evaluation_result_with_an_impossible_uar_is_refused():
    record = {"status": "ok", "upstream": "u", "method": "m", "task": "t", "training": "fold1", "key": "k",
              "evaluation": {"kind": "noise"}, "source": {"key": "c"},
              "results": [{"condition": {"noise": "white", "snr_db": 10}, "test": {"uar": 50.0}, "predictions": []}]}
    assert problem(record) is None
    record["results"].append({"condition": {"noise": "white", "snr_db": 5}, "test": {"uar": 150.0}, "predictions": []})
    assert "not a percentage in [0, 100]" in problem(record)
