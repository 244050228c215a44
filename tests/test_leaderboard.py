"""The leaderboard regenerated from well-formed fake run records: numbers, holes, notes, plots."""

from pathlib import Path

import numpy as np
import pytest

from peftser.benchmark.report.leaderboard import (
    backbone_sort_key,
    build_leaderboard,
    corpus_sort_key,
    load_records,
    leaderboard_command,
    method_sort_key,
    write_leaderboard,
)

from fake_records import TRAININGS, WAVLM_LORA, fill, grid, make_cell, make_record, save, table_after

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


def test_per_corpus_numbers_recompute_by_hand(board):
    _, markdown = board
    iemocap = table_after(markdown, "### iemocap")
    assert iemocap["lora"]["wavlm_base_plus"] == "62.00 ± 1.63"  # sqrt(8/3), population std
    msp_improv = table_after(markdown, "### msp_improv")
    assert msp_improv["lora"]["wavlm_base_plus"] == "52.00 ± 2.00"
    for task, values in WAVLM_LORA.items():
        assert table_after(markdown, f"### {task}")["lora"]["wavlm_base_plus"] == mean_std(values)


def test_incomplete_groups_show_their_count(board):
    _, markdown = board
    assert table_after(markdown, "### iemocap")["downstream"]["whisper_tiny"] == "40.50 ± 0.50 (2/3)"  # fold3 failed
    assert table_after(markdown, "### msp_podcast")["lora"]["whisper_tiny"] == "40.00 ± 0.00 (1/2)"  # seed2 missing
    assert table_after(markdown, "### iemocap")["downstream"]["wavlm_base_plus"] == "41.00 ± 0.82"


def test_overall_table_is_mean_of_corpus_means(board):
    _, markdown = board
    overall = table_after(markdown, "### The paper's four corpora")
    corpus_means = [np.mean(v) for v in WAVLM_LORA.values()]  # 62, 52, 71, 57
    # ▲: lora beats downstream (40-42) on all 9 paired trainings, p = 2/2^9 before Holm's x2.
    assert overall["lora"]["wavlm_base_plus"] == "60.50 ± 7.02 ▲" == mean_std(corpus_means) + " ▲"
    # A corpus mean over fewer trainings than expected is flagged, not silently averaged.
    assert overall["downstream"]["whisper_tiny"].endswith("†")
    assert overall["lora"]["whisper_tiny"].endswith("†")
    assert not overall["downstream"]["wavlm_base_plus"].endswith("†")
    assert "mean over the 4 corpora" in markdown and "population standard deviation" in markdown


def test_rows_and_columns_follow_the_paper_order(board):
    _, markdown = board
    section = markdown.split("### iemocap", 1)[1]
    header = next(line for line in section.splitlines() if line.startswith("|"))
    assert header.index("whisper_tiny") < header.index("wavlm_base_plus")
    assert section.index("| downstream") < section.index("| lora")
    positions = [markdown.index(f"### {task}") for task in ("iemocap", "msp_improv", "crema_d", "msp_podcast")]
    assert positions == sorted(positions)


def test_failed_and_missing_are_listed(board):
    _, markdown = board
    problems = markdown.split("## Missing, failed and unreadable records", 1)[1]
    assert "whisper_tiny/lora/msp_podcast: 1 of 2: seed2" in problems
    assert "whisper_tiny/downstream/iemocap/fold3" in problems and "RuntimeError: boom on fold3" in problems
    assert "1 failed" in markdown and "1 expected training(s) without a record" in markdown


def test_fairness_and_parameter_tables(board):
    _, markdown = board
    fairness = table_after(markdown, "### wavlm_base_plus")
    assert fairness["lora"]["iemocap"] == "12.00 / 21.00 / –"
    assert fairness["lora"]["crema_d"] == "10.00 / 15.00 / –"
    params = table_after(markdown, "## Trainable parameters (Table IV analogue)")
    assert params["whisper_tiny"]["lora"] == "370.0 k"
    assert params["whisper_tiny"]["downstream model"] == "400.0 k"
    assert params["whisper_tiny"]["encoder (frozen)"] == "94.70 M"


def test_footnotes_are_printed(board):
    _, markdown = board
    assert "1. Whisper runs on the real input length." in markdown


