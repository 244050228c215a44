"""The leaderboard's paired comparisons with the baseline: recomputed by hand, in the JSON, markers, --baseline, --compare."""

import json
import shutil

import pytest

from fake_records import TRAININGS, WAVLM_LORA, fill, grid, make_record, table_after
from peftser.benchmark.report.leaderboard import build_leaderboard, leaderboard_command, write_leaderboard


PAPER = "The paper's four corpora"


def paired_table(data: dict, title: str) -> dict[tuple[str, str, str], dict]:
    """A leaderboard.json paired table as {(upstream, variant, metric): comparison}."""
    table = next(t for t in data["paired"]["tables"] if t["title"] == title)
    return {(c["method"]["upstream"], c["method"]["variant"], c["metric"]): c for c in table["comparisons"]}


def test_paired_section_recomputes_by_hand(board):
    _, markdown = board
    assert markdown.index("## Overall UAR") < markdown.index("## Method vs baseline (paired)") < markdown.index(
        "## UAR per corpus")
    rows = table_after(markdown, "### UAR, the paper's four corpora")
    # d = lora - downstream per training: iemocap 20, 21, 22; msp_improv 10, 13; crema_d 30, 31;
    # msp_podcast 15, 18 -> corpus means 21, 11.5, 30.5, 16.5 -> 19.875 (= 60.50 - 40.625, Table V).
    wavlm = rows["wavlm_base_plus"]
    assert wavlm["method"] == "lora" and wavlm["paired"] == "9"
    assert wavlm["Δ UAR [95 % CI]"].startswith("+19.88 [") and wavlm["Δ UAR [95 % CI]"].endswith("▲")
    assert wavlm["p (Holm)"] == "0.004 (0.008)"  # 2/2^9 exact, x2 comparisons in the table
    assert wavlm["P(improve) [95 % CI]"] == "1.00 [1.00, 1.00]"
    # whisper_tiny: equal scores everywhere; fold3 failed for downstream, seed2 missing for lora.
    tiny = rows["whisper_tiny"]
    assert tiny["paired"] == "7 (2 unmatched)"
    assert tiny["Δ UAR [95 % CI]"] == "+0.00 [+0.00, +0.00]" and tiny["p (Holm)"] == "1.000 (1.000)"
    assert "Holm-adjusted across the 2 test(s) of this table" in markdown
    assert "with 5 units even a gain on every training gives p = 0.0625" in markdown
    assert "](forest_uar.png)" in markdown


def test_leaderboard_json_holds_the_same_statistics(board):
    results, _ = board
    data = json.loads((results / "leaderboard.json").read_text())
    assert data["baseline"] == "downstream" and data["records"] == {"ok": 34, "failed": 1, "unreadable": 0, "missing": 1}
    uar = paired_table(data, "UAR, the paper's four corpora")
    wavlm = uar[("wavlm_base_plus", "lora", "uar")]
    assert wavlm["effect"] == pytest.approx(19.875) and wavlm["paired_units"] == 9
    assert wavlm["p"] == 2 / 2**9 and wavlm["p_exact"] and wavlm["p_holm"] == 4 / 2**9
    assert wavlm["ci"][0] > 0 and wavlm["p_improve"] == 1.0 and wavlm["baseline"]["variant"] == "downstream"
    tiny = uar[("whisper_tiny", "lora", "uar")]
    assert tiny["unmatched"] == {"method_only": ["iemocap/fold3"], "baseline_only": ["msp_podcast/seed2"]}
    assert tiny["paired_units"] == 7
    per_corpus = next(t for t in data["paired"]["tables"] if t["title"] == "UAR per corpus")["comparisons"]
    wavlm = {c["scope"]: c for c in per_corpus if c["method"]["upstream"] == "wavlm_base_plus"}
    assert list(wavlm) == list(TRAININGS)  # one comparison per corpus, in the paper's order
    assert wavlm["iemocap"]["effect"] == 21.0 and wavlm["iemocap"]["p"] == 0.25  # 3 units: 2/2^3 at best
    assert wavlm["iemocap"]["smallest_possible_p"] == 0.25 and wavlm["iemocap"]["p_holm"] == 1.0
    overall = next(o for o in data["overall"] if (o["upstream"], o["variant"]) == ("wavlm_base_plus", "lora"))
    assert overall["mean"] == pytest.approx(60.5) and overall["family"] == PAPER
    group = next(g for g in data["groups"] if (g["task"], g["upstream"], g["variant"]) == ("iemocap", "whisper_tiny", "downstream"))
    assert (group["trainings"], group["expected"], group["uar"]["mean"]) == (2, 3, 40.5)


def test_regenerating_gives_identical_files(board):
    results, markdown = board
    names = ["leaderboard.md", "leaderboard.json", "forest_uar.png", "uar_vs_params.png"]
    before = {name: (results / name).read_bytes() for name in names}
    write_leaderboard(results, expected_cells=grid(), footnotes=["Whisper runs on the real input length."])
    assert {name: (results / name).read_bytes() for name in names} == before
    assert before["leaderboard.md"].decode() == markdown


