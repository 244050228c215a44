"""Grid files: every method argument, upstream override and training option is checked at load."""

from __future__ import annotations

import re

import pytest

from peftser.benchmark.grids import GridError, load_grid
from peftser.cli import main

GRID = """
upstreams: [{UPSTREAM}]
methods:
  - {{method: {METHOD}, variant: mine, args: {{{ARGS}}}}}
tasks: [{{task: synthetic_crema_d, trainings: [fold1]}}]
train: {{{TRAIN}}}
"""


def grid_text(method: str = "downstream", args: str = "", upstream: str = "demo_whisper_tiny", train: str = "") -> str:
    return GRID.format(UPSTREAM=upstream, METHOD=method, ARGS=args, TRAIN=train)


# The bad values, and each the message must name: the entry, the value, what is allowed.
BAD_METHOD_ARGS = [
    ("lora", 'rank: "eight"', "rank must be an integer >= 1, got 'eight'"),
    ("lora", "rank: -4", "rank must be an integer >= 1, got -4"),
    ("adapter", "bottleneck: 16.5", "bottleneck must be an integer >= 1, got 16.5"),
    ("lora", "targets: ffn_in", "targets must be a list of ffn_in, ffn_out (at least one, no repeats), got 'ffn_in'"),
    ("lora", "targets: [ffn_in, ffn_in]", "targets must be a list of ffn_in, ffn_out"),
    ("lora", "targets: [attention]", "targets must be a list of ffn_in, ffn_out"),
    ("embedding_prompt", "prompt_length: true", "prompt_length must be an integer >= 1, got True"),
    ("lora", 'alpha: "1"', "alpha must be a number > 0, got '1'"),
    ("adapter", "dropout: 1.5", "dropout must be a number in [0, 1), got 1.5"),
    ("adapter", "scale: .nan", "scale must be a number, got nan"),
    ("lora", "alpha: 1e-3", "alpha must be a number > 0, got '1e-3' (YAML reads 1e-3 as text: write 1.0e-3)"),
]


@pytest.mark.parametrize("method, args, message", BAD_METHOD_ARGS)
def test_a_bad_method_argument_fails_at_load_naming_file_entry_and_allowed_values(tmp_path, method, args, message):
    path = tmp_path / "grid.yaml"
    path.write_text(grid_text(method, args))
    with pytest.raises(GridError) as error:
        load_grid(path)
    assert str(error.value).startswith(f"grid file {path}: method '{method}' (variant 'mine'): ")
    assert message in str(error.value)


@pytest.mark.parametrize(
    "train, message",
    [
        ("lr: -1.0", "training option lr must be a number > 0, got -1.0"),
        ("max_seconds: 0", "training option max_seconds must be a number > 0, got 0"),
        ("head_dropout: 2.0", "training option head_dropout must be a number in [0, 1), got 2.0"),
        ("betas: [0.9, 1.5]", "training option betas must be two of a number in [0, 1), got [0.9, 1.5]"),
        ("time_mask: [0.2, 0.1]", "training option time_mask is a (low, high) range; got low 0.2 > high 0.1"),
        ("plateau_factor: 1.0", "training option plateau_factor must be a number in (0, 1), got 1.0"),
    ],
)
def test_a_training_option_out_of_range_fails_at_load(tmp_path, train, message):
    path = tmp_path / "grid.yaml"
    path.write_text(grid_text(train=train))
    with pytest.raises(GridError, match=re.escape(f"grid file {path}: train: {message}")):
        load_grid(path)


@pytest.mark.parametrize(
    "upstream, message",
    [
        ('{upstream: demo_whisper_tiny, args: {d_model: "big"}}',
         "upstream 'demo_whisper_tiny': WhisperConfig option d_model must be an integer like its default 384, got 'big'"),
        ("{upstream: demo_wavlm_base_plus, args: {layerdrop: 1.5}}",
         "upstream 'demo_wavlm_base_plus': WavLMConfig option layerdrop must be a number in [0, 1] like its default 0.1, got 1.5"),
        ("{upstream: demo_wav2vec2_base, args: {apply_spec_augment: 1}}",
         "Wav2Vec2Config option apply_spec_augment must be true or false like its default True, got 1"),
        ("{upstream: demo_wav2vec2_base, args: {conv_dim: 512}}", "Wav2Vec2Config option conv_dim must be a list"),
    ],
)
def test_an_upstream_override_of_the_wrong_type_fails_at_load(tmp_path, upstream, message):
    path = tmp_path / "grid.yaml"
    path.write_text(grid_text(upstream=upstream))
    with pytest.raises(GridError, match=re.escape(message)) as error:
        load_grid(path)
    assert str(path) in str(error.value)


def test_good_values_of_every_kind_load(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(grid_text("lora", "rank: 4, alpha: 1, dropout: 0, targets: [ffn_out]",
                              upstream="{upstream: demo_whisper_tiny, args: {dropout: 0, d_model: 32}}",
                              train="lr: 0.001, max_seconds: 3, head_dropout: 0.0, snr_db: [20, 20]"))
    (cell,) = load_grid(path).cells()
    assert cell.method_args == {"rank": 4, "alpha": 1, "dropout": 0, "targets": ["ffn_out"]}
    for name in ("full", "ablation", "demo"):
        assert load_grid(name).cells()


def test_cli_exits_2_before_anything_is_written(tmp_path, capsys):
    path = tmp_path / "grid.yaml"
    path.write_text(grid_text("lora", 'rank: "eight"'))
    results = tmp_path / "results"
    assert main(["--grid", str(path), "--results", str(results), "--devices", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: grid file {path}: method 'lora'")
    assert not results.exists()