def test_plots_exist_are_png_and_are_linked(board):
    results, markdown = board
    names = [f"uar_by_backbone_{t}.png" for t in TRAININGS] + ["uar_vs_params.png", "fairness_vs_uar.png",
                                                              "forest_uar.png"]
    for name in names:
        data = (results / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert f"]({name})" in markdown
    assert not list(results.glob("ablation_*.png"))  # no ablation records


def test_overall_is_incomplete_when_a_corpus_is_missing(tmp_path):
    records = [make_record(c, 60.0) for c in grid() if c.task != "crema_d"]
    markdown = build_leaderboard(records)
    overall = table_after(markdown, "### The paper's four corpora")
    assert overall["lora"]["wavlm_base_plus"] == "incomplete (3/4 corpora)"
    # With the grid as expected cells, the missing corpus is also listed and counted.
    markdown = build_leaderboard(records, expected=[c.to_dict() for c in grid()])
    overall = table_after(markdown, "### The paper's four corpora")
    assert overall["lora"]["wavlm_base_plus"] == "incomplete (3/4 corpora)"
    assert table_after(markdown, "### crema_d")["lora"]["wavlm_base_plus"] == "– (0/2)"
    assert "- crema_d: no record at all (4 method/backbone groups)" in markdown
    # One backbone missing everywhere on one corpus is one line; a single hole names its trainings.
    records = [r for r in records if not (r["upstream"] == "whisper_tiny" and r["task"] == "iemocap")]
    records = [r for r in records if r["label"] != "wavlm_base_plus/lora/msp_improv/fold2"]
    markdown = build_leaderboard(records, expected=grid())
    assert "- whisper_tiny/iemocap: no record for any of its 2 methods/variants" in markdown
    assert "- wavlm_base_plus/lora/msp_improv: 1 of 2: fold2" in markdown


def test_expected_cells_may_be_labels(tmp_path):
    cells = grid()
    records = [make_record(c, 60.0) for c in cells if c.training != "fold2"]
    markdown = build_leaderboard(records, expected=[c.label for c in cells])
    assert table_after(markdown, "### iemocap")["lora"]["wavlm_base_plus"] == "60.00 ± 0.00 (2/3)"
    with pytest.raises(ValueError, match="not upstream/variant/task/training"):
        build_leaderboard(records, expected=["wavlm_base_plus/lora/iemocap"])


def test_ablation_tables_and_plot(tmp_path):
    results = tmp_path / "results"
    fill(results)
    ranks = {"lora_r16": (16, [61.0, 63.0, 65.0]), "lora_r32": (32, [58.0, 58.0, 61.0])}
    for variant, (rank, values) in ranks.items():
        for training, value in zip(TRAININGS["iemocap"], values):
            cell = make_cell("wavlm_base_plus", "lora", "iemocap", training, variant=variant, rank=rank)
            save(results, make_record(cell, value, method_params=370_000 * rank // 8))
    markdown = write_leaderboard(results, expected_cells=grid()).read_text()
    ablation = markdown.split("## Ablations", 1)[1].split("\n## ", 1)[0]  # up to the next section
    rows = table_after(ablation, "### lora")  # keyed by backbone: check the two variant rows
    lines = [line for line in ablation.split("### lora", 1)[1].splitlines() if line.startswith("| wavlm_base_plus")]
    assert [line.split("|")[2].strip() for line in lines] == ["lora_r16", "lora_r32"]
    assert mean_std([61.0, 63.0, 65.0]) in lines[0] and "740.0 k" in lines[0]
    assert mean_std([58.0, 58.0, 61.0]) in lines[1] and "1.48 M" in lines[1]
    assert "wavlm_base_plus" in rows
    assert "lora_r16" not in markdown.split("## Ablations", 1)[0]  # ablations stay out of the main tables
    assert (results / "ablation_lora.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "](ablation_lora.png)" in markdown
    assert "Records outside the expected grid (6)" in markdown


def test_corrupt_record_is_a_warning_and_a_note(tmp_path):
    results = tmp_path / "results"
    fill(results)
    (results / "records" / "iemocap" / "broken.json").write_text('{"status": "ok", "test": {"ua')
    (results / "records" / "iemocap" / "partial.json").write_text('{"status": "ok", "task": "iemocap"}')
    with pytest.warns(UserWarning) as caught:
        records = load_records(results)
    assert sorted(Path(str(w.message).split(":")[0]).name for w in caught) == ["broken.json", "partial.json"]
    assert {r["path"] for r in records if r["status"] == "unreadable"} == {
        "records/iemocap/broken.json", "records/iemocap/partial.json"}
    with pytest.warns(UserWarning) as caught:
        markdown = write_leaderboard(results).read_text()
    assert len(caught) == 2
    unreadable = markdown.split("Unreadable records (2)", 1)[1]
    assert "records/iemocap/broken.json: cannot be read as JSON" in unreadable
    assert "records/iemocap/partial.json: ok record without upstream" in unreadable


def test_sort_keys():
    methods = ["zeta", "lora", "adapter", "downstream", "embedding_prompt", "parallel_adapter"]
    assert sorted(methods, key=method_sort_key) == [
        "downstream", "adapter", "parallel_adapter", "embedding_prompt", "lora", "zeta"]
    demo = ["demo_wavlm_base_plus", "demo_whisper_small", "demo_wav2vec2_base", "demo_whisper_tiny",
            "demo_whisper_base"]
    assert sorted(demo, key=backbone_sort_key) == [
        "demo_whisper_tiny", "demo_whisper_base", "demo_whisper_small", "demo_wav2vec2_base", "demo_wavlm_base_plus"]
    corpora = ["synthetic_msp_podcast", "my_corpus", "msp_podcast", "synthetic_iemocap", "crema_d", "iemocap"]
    assert sorted(corpora, key=corpus_sort_key) == [
        "iemocap", "crema_d", "msp_podcast", "synthetic_iemocap", "synthetic_msp_podcast", "my_corpus"]


def test_cli_main(tmp_path, capsys):
    results = tmp_path / "results"
    fill(results)
    # No grid ran here (single trainings): the tables fall back to the records' own groups.
    assert leaderboard_command(str(results)) == 0
    assert "no grid ran here" in capsys.readouterr().out
    assert (results / "leaderboard.md").read_text().startswith("# Leaderboard")
    assert leaderboard_command(str(tmp_path / "absent")) == 2
    err = capsys.readouterr().err
    assert "absent" in err and "holds no run records" in err
    # The default directory holds each grid's results in a subfolder: the error points there.
    assert leaderboard_command(str(tmp_path)) == 2
    assert str(results) in capsys.readouterr().err


def test_a_shared_configuration_counts_under_every_expected_name():
    # The ablation's lora_r8 is the full grid's lora (same configuration, same key): a record
    # written under one name fills both, and is not "outside the grid".
    main_cells = grid()
    alias = [make_cell(c.upstream, c.method, c.task, c.training, variant="lora_r8")
             for c in main_cells if c.method == "lora" and c.upstream == "wavlm_base_plus"]
    assert {c.key for c in alias} <= {c.key for c in main_cells}
    records = []
    for cell in main_cells:
        value = WAVLM_LORA[cell.task][TRAININGS[cell.task].index(cell.training)] if cell in alias or (
            cell.method == "lora" and cell.upstream == "wavlm_base_plus") else 40.0
        records.append(make_record(cell, value))
    markdown = build_leaderboard(records, expected=main_cells + alias)
    assert table_after(markdown, "### iemocap")["lora"]["wavlm_base_plus"] == "62.00 ± 1.63"
    row = next(line for line in markdown.split("## Ablations", 1)[1].splitlines() if "| lora_r8" in line)
    assert "62.00 ± 1.63" in row and "60.50 ± 7.02" in row
    assert "outside the expected grid" not in markdown and "Missing: none." in markdown


def test_cli_uses_the_grids_that_ran_into_the_directory(tmp_path, capsys):
    from peftser.benchmark.grids import load_grid
    from peftser.benchmark.store import ResultStore

    demo = load_grid("demo")
    cell = demo.cells()[0]
    results = tmp_path / "results"
    save(results, make_record(cell, 30.0))
    ResultStore(results).remember_grid(demo)
    assert leaderboard_command(str(results)) == 0
    assert "grid(s) demo" in capsys.readouterr().out
    markdown = (results / "leaderboard.md").read_text()
    assert f"{len(demo.cells()) - 1} expected training(s) without a record" in markdown
    assert demo.footnotes()[0] in markdown


def test_ablation_only_records_make_only_ablation_tables():
    records = [make_record(make_cell("wavlm_base_plus", "adapter", "iemocap", t, variant=f"adapter_b{b}", bottleneck=b),
                           50.0 + b / 32) for b in (32, 64) for t in TRAININGS["iemocap"]]
    markdown = build_leaderboard(records)
    assert "## Overall" not in markdown and "## UAR per corpus" not in markdown and "vs baseline" not in markdown
    lines = [line for line in markdown.split("### adapter", 1)[1].splitlines() if line.startswith("| wavlm")]
    assert ["adapter_b32" in lines[0], "adapter_b64" in lines[1]] == [True, True]
    assert "51.00 ± 0.00" in lines[0] and "52.00 ± 0.00" in lines[1]


# -- paired comparisons against the baseline ---------------------------------------------------------
