"""Command-line options out of range are one line naming the option, before any work starts."""

from __future__ import annotations

import pytest
import torch

from peftser.benchmark.run import bench
from peftser.cli import main

BENCH = ["--bench", "demo_whisper_tiny", "downstream", "--steps", "1", "--batch", "2"]


@pytest.mark.parametrize("seconds", ["inf", "1e308", "0.001", "nan", "-1"])
def test_bench_seconds_out_of_range_names_the_option(seconds, capsys, monkeypatch):
    monkeypatch.setattr(bench, "bench", lambda *a, **k: pytest.fail("the range is checked before anything is built"))
    assert main([*BENCH, "--seconds", seconds]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --seconds must lie in [0.025, 30]") and err.count("\n") == 1


@pytest.mark.parametrize("raised", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.7 GiB total capacity)\nmore"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                 "you tried to allocate 192000000000 bytes. Error code 12 (Cannot allocate memory)"),
])
def test_bench_out_of_memory_is_one_line(raised, capsys, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise raised

    monkeypatch.setattr(bench, "train_step", out_of_memory)
    assert main([*BENCH, "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory for --batch 2 x --seconds 1 (") and err.count("\n") == 1
    assert "lower --batch or --seconds" in err and "alloc_cpu.cpp" not in err


@pytest.mark.parametrize("where, section", [
    ("evaluate.noise.snr_db: 4000 dB is out of range; an SNR must be a number in [-100, 100] dB",
     {"evaluate": {"noise": {"snr_db": [20, 4000]}}}),
    ("evaluate.noise.snr_db: -400 dB is out of range", {"evaluate": {"noise": {"snr_db": [-400]}}}),
    ("training option snr_db must be two of a number in [-100, 100], got [10, 1000]", {"train": {"snr_db": [10, 1000]}}),
])
def test_snrs_are_bounded_when_the_grid_loads(tmp_path, where, section):
    import yaml

    from peftser.benchmark.grids import GridError, parse_grid

    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"upstreams": ["demo_whisper_tiny"], "methods": ["downstream"],
                                    "tasks": ["synthetic_crema_d"], **section}))
    with pytest.raises(GridError) as caught:
        parse_grid(path)
    assert str(path) in str(caught.value) and where in str(caught.value)


@pytest.mark.parametrize("argv, message", [
    (["--grid", "demo", "--devices", ""], "error: --devices is empty; give cpu or GPU indices (0,1)"),
    (["--grid", "demo", "--devices", " "], "error: --devices is empty"),
    (["--bench", "demo_whisper_tiny", "downstream", "--device", ""], "error: --device '' is not a device name"),
])
def test_an_empty_device_option_is_an_error_naming_it(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but if it were, not here
    assert main([*argv, "--results", str(tmp_path / "r")] if argv[0] == "--grid" else argv) == 2
    assert capsys.readouterr().err.startswith(message)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["org/encoder", "..", "back\\slash"])
def test_a_name_that_is_no_folder_name_is_refused_at_registration(name):
    from peftser.registry import UPSTREAMS
    from peftser.upstream import UpstreamSpec

    with pytest.raises(ValueError, match=r"must be one folder name \(no '/', '\\' or '\.\.'\)"):
        UPSTREAMS.register(name, UpstreamSpec(name, "whisper", None, {}))
    assert name not in UPSTREAMS


def test_evaluate_only_on_an_untrained_directory_counts_no_cell_as_recorded(tmp_path):
    import io

    import yaml

    from peftser.benchmark.run.orchestrator import run_grid
    from peftser.benchmark.run.slots import Local

    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"name": "g", "upstreams": ["demo_whisper_tiny"], "methods": ["downstream"],
                                    "tasks": ["synthetic_crema_d"], "evaluate": {"noise": True}}))
    stream = io.StringIO()
    summary = run_grid(path, results_dir=tmp_path / "r", backend=Local("cpu"), evaluate_only=True, leaderboard=False, stream=stream)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "grid g: 5 cells, 0 recorded, 5 not trained (--evaluate-only trains none)"
    assert (summary.skipped, summary.missing) == (0, 5)
    assert ", 0 already recorded," in summary.line()


def _alias_bomb(levels: int) -> str:
    """A grid whose training option lr holds ``levels`` nested aliases, each nine of the one before."""
    anchors = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    anchors += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return ("upstreams: [demo_whisper_tiny]\nmethods: [downstream]\ntasks: [synthetic_crema_d]\n"
            "train: {lr: [" + ", ".join(anchors) + "]}\n")


@pytest.mark.parametrize("levels, expected", [
    (9, "its YAML aliases expand to more than 100,000 values"),  # 9^9 values: refused before any check
    (5, "characters left out"),  # 66,000 values: the check's message quotes a capped part of them
])
def test_a_yaml_alias_bomb_is_refused_and_errors_quote_a_capped_value(tmp_path, levels, expected):
    from peftser.benchmark.grids import GridError, parse_grid

    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(levels))
    with pytest.raises(GridError) as caught:
        parse_grid(path)
    message = str(caught.value)
    assert message.startswith(f"grid file {path}: ") and expected in message and len(message) < 2500
