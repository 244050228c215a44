"""`--params` rows of the extended encoders: totals against transformers' models and against the
architecture's arithmetic, method sizes by the paper's formulas. Everything on the meta device."""

from __future__ import annotations

import pytest
import torch
from transformers import WhisperConfig, WhisperModel

from peftser.model import build_model
from peftser.params import EXTENDED_BACKBONES, PAPER_BACKBONES, TABLE_BACKBONES, backbone_rows, parameter_rows
from peftser.registry import UPSTREAMS, load_builtins
from peftser.upstream import FAMILY_CONFIGS
from peftser.upstream.wav2vec2 import _FAMILIES, PROTOCOL_OVERRIDES

load_builtins()


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _transformers_encoder(name: str) -> torch.nn.Module:
    """transformers' own model of the registered config, on the meta device: Whisper's encoder, or
    the whole wave model with SpecAugment off (as the harness loads it: no mask embedding)."""
    spec = UPSTREAMS.get(name)
    with torch.device("meta"):
        if spec.family == "whisper":
            return WhisperModel(WhisperConfig(**spec.config)).encoder
        config_class, model_class, _ = _FAMILIES[spec.family]
        known = config_class().to_dict()
        return model_class(config_class(**spec.config, **{k: v for k, v in PROTOCOL_OVERRIDES.items() if k in known}))


def _arithmetic(name: str) -> int:
    """The encoder's parameters from its config's numbers alone."""
    spec = UPSTREAMS.get(name)
    c = FAMILY_CONFIGS[spec.family](**spec.config)
    if spec.family == "whisper":
        d, f, layers = c.d_model, c.encoder_ffn_dim, c.encoder_layers
        front = c.num_mel_bins * d * 3 + d + d * d * 3 + d + c.max_source_positions * d
        # q, v and out projections with bias, k without; two layer norms; two feed-forward linears
        layer = 4 * d * d + 3 * d + 2 * 2 * d + d * f + f + f * d + d
        return front + layers * layer + 2 * d
    d, f, layers, heads = c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.num_attention_heads
    norm_every_conv = spec.family == "data2vec_audio" or c.feat_extract_norm == "layer"
    front = 0
    for i, (out, kernel) in enumerate(zip(c.conv_dim, c.conv_kernel)):
        inputs = 1 if i == 0 else c.conv_dim[i - 1]
        front += inputs * out * kernel + (out if c.conv_bias else 0)
        front += 2 * out if norm_every_conv or i == 0 else 0
    width = c.conv_dim[-1]
    projection = width * d + d + (2 * width if getattr(c, "feat_proj_layer_norm", True) else 0)
    grouped = d * (d // c.num_conv_pos_embedding_groups)
    if spec.family == "data2vec_audio":  # a stack of convolutions, each with bias (its layer norms have no weights)
        positional = c.num_conv_pos_embeddings * (grouped * c.conv_pos_kernel_size + d)
    else:  # one weight-normed convolution: direction [d, d / groups, k], magnitude [1, 1, k], bias
        positional = grouped * c.num_conv_pos_embeddings + c.num_conv_pos_embeddings + d
    layer = 4 * (d * d + d) + 2 * 2 * d + d * f + f + f * d + d
    if spec.family == "wavlm":  # gated relative position bias; the first layer holds the bucket table
        layer += heads + (d // heads) * 8 + 8
        positional += c.num_buckets * heads
    return front + projection + positional + 2 * d + layers * layer


@pytest.fixture(scope="module")
def extended_rows() -> dict[str, dict]:
    return {row["upstream"]: row for row in backbone_rows(EXTENDED_BACKBONES)}


@pytest.mark.parametrize("name", EXTENDED_BACKBONES)
def test_encoder_totals_are_transformers_and_the_arithmetic(extended_rows, name):
    total = extended_rows[name]["upstream_params"]
    assert total == _count(_transformers_encoder(name)) == _arithmetic(name)


def test_totals_in_millions():
    """The sizes the README's table prints (a second, rounded check that the configs are the checkpoints')."""
    rows = {row["upstream"]: round(row["upstream_params"] / 1e6, 1) for row in backbone_rows(EXTENDED_BACKBONES)}
    assert rows == {
        "wavlm_base": 94.4, "wavlm_large": 315.5, "wav2vec2_large_robust": 315.4, "xls_r_300m": 315.4,
        "mms_300m": 315.4, "hubert_base": 94.4, "hubert_large": 315.4, "data2vec_audio_base": 93.2,
        "data2vec_audio_large": 313.3, "whisper_medium": 307.2, "whisper_large_v3": 637.0, "whisper_large_v3_turbo": 637.0,
    }


def test_the_table_lists_the_paper_backbones_then_the_extended_ones():
    assert TABLE_BACKBONES == PAPER_BACKBONES + EXTENDED_BACKBONES
    assert [row["upstream"] for row in backbone_rows()] == list(TABLE_BACKBONES)


@pytest.mark.parametrize("name", ["hubert_large", "data2vec_audio_base", "whisper_large_v3"])
def test_method_rows_follow_the_papers_sizes(name):
    """Adapters (bottleneck 128), prompts (length 5) and LoRA (rank 8 on both feed-forward linears)
    by their formulas in the hidden size d, feed-forward size f and number of layers L."""
    rows = {row["method"]: row for row in parameter_rows([name], ["downstream", "adapter", "parallel_adapter", "embedding_prompt", "lora"])}
    with torch.device("meta"):
        upstream = build_model(name, "downstream", pretrained=False).upstream
    d, layers = upstream.hidden_size, upstream.num_layers
    f = upstream.layers[0].get_submodule(upstream.ffn_linears[0]).out_features
    assert rows["downstream"]["method_params"] == 0
    assert rows["adapter"]["method_params"] == rows["parallel_adapter"]["method_params"] == layers * (2 * 128 * d + 128 + d)
    assert rows["embedding_prompt"]["method_params"] == layers * 5 * d
    assert rows["lora"]["method_params"] == layers * 2 * 8 * (d + f)
    assert len({row["head_params"] for row in rows.values()}) == 1
    assert {row["upstream_params"] for row in rows.values()} == {_arithmetic(name)}
