"""--compare on damaged or ambiguous results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from peftser.cli import main

DATA = Path(__file__).resolve().parent / "data" / "board"


def results_dir(tmp_path: Path, name: str = "results") -> Path:
    results = tmp_path / name
    results.mkdir()
    shutil.copytree(DATA / "records", results / "records")
    shutil.copy(DATA / "grids.json", results / "grids.json")
    return results


def records(results: Path, method: str) -> list[Path]:
    return sorted(p for p in results.glob("records/*/*.json") if json.loads(p.read_text())["method"] == method)


def strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_a_variant_holding_two_configurations_is_refused_not_averaged(tmp_path, capsys):
    results = results_dir(tmp_path)
    for path in records(results, "lora")[:2]:  # a second grid's lora (another rank), named alike
        record = json.loads(path.read_text())
        record["key"] = "f" + path.stem[1:]
        record["test"]["uar"] = 10.0
        (path.parent / f"{record['key']}.json").write_text(json.dumps(record))
    assert main(["--compare", "lora", "downstream", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "variant lora on demo_whisper_tiny holds 2 configurations" in err
    # named the other way round, and as UPSTREAM/VARIANT, it is refused too
    assert main(["--compare", "downstream", "demo_whisper_tiny/lora", "--results", str(results)]) == 2
    assert "holds 2 configurations" in capsys.readouterr().err


def test_two_directories_with_a_mixed_variant_are_refused(tmp_path, capsys):
    new, old = results_dir(tmp_path, "new"), results_dir(tmp_path, "old")
    path = records(old, "adapter")[0]
    record = json.loads(path.read_text())
    record["key"] = "0" * 16
    (path.parent / f"{record['key']}.json").write_text(json.dumps(record))
    assert main(["--compare", str(new), str(old)]) == 2
    assert "variant adapter on demo_whisper_tiny holds 2 configurations in " + str(old) in capsys.readouterr().err


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", '"x"'])
def test_compare_leaves_out_a_non_finite_uar_and_emits_strict_json(tmp_path, capsys, value):
    results = results_dir(tmp_path)
    path = records(results, "lora")[0]
    path.write_text(path.read_text().replace('"uar": ', f'"uar": {value}, "was": ', 1))
    with pytest.warns(UserWarning, match="test.uar") as warned:
        assert main(["--compare", "lora", "downstream", "--results", str(results), "--json"]) == 0
    assert str(path) in str(warned[0].message)
    strict_json(capsys.readouterr().out)
    assert main(["--compare", "lora", "downstream", "--results", str(results)]) == 0
    text = capsys.readouterr().out.lower()
    assert "nan" not in text and "inf" not in text


def test_compare_with_a_single_paired_training_prints_no_nan(tmp_path, capsys):
    results = results_dir(tmp_path)
    for method in ("lora", "downstream"):
        for path in records(results, method)[1:]:
            path.unlink()
    assert main(["--compare", "lora", "downstream", "--results", str(results), "--json"]) == 0
    strict_json(capsys.readouterr().out)
    assert main(["--compare", "lora", "downstream", "--results", str(results)]) == 0
    assert "nan" not in capsys.readouterr().out.lower()


@pytest.mark.parametrize("folder", ["lora", "adapter"])
def test_a_folder_named_like_a_variant_does_not_make_it_a_directory_with_results_given(tmp_path, capsys, monkeypatch, folder):
    results = results_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / folder).mkdir()
    assert main(["--compare", "lora", "adapter", "--results", str(results)]) == 0
    assert "lora (A) against adapter (B)" in capsys.readouterr().out


def test_a_results_directory_is_still_a_directory_with_results_given(tmp_path, capsys):
    new, old = results_dir(tmp_path, "new"), results_dir(tmp_path, "old")
    assert main(["--compare", str(new), str(old), "--results", str(new)]) == 0
    assert f"each variant of {new} (A) against itself in {old} (B)" in capsys.readouterr().out
