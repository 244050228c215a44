"""Tiny random twins of every upstream variant: the same transformers classes and layouts as the
registered checkpoints (pre-norm or post-norm layers, group- or layer-norm front end, HuBERT's
projection, data2vec-audio's positional convolution stack, Whisper's 128 mel bins), a few thousand
parameters each. Importing this module registers them (once per process)."""

from __future__ import annotations

from peftser.registry import UPSTREAMS, load_builtins
from peftser.upstream import NO_DROPOUT, UpstreamSpec, _wav2vec2, _whisper

load_builtins()


def _wave(**extra) -> dict:
    return {**_wav2vec2(2, 32, 2, 64, 16, 16, 4, 0.1), **NO_DROPOUT, **extra}


PRE_NORM = {"feat_extract_norm": "layer", "do_stable_layer_norm": True}
BUCKETS = {"num_buckets": 32, "max_bucket_distance": 100}


def _data2vec_audio() -> dict:
    config = {k: v for k, v in _wave().items() if k not in ("feat_extract_norm", "do_stable_layer_norm")}
    # Three positional convolutions of kernel 5 in 4 groups (the checkpoints: five of kernel 19 in 16).
    return {**config, "num_conv_pos_embeddings": 3, "conv_pos_kernel_size": 5}


TWINS = {
    # name: (family, config, the registered upstreams it stands for)
    "twin_wavlm_base": ("wavlm", _wave(**BUCKETS), ("wavlm_base", "wavlm_base_plus")),
    "twin_wavlm_large": ("wavlm", _wave(**PRE_NORM, **BUCKETS), ("wavlm_large",)),
    "twin_wav2vec2_large": (
        "wav2vec2", _wave(**PRE_NORM, conv_bias=True), ("wav2vec2_large_robust", "xls_r_300m", "mms_300m"),
    ),
    "twin_hubert_base": ("hubert", _wave(feat_proj_layer_norm=True), ("hubert_base",)),
    "twin_hubert_large": ("hubert", _wave(**PRE_NORM, conv_bias=True, feat_proj_layer_norm=True), ("hubert_large",)),
    "twin_data2vec_audio": ("data2vec_audio", _data2vec_audio(), ("data2vec_audio_base", "data2vec_audio_large")),
    "twin_whisper_128": ("whisper", _whisper(2, 32, 2, 64, mel_bins=128), ("whisper_large_v3", "whisper_large_v3_turbo")),
}
PRE_NORM_TWINS = [name for name, (family, config, _) in TWINS.items() if config.get("do_stable_layer_norm")]

for _name, (_family, _config, _) in TWINS.items():
    if _name not in UPSTREAMS:
        UPSTREAMS.register(_name, UpstreamSpec(_name, _family, None, _config))