def test_fairness_markers_and_the_stated_sign():
    # lora is 2 points fairer in demographic parity and 3 in equality of odds on every training.
    records = [make_record(c, 50.0, dp=8.0 if c.method == "lora" else 10.0, eo=12.0 if c.method == "lora" else 15.0)
               for c in grid()]
    markdown = build_leaderboard(records, expected=grid())
    fairness = table_after(markdown, "### wavlm_base_plus")  # Table VI analogue
    assert fairness["lora"]["mean over corpora"] == "8.00 ▼ / 12.00 ▼ / –"  # p = 2/2^9, x4 tests: 0.016
    assert fairness["lora"]["iemocap"] == "8.00 / 12.00 / –"  # 3 trainings: p >= 0.25 per corpus
    assert fairness["downstream"]["mean over corpora"] == "10.00 / 15.00 / –"
    paired = table_after(markdown, "### Fairness, the paper's four corpora")
    assert paired["wavlm_base_plus"]["Δ DP [95 % CI]"] == "-2.00 [-2.00, -2.00] ▼"
    assert paired["wavlm_base_plus"]["Δ EO [95 % CI]"] == "-3.00 [-3.00, -3.00] ▼"
    assert paired["wavlm_base_plus"]["P(fairer) [95 % CI]"] == "1.00 [1.00, 1.00]"
    assert "a negative Δ means the method is fairer than the baseline" in markdown
    # UAR is equal everywhere: no UAR marker.
    assert "▲" not in table_after(markdown, "### The paper's four corpora")["lora"]["wavlm_base_plus"]


def test_a_comparison_missing_a_corpus_is_not_marked():
    # lora is 1 point better everywhere, but downstream has no crema_d record: 7 units in 3 corpora.
    records = [make_record(c, 50.0 + (c.method == "lora")) for c in grid()
               if not (c.task == "crema_d" and c.method == "downstream")]
    markdown = build_leaderboard(records, expected=grid())
    row = table_after(markdown, "### UAR, the paper's four corpora")["wavlm_base_plus"]
    assert row["paired"] == "7 (2 unmatched, 3/4 corpora)" and row["p (Holm)"] == "0.016 (0.031)"
    assert row["Δ UAR [95 % CI]"] == "+1.00 [+1.00, +1.00]"  # significant over 3 corpora, but no marker
    assert "▲" not in table_after(markdown, "### The paper's four corpora")["lora"]["wavlm_base_plus"]
    assert "No cell of this table reaches it." in markdown


def test_baseline_option_changes_the_reference(tmp_path, capsys):
    records = [make_record(c, WAVLM_LORA[c.task][TRAININGS[c.task].index(c.training)]
                           if (c.upstream, c.method) == ("wavlm_base_plus", "lora") else 40.0) for c in grid()]
    markdown = build_leaderboard(records, expected=grid(), baseline="lora")
    assert "metric(baseline: lora)" in markdown
    rows = table_after(markdown, "### UAR, the paper's four corpora")
    assert rows["wavlm_base_plus"]["method"] == "downstream"
    assert rows["wavlm_base_plus"]["Δ UAR [95 % CI]"].startswith("-20.50 [")  # 40 - 60.5
    assert table_after(markdown, "### The paper's four corpora")["downstream"]["wavlm_base_plus"].endswith("▼")
    # Without the baseline's records the section says why; an unknown --baseline is a CLI error.
    markdown = build_leaderboard([r for r in records if r["method"] != "downstream"])
    assert "No paired comparison: the baseline 'downstream' has no records here" in markdown
    results = tmp_path / "results"
    fill(results)
    assert leaderboard_command(str(results), baseline="nope") == 2
    assert "--baseline nope: no variant of that name" in capsys.readouterr().err
    assert leaderboard_command(str(results), baseline="lora") == 0
    assert json.loads((results / "leaderboard.json").read_text())["baseline"] == "lora"


def test_compare_two_variants_and_two_directories(board, tmp_path, capsys):
    from peftser.cli import main as cli

    results, _ = board
    assert cli(["--compare", "lora", "downstream", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| wavlm_base_plus/lora"))
    assert "+19.88 [" in row and "0.004 (0.008)" in row
    assert cli(["--compare", "wavlm_base_plus/lora", "downstream", "--results", str(results), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (only,) = data["tables"][0]["comparisons"]
    assert only["effect"] == pytest.approx(19.875) and only["p_holm"] == 2 / 2**9  # one test: no correction
    # A regression check: the same records with wavlm_base_plus/lora one point lower on every training.
    older = tmp_path / "older"
    shutil.copytree(results / "records", older / "records")
    for path in (older / "records").glob("*/*.json"):
        record = json.loads(path.read_text())
        if (record.get("upstream"), record.get("method")) == ("wavlm_base_plus", "lora"):
            record["test"]["uar"] -= 1.0
            path.write_text(json.dumps(record))
    assert cli(["--compare", str(results), str(older), "--json"]) == 0
    table = paired_table({"paired": json.loads(capsys.readouterr().out)}, "UAR, the paper's four corpora")
    assert table[("wavlm_base_plus", "lora", "uar")]["effect"] == pytest.approx(1.0)
    assert table[("wavlm_base_plus", "lora", "uar")]["p"] == 2 / 2**9
    assert table[("wavlm_base_plus", "downstream", "uar")]["effect"] == 0.0
    assert table[("whisper_tiny", "downstream", "uar")]["unmatched"]["method_only"] == []
    # Bad input: one line, exit code 2.
    assert cli(["--compare", "lora", "nope", "--results", str(results)]) == 2
    assert "--compare nope: no variant of that name" in capsys.readouterr().err
    assert cli(["--compare", str(results), "lora"]) == 2
    assert "is a directory, lora is not" in capsys.readouterr().err
