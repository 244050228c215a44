"""`--params` agrees with the paper's Tables II and IV; `--list` shows the registries."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
import torch

from peftser.cli import main
from peftser.model import build_model
from peftser.params import PAPER_BACKBONES, PAPER_TABLE_IV, TABLE_BACKBONES, backbone_rows
from peftser.peft import build_method
from peftser.registry import GRIDS, METHODS, TASKS, UPSTREAMS, load_builtins

load_builtins()
ROUNDING = 0.005  # Table IV prints millions to two decimals


@pytest.fixture(scope="module")
def params_rows() -> dict[tuple[str, str], dict]:
    """`--params --json`, by (upstream, method)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--params", "--json"]) == 0
    rows = json.loads(out.getvalue())
    table = {(row["upstream"], row["method"]): row for row in rows}
    assert len(table) == len(rows), "duplicate rows"
    return table


def _millions(n: int) -> float:
    return n / 1e6


def test_params_json_rows_cover_every_backbone_and_method(params_rows):
    assert set(params_rows) == {(u, m) for u in TABLE_BACKBONES for m in METHODS.names()}  # the paper's and the extended encoders
    for row in params_rows.values():
        assert set(row) == {"upstream", "method", "method_params", "head_params", "upstream_params", "task", "outputs"}
        assert row["task"] is None and row["outputs"] == ["neutral", "happy", "sad", "angry"]  # the paper's heads
        assert all(isinstance(row[k], int) and row[k] >= 0 for k in ("method_params", "head_params", "upstream_params"))


@pytest.mark.parametrize("backbone", PAPER_BACKBONES)
def test_downstream_head_matches_table_iv(params_rows, backbone):
    row = params_rows[(backbone, "downstream")]
    assert row["method_params"] == 0
    assert abs(_millions(row["head_params"]) - PAPER_TABLE_IV[backbone]["downstream"]) <= ROUNDING
    # The head is the same whatever the method.
    assert {params_rows[(backbone, m)]["head_params"] for m in METHODS.names()} == {row["head_params"]}


@pytest.mark.parametrize("method", ["adapter", "embedding_prompt"])
@pytest.mark.parametrize("backbone", PAPER_BACKBONES)
def test_adapter_and_prompt_match_table_iv(params_rows, backbone, method):
    assert abs(_millions(params_rows[(backbone, method)]["method_params"]) - PAPER_TABLE_IV[backbone][method]) <= ROUNDING


@pytest.mark.parametrize("backbone", PAPER_BACKBONES)
def test_parallel_adapter_has_the_adapters_size(params_rows, backbone):
    assert params_rows[(backbone, "parallel_adapter")]["method_params"] == params_rows[(backbone, "adapter")]["method_params"]


@pytest.mark.parametrize("backbone", PAPER_BACKBONES)
def test_lora_is_twice_table_iv_on_both_linears(params_rows, backbone):
    both = params_rows[(backbone, "lora")]["method_params"]
    with torch.device("meta"):
        model = build_model(backbone, "lora", method_args={"targets": ["ffn_in"]}, pretrained=False)
    one = model.parameter_counts()["method_params"]
    upstream = model.upstream
    ffn = upstream.layers[0].get_submodule(upstream.ffn_linears[0]).out_features
    assert one == upstream.num_layers * 8 * (upstream.hidden_size + ffn)  # rank 8 on hidden -> ffn
    assert both == 2 * one
    assert abs(_millions(one) - PAPER_TABLE_IV[backbone]["lora"]) <= ROUNDING


@pytest.mark.parametrize("backbone", PAPER_BACKBONES)
def test_frozen_upstream_is_the_whole_encoder_for_every_method(params_rows, backbone):
    encoder = params_rows[(backbone, "downstream")]["upstream_params"]
    for method in ("adapter", "parallel_adapter", "embedding_prompt"):
        assert params_rows[(backbone, method)]["upstream_params"] == encoder


# Table II, with the checkpoints' sizes where the paper misprints them (whisper_tiny hidden, whisper_base layers),
# and the encoder-size gap that the --params notes state for wav2vec2_base and wavlm_base_plus.
TABLE_II = {
    "whisper_tiny": (4, 384, 0.0),
    "whisper_base": (6, 512, 0.0),
    "whisper_small": (12, 768, 0.0),
    "wav2vec2_base": (12, 768, 0.67),
    "wavlm_base_plus": (12, 768, 0.32),
}


@pytest.fixture(scope="module")
def paper_rows() -> dict[str, dict]:
    return {row["upstream"]: row for row in backbone_rows(PAPER_BACKBONES)}


@pytest.mark.parametrize("backbone", PAPER_BACKBONES)
def test_backbone_sizes_match_table_ii(paper_rows, params_rows, backbone):
    row = paper_rows[backbone]
    layers, hidden, gap = TABLE_II[backbone]
    assert (row["layers"], row["hidden"]) == (layers, hidden)
    assert row["upstream_params"] == params_rows[(row["upstream"], "downstream")]["upstream_params"]
    assert round(row["paper_m"] - _millions(row["upstream_params"]), 2) == gap


def test_whisper_tiny_encoder_is_8_21_m(params_rows):
    assert round(_millions(params_rows[("whisper_tiny", "downstream")]["upstream_params"]), 2) == 8.21


def test_params_table_prints_both_tables(capsys):
    assert main(["--params", "--only", "method=lora"]) == 0  # every backbone, one method: the JSON fixture has them all
    out = capsys.readouterr().out
    assert "Backbones (Table II)" in out and "Trainable parameters (Table IV)" in out
    for upstream in ("wavlm_base_plus", "whisper_large_v3_turbo", "mms_300m"):  # the paper's and the extended encoders
        assert re.search(rf"^\| {upstream} +\| lora +\|", out, re.MULTILINE), upstream


def test_list_json_lists_every_registry(capsys):
    assert main(["--list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing == {
        "upstreams": UPSTREAMS.names(),
        "methods": METHODS.names(),
        "tasks": TASKS.names(),
        "grids": GRIDS.names(),
    }
    assert set(PAPER_BACKBONES) <= set(listing["upstreams"]) and "lora" in listing["methods"]


def test_list_prints_one_line_per_registry(capsys):
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["upstreams", "methods", "tasks", "grids"]
    assert "lora" in lines[1]


def test_unknown_method_is_a_clear_error():
    with pytest.raises(KeyError) as caught:
        build_method("lorra")
    message = caught.value.args[0]
    assert message.startswith("unknown method 'lorra'. Did you mean 'lora'? Known methods: ")
    assert all(name in message for name in METHODS.names())
