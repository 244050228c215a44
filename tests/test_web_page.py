"""The leaderboard's web page (index.html) without a browser: written beside leaderboard.md from the
same board, its numbers leaderboard.json's own, its drill-down the records', its data inert."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from attribute_records import DIMS, SCALES, SPREAD, TRAININGS, write_attribute_results
from board_fixture import DATA, board_results, fixture_evaluations
from peftser.benchmark.report.leaderboard import load_board, versus_baseline
from peftser.benchmark.report.render_html import PAGE, SCRIPTS, WEB, page_data, render_page, script_json
from peftser.benchmark.report.sections import leaderboard_json
from peftser.cli import main
from peftser.downstream.tasks.attributes import is_attribute_task

NASTY = "</script><script>window.pwned=1</script> <!-- & \"quoted\" 'single'\nnext line \u2028 <img src=x onerror=alert(1)>"


def blocks(html: str) -> dict[str, object]:
    """The page's JSON blocks by id, parsed as the browser's JSON.parse would read them."""
    found = re.findall(r'<script type="application/json" id="([\w-]+)">(.*?)</script>', html, flags=re.S)
    return {name: json.loads(text) for name, text in found}


def test_leaderboard_writes_the_page_beside_the_markdown_from_the_same_numbers(tmp_path, capsys):
    results = board_results(tmp_path)
    assert main(["--leaderboard", "--results", str(results)]) == 0
    assert "index.html" in capsys.readouterr().out
    page = blocks((results / PAGE).read_text())
    # Every number the page shows of the tables is leaderboard.json's, embedded as it was written.
    assert page["leaderboard-data"] == json.loads((results / "leaderboard.json").read_text())
    assert page["page-data"]["footnotes"][0].startswith("Demo grid:")


def test_the_drilldown_is_each_records_own_figures(tmp_path):
    results = board_results(tmp_path)
    board, footnotes, _, rule = load_board(results)
    cells = {(c["upstream"], c["variant"], c["task"]): c for c in page_data(board, footnotes, [], "t", rule)["cells"]}
    records = [json.loads(p.read_text()) for p in (DATA / "records").glob("*/*.json")]
    for record in records:
        cell = cells[(record["upstream"], record["variant"], record["task"])]
        training = next(t for t in cell["trainings"] if t["training"] == record["training"])
        assert training["test"]["confusion"] == record["test"]["confusion"]
        assert training["dev"]["uar"] == record["dev"]["uar"] and training["best_epoch"] == record["best_epoch"]
        assert training["history"] == [[h["epoch"], h["dev_uar"]] for h in record["history"]]
        assert training["deviations"] == record["deviations"]
        assert training["cost"]["wall_time_s"] == record["wall_time_s"]
        assert training["classes"] == ["neutral", "happy", "sad", "angry"]
    # A group the demo grid expects but that has no record lists its missing trainings.
    empty = cells[("demo_whisper_base", "lora", "synthetic_iemocap")]
    assert empty["trainings"] == [] and empty["missing"] == ["fold1", "fold2", "fold3", "fold4", "fold5"]


def test_the_drilldown_carries_each_trainings_scores_beyond_the_paper(tmp_path):
    board, footnotes, _, _ = load_board(board_results(tmp_path))
    board.evaluations = fixture_evaluations(board)
    cell = next(c for c in page_data(board, footnotes, [], "t")["cells"]
                if (c["upstream"], c["variant"], c["task"]) == ("demo_whisper_tiny", "lora", "synthetic_crema_d"))
    run = next(r for r in board.runs[("synthetic_crema_d", "lora", "demo_whisper_tiny")] if r.training == "fold1")
    fold1 = next(t for t in cell["trainings"] if t["training"] == "fold1")
    assert fold1["transfer"] == [["synthetic_iemocap", run.uar - 5]]
    assert fold1["noise"] == [["clean", None, run.uar], ["white", 10.0, run.uar - 10], ["white", 0.0, run.uar - 20]]


def test_the_in_corpus_paired_tables_stay_in_the_json_beside_the_evaluations(tmp_path):
    # The evaluations' own paired tables used to replace the in-corpus ones under the same key.
    board, _, _, _ = load_board(board_results(tmp_path))
    board.evaluations = fixture_evaluations(board)
    data = json.loads(leaderboard_json(board, versus_baseline(board), "downstream"))
    assert {t["title"] for t in data["paired"]["tables"]} >= {"UAR, the four synthetic corpora", "UAR per corpus"}
    assert [t["title"] for t in data["paired_evaluations"]] == ["Cross-corpus UAR vs baseline", "Noise: UAR vs baseline at each SNR"]


def test_no_string_of_the_data_can_end_its_script_block_or_start_markup():
    text = script_json({"name": NASTY, NASTY: [NASTY]})
    assert not set("<>&") & set(text)
    assert json.loads(text) == {"name": NASTY, NASTY: [NASTY]}
    html = render_page(json.dumps({"groups": [{"variant": NASTY}]}), {"title": NASTY, "cells": [], "footnotes": [NASTY]})
    # The page's own script elements (two data blocks, its scripts) and nothing else; the data survives the round trip.
    assert html.count("<script") == 2 + len(SCRIPTS) == html.count("</script>")
    assert blocks(html)["page-data"]["footnotes"] == [NASTY]
    assert blocks(html)["leaderboard-data"]["groups"][0]["variant"] == NASTY


def test_the_page_needs_nothing_from_the_network_and_never_parses_data_as_markup(tmp_path):
    results = board_results(tmp_path)
    assert main(["--leaderboard", "--results", str(results)]) == 0
    html = (results / PAGE).read_text()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in policy and "connect-src" not in policy  # no fetch, no font, no frame
    assert not re.search(r"(src|href)=\"(https?:)?//", html) and "@import" not in html and "url(" not in html
    assert policy.count("'sha256-") == len(SCRIPTS) + 1  # each script and the style, allowed by its hash alone
    for name in SCRIPTS:
        script = (WEB / name).read_text()
        assert f"<script>{script}</script>" in html  # inlined: the page opens from the disk alone
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in script, (name, sink)
    # The package ships the page's files (package data), so an installed copy writes the same page.
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"peftser.benchmark.report" = ["web/*"]' in pyproject


def test_a_failed_training_is_listed_in_its_cells_drilldown_with_its_error(tmp_path):
    results = board_results(tmp_path)
    path = next((results / "records").glob("*/*.json"))
    record = json.loads(path.read_text())
    identity = {k: record[k] for k in ("key", "label", "cell", "config", "upstream", "method", "variant", "task", "training")}
    path.write_text(json.dumps({**identity, "status": "failed", "error": "RuntimeError: <boom>\nsecond line",
                                "traceback": "Traceback (most recent call last):\n  ...\nRuntimeError: <boom>"}))
    board, footnotes, _, _ = load_board(results)
    cell = next(c for c in page_data(board, footnotes, [], "t")["cells"]
                if (c["upstream"], c["variant"], c["task"]) == (record["upstream"], record["variant"], record["task"]))
    assert cell["failed"] == [{"training": record["training"], "key": record["key"], "error": "RuntimeError: <boom> [...]"}]
    assert record["training"] not in [t["training"] for t in cell["trainings"]] and len(cell["trainings"]) == 4


# -- the attribute part ----------------------------------------------------------------------------------
def attribute_board(tmp_path):
    """The board fixture's categorical records with the hand-written attribute trainings beside them,
    one of those rewritten as failed."""
    results = board_results(tmp_path)
    write_attribute_results(results)
    path = sorted((results / "records" / "synthetic_iemocap_dims").glob("*.json"))[0]
    record = json.loads(path.read_text())
    identity = {k: record[k] for k in ("key", "label", "cell", "config", "upstream", "method", "variant", "task", "training")}
    path.write_text(json.dumps({**identity, "status": "failed", "error": "RuntimeError: diverged\nmore",
                                "traceback": "Traceback (most recent call last):\n  ...\nRuntimeError: diverged"}))
    return results, record


def test_an_attribute_trainings_drilldown_is_its_records_ccc_r_rmse_and_dev_mean_ccc_per_epoch(tmp_path):
    results, failed = attribute_board(tmp_path)
    board, footnotes, _, rule = load_board(results)
    data = page_data(board, footnotes, [], "t", rule)
    assert not [c for c in data["cells"] if is_attribute_task(c["task"])]  # never among the UAR cells
    cells = {(c["upstream"], c["variant"], c["task"]): c for c in data["attribute_cells"]}
    assert {c["task"] for c in cells.values()} == set(SCALES) and {c["variant"] for c in cells.values()} == set(SPREAD)
    records = [json.loads(p.read_text()) for p in (results / "records").glob("*/*.json")]
    rated = [r for r in records if r.get("kind") == "attributes"]
    evaluations = [json.loads(p.read_text()) for p in (results / "evaluations").glob("*/*.json")]
    assert len(rated) == 7
    for record in rated:
        training = next(t for t in cells[(record["upstream"], record["variant"], record["task"])]["trainings"]
                        if t["training"] == record["training"])
        for split, metric in itertools.product(("test", "dev"), ("ccc", "r", "rmse", "mean_ccc")):
            assert training[split][metric] == record[split][metric], (split, metric)
        assert "confusion" not in training["test"] and training["classes"] == list(DIMS)
        assert training["history"] == [[h["epoch"], h["dev_mean_ccc"]] for h in record["history"]] and training["best_epoch"] == 3
        # Beyond the paper: its mean CCC on the other task and under noise, as its evaluation records scored it.
        own = {e["evaluation"]["kind"]: e for e in evaluations if e["source"]["key"] == record["key"]}
        other = own["transfer"]["evaluation"]["test_task"]
        assert training["transfer"] == [[other, pytest.approx(own["transfer"]["results"][0]["test"]["mean_ccc"])]]
        assert training["noise"] == [[r["condition"]["noise"], r["condition"]["snr_db"], pytest.approx(r["test"]["mean_ccc"])]
                                     for r in own["noise"]["results"]]
    cell = cells[(failed["upstream"], failed["variant"], failed["task"])]
    assert cell["failed"] == [{"training": failed["training"], "key": failed["key"], "error": "RuntimeError: diverged [...]"}]
    assert [t["training"] for t in cell["trainings"]] == [t for t in TRAININGS[failed["task"]] if t != failed["training"]]


def test_a_categorical_boards_page_has_no_attribute_part(tmp_path):
    board, footnotes, _, rule = load_board(board_results(tmp_path))
    assert page_data(board, footnotes, [], "t", rule)["attribute_cells"] == []
    assert "attributes" not in json.loads(leaderboard_json(board, versus_baseline(board), "downstream"))


def test_the_attribute_json_holds_what_the_page_shows_the_mean_ccc_over_tasks_and_the_counts(tmp_path):
    results, _ = attribute_board(tmp_path)
    assert main(["--leaderboard", "--results", str(results)]) == 0
    data = json.loads((results / "leaderboard.json").read_text())["attributes"]
    assert data["records"] == {"ok": 7, "failed": 1, "missing": 0}
    assert [g["method"] for g in data["groups"]] == [g["variant"] for g in data["groups"]]
    assert data["statistics"]["level"] == 0.95 and data["statistics"]["resamples"] > 0
    groups = {(g["upstream"], g["variant"], g["task"]): g for g in data["groups"]}
    markdown = (results / "leaderboard.md").read_text()
    assert len(data["overall"]) == len(SPREAD)
    for row in data["overall"]:
        means = [groups[(row["upstream"], row["variant"], task)]["mean_ccc"]["mean"] for task in row["corpora"]]
        assert row["corpus_means"] == dict(zip(row["corpora"], means)) and row["complete"]
        assert (row["mean"], row["std"]) == (pytest.approx(np.mean(means)), pytest.approx(np.std(means)))
        assert f"{row['mean']:.3f} ± {row['std']:.3f}" in markdown  # the markdown's own "mean ± std over tasks"
