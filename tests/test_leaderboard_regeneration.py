"""--leaderboard on a fixed set of records: byte-identical files, no torch, and nothing below the CLI reads it.

``tests/data/board`` holds 15 records of the demo grid's demo_whisper_tiny x synthetic_crema_d slice
(downstream, adapter, LoRA over the five folds) with the grids.json of that run, and the
leaderboard.md / leaderboard.json that the code of the time wrote from them. Any change to how
records are read, grouped, averaged or rendered shows up here as a byte difference.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from board_fixture import DATA, board_results
from peftser.cli import main

PACKAGE = Path(__file__).resolve().parents[1] / "peftser"



def test_leaderboard_regenerates_byte_identical_files(tmp_path, capsys):
    results = board_results(tmp_path)
    assert main(["--leaderboard", "--results", str(results)]) == 0
    for name in ("leaderboard.md", "leaderboard.json"):
        assert (results / name).read_bytes() == (DATA / "expected" / name).read_bytes(), name
    assert "15 records; expected cells from grid(s) demo" in capsys.readouterr().out


def test_records_with_the_references_demographic_parity_show_it_beside_the_others(tmp_path):
    # The fixture's records predate the field (their cells show "–"); recomputed from their own
    # predictions, the table shows its mean over the trainings as the third figure.
    from peftser.benchmark.metrics import metrics_from_predictions

    results = board_results(tmp_path)
    values = []
    for path in (results / "records").glob("*/*.json"):
        record = json.loads(path.read_text())
        if record["method"] == "lora":
            value = metrics_from_predictions(record["predictions"])["reference_demographic_parity"]
            record["test"]["reference_demographic_parity"] = value
            values.append(value)
            path.write_text(json.dumps(record))
    assert main(["--leaderboard", "--results", str(results)]) == 0
    row = [line for line in (results / "leaderboard.md").read_text().splitlines() if line.startswith("| lora ")]
    fairness_row = [line for line in row if " / " in line][0]
    assert f"/ {sum(values) / len(values):.2f}" in fairness_row
    table = json.loads((results / "leaderboard.json").read_text())
    lora = [g for g in table["groups"] if (g["task"], g["variant"], g["upstream"]) == ("synthetic_crema_d", "lora", "demo_whisper_tiny")][0]
    assert abs(lora["reference_demographic_parity"] - sum(values) / len(values)) < 1e-9


def test_the_fixture_is_what_the_tables_say():
    # The expected files are not empty shells: they hold the records' own numbers.
    records = [json.loads(p.read_text()) for p in (DATA / "records").glob("*/*.json")]
    table = json.loads((DATA / "expected" / "leaderboard.json").read_text())
    lora = [g for g in table["groups"] if (g["task"], g["variant"], g["upstream"]) == ("synthetic_crema_d", "lora", "demo_whisper_tiny")][0]
    uars = [r["test"]["uar"] for r in records if r["method"] == "lora"]
    assert lora["trainings"] == len(uars) == 5
    assert abs(lora["uar"]["mean"] - sum(uars) / len(uars)) < 1e-9
    # The cost table: these records predate the measured costs, so only hours, parameters and sizes.
    cost = [c for c in table["cost"] if c["variant"] == "lora"][0]
    hours = sum(r["wall_time_s"] for r in records if r["method"] == "lora") / 3600
    assert abs(cost["device_hours"] - hours) < 1e-12 and cost["median_peak_memory_mb"] is None


def test_leaderboard_and_compare_import_no_torch(tmp_path):
    results = board_results(tmp_path)
    code = (
        "import sys\nfrom peftser.cli import main\n"
        f"assert main(['--leaderboard', '--results', {str(results)!r}]) == 0\n"
        f"assert main(['--compare', 'lora', 'downstream', '--results', {str(results)!r}]) == 0\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)\n"
        "print('heavy:', ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "heavy:"


def test_nothing_below_the_cli_reads_the_command_line():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py" and path.parent == PACKAGE:
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in ("from peftser.cli import", "import peftser.cli", "from peftser import cli", "argparse"):
            assert pattern not in text, f"{path.relative_to(PACKAGE.parent)} uses {pattern!r}"


def test_the_validator_accepts_records_without_the_references_demographic_parity_and_checks_it_when_there():
    from peftser.benchmark.record import problem

    record = json.loads(next((DATA / "records").glob("*/*.json")).read_text())
    assert "reference_demographic_parity" not in record["test"] and problem(record) is None
    for value, fine in ((12.5, True), (None, True), ("12", False), (float("nan"), False)):
        record["test"]["reference_demographic_parity"] = value
        assert (problem(record) is None) == fine, value
