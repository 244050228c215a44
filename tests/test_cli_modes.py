"""Options of another mode are rejected, not silently ignored."""

from __future__ import annotations

import pytest

from peftser.cli import given_options, main, mode_of, parser
from peftser.option_modes import check_mode_options

TRAIN = ["--train", "demo_whisper_tiny", "downstream", "synthetic_msp_podcast", "seed1"]


@pytest.mark.parametrize(
    "argv, message",
    [
        ([*TRAIN, "--only", "task=iemocap"], "--only applies to --grid and --params, not --train"),
        ([*TRAIN, "--devices", "0,1"], "--devices applies to --grid, not --train; did you mean --device?"),
        ([*TRAIN, "--jobs-per-device", "2"], "--jobs-per-device applies to --grid, not --train"),
        (["--grid", "demo", "--device", "cpu"], "--device applies to --train, --predict and --bench, not --grid; did you mean --devices?"),
        (["--grid", "demo", "--out", "x.csv"], "--out applies to --manifest, not --grid"),
        (["--predict", "artifact", "a.wav", "--results", "r"], "--results applies to --train, --grid, --leaderboard, --compare and --cards, not --predict"),
        (["--leaderboard", "--epochs", "3"], "--epochs applies to --train and --grid, not --leaderboard"),
        (["--list", "--data-root", "/data"], "--data-root applies to --manifest, --train and --grid, not --list"),
        (["--cache-prune", "--json"], "--json applies to --list, --params, --bench and --compare, not --cache-prune"),
        (["--bench", "demo_whisper_tiny", "lora", "--checkpoint-dir", "ckpt"], "--checkpoint-dir applies to --train, --predict, --grid and --export, not --bench"),
    ],
)
def test_an_option_of_another_mode_is_an_error(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not list(tmp_path.iterdir())  # nothing ran


@pytest.mark.parametrize(
    "argv",
    [
        [*TRAIN, "--device", "cpu", "--epochs", "1", "--results", "r", "--data-root", "d", "--strict", "--task-arg", "a=b"],
        ["--grid", "demo", "--devices", "cpu", "--jobs-per-device", "2", "--only", "task=x", "--retry-failed", "--epochs", "1"],
        ["--bench", "demo_whisper_tiny", "lora", "--device", "cpu", "--batch", "2", "--seconds", "1", "--steps", "1", "--json"],
        ["--manifest", "iemocap", "--out", "x.csv", "--task-root", "t"],
        ["--predict", "artifact", "a.wav", "--device", "cpu", "--checkpoint-dir", "c"],
        ["--leaderboard", "--results", "r"],
        ["--list", "--json", "--plugin", "mine"],
    ],
)
def test_each_modes_own_options_are_accepted(argv):
    p = parser()
    args = p.parse_args(argv)
    check_mode_options(given_options(p, args), mode_of(args), args.backend)
