"""Upstreams: every hidden state, valid frame lengths, Whisper on the real length, checkpoint loading."""

from __future__ import annotations

import dataclasses
import math

import huggingface_hub.constants
import numpy as np
import pytest
import torch
from transformers import (
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
    WhisperConfig,
    WhisperModel,
)

from peftser.params import PAPER_BACKBONES
from waves import batch as _batch
from peftser.registry import UPSTREAMS, load_builtins
from peftser.upstream import SPECS, UpstreamSpec, build_upstream
from peftser.upstream.base import resolve_checkpoint
from peftser.upstream.wav2vec2 import normalize

load_builtins()
TINY_BACKBONES = [f"demo_{name}" for name in PAPER_BACKBONES]
WAVE_BACKBONES = ["demo_wav2vec2_base", "demo_wavlm_base_plus"]
WHISPER_BACKBONES = [name for name in TINY_BACKBONES if "whisper" in name]
SPEC = {spec.name: spec for spec in SPECS}
# Every dropout of a wav2vec 2.0 / WavLM config, off: train and eval mode must then agree.
NO_DROPOUT = {"hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "feat_proj_dropout": 0.0}


def _expected_frames(upstream, length: int) -> int:
    """Frames of a clip of ``length`` samples, by the families' own arithmetic."""
    if upstream.family == "whisper":
        return math.ceil((length // 160) / 2)  # 10 ms mel frames, halved by the second conv
    config = upstream.model.config
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):  # unpadded strided convolutions
        length = (length - kernel) // stride + 1
    return length


# -- the hidden-state list ---------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
@pytest.mark.parametrize("train", [True, False])
def test_hidden_states_are_num_layers_plus_one(backbone, train):
    torch.manual_seed(0)
    upstream = build_upstream(backbone).train(train)
    states, frame_lengths = upstream(*_batch([12_000, 9_000]))
    assert len(states) == upstream.num_layers + 1
    time = states[0].shape[1]
    assert all(s.shape == (2, time, upstream.hidden_size) for s in states)
    assert frame_lengths.dtype == torch.long and frame_lengths.shape == (2,)


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_frame_lengths_are_what_each_clip_gets_alone(backbone):
    torch.manual_seed(0)
    upstream = build_upstream(backbone).eval()
    lengths = [16_000, 11_111, 8_080, 8_000]
    waves, _ = _batch(lengths)
    with torch.no_grad():
        _, frame_lengths = upstream(waves, torch.tensor(lengths))
        alone = [upstream(waves[i : i + 1, :n], torch.tensor([n]))[0][0].shape[1] for i, n in enumerate(lengths)]
    assert frame_lengths.tolist() == alone == [_expected_frames(upstream, n) for n in lengths]


def _layer_calls(upstream) -> list[int]:
    """Indices of the layers that ran in the last forward pass (hooks on the layers)."""
    ran: list[int] = []
    for index, layer in enumerate(upstream.layers):
        layer.register_forward_pre_hook(lambda m, args, i=index: ran.append(i))
    return ran


@pytest.mark.parametrize("backbone", WAVE_BACKBONES)
def test_layerdrop_in_training_skips_a_layer_but_keeps_its_state(backbone):
    """As the reference ran under transformers 4.30: a skipped layer passes its input through, so
    the head always gets num_layers states."""
    upstream = build_upstream(backbone, layerdrop=0.5, **NO_DROPOUT).train()
    ran = _layer_calls(upstream)
    waves, lengths = _batch([12_000, 9_000])
    torch.manual_seed(0)
    skipped_some = False
    with torch.no_grad():
        for _ in range(8):
            ran.clear()
            states, _ = upstream(waves, lengths)
            assert len(states) == upstream.num_layers + 1
            skipped = sorted(set(range(upstream.num_layers)) - set(ran))
            for index in skipped:
                # A skipped layer's output is its input (the last layer's also gets no final norm here).
                torch.testing.assert_close(states[index + 1], states[index])
            skipped_some |= bool(skipped)
            if upstream.family == "wavlm":
                assert 0 in ran  # WavLM's first layer computes the position bias: never skipped
    assert skipped_some


@pytest.mark.parametrize("backbone", WAVE_BACKBONES)
def test_layerdrop_never_skips_in_evaluation_nor_when_turned_off(backbone):
    upstream = build_upstream(backbone, layerdrop=0.9, **NO_DROPOUT)
    ran = _layer_calls(upstream)
    waves, lengths = _batch([12_000])
    with torch.no_grad():
        for mode in ("eval", "train_off"):
            upstream.train(mode != "eval")
            upstream.layerdrop_enabled = mode == "eval"
            for _ in range(4):
                ran.clear()
                upstream(waves, lengths)
                assert ran == list(range(upstream.num_layers)), mode


def test_layerdrop_is_seeded_and_takes_the_checkpoints_rate():
    assert build_upstream("demo_wavlm_base_plus").layerdrop == 0.05  # microsoft/wavlm-base-plus
    assert build_upstream("demo_wav2vec2_base").layerdrop == 0.1  # facebook/wav2vec2-base-960h
    assert build_upstream("demo_whisper_tiny").layerdrop == 0.0  # OpenAI's checkpoints
    upstream = build_upstream("demo_wav2vec2_base", layerdrop=0.5).train()
    ran = _layer_calls(upstream)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        pattern = []
        for _ in range(6):
            ran.clear()
            with torch.no_grad():
                upstream(*_batch([8_000]))
            pattern.append(tuple(ran))
        runs.append(pattern)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_random_weights_are_a_function_of_the_name(registered_upstream, backbone):
    """A random-weight upstream rebuilds identically, so a trained artifact reloads onto it."""
    torch.manual_seed(0)
    expected_draw = torch.rand(1)
    torch.manual_seed(0)
    first = build_upstream(backbone).state_dict()
    assert torch.equal(torch.rand(1), expected_draw)  # the caller's random stream is left alone
    second = build_upstream(backbone).state_dict()
    assert all(torch.equal(value, second[key]) for key, value in first.items())
    twin = registered_upstream(dataclasses.replace(SPEC[backbone], name=f"test_twin_of_{backbone}"))
    renamed = build_upstream(twin).state_dict()
    assert not all(torch.equal(value, renamed[key]) for key, value in first.items())


# -- wav2vec 2.0 / WavLM ------------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", WAVE_BACKBONES)
def test_builtin_spec_augment_is_off(backbone):
    config = build_upstream(backbone).model.config
    assert config.mask_time_prob == 0.0 and config.mask_feature_prob == 0.0
    assert config.apply_spec_augment is False


@pytest.mark.parametrize("overrides", [{}, {"apply_spec_augment": True, "mask_time_prob": 0.5, "mask_time_length": 2}])
@pytest.mark.parametrize("backbone", WAVE_BACKBONES)
def test_train_mode_without_dropout_equals_eval_mode(backbone, overrides):
    """No masking in training mode, even when a config asks for it: the protocol has its own augmentation."""
    torch.manual_seed(0)
    upstream = build_upstream(backbone, **NO_DROPOUT, layerdrop=0.0, **overrides)
    upstream.mask_padding_in_training = True  # padding is masked in evaluation; here in training too
    waves, lengths = _batch([12_000, 9_000])
    with torch.no_grad():
        train_states, _ = upstream.train()(waves, lengths)
        eval_states, _ = upstream.eval()(waves, lengths)
    for train_state, eval_state in zip(train_states, eval_states):
        torch.testing.assert_close(train_state, eval_state)


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_layer_loop_equals_the_transformers_forward(backbone):
    """The upstream's own loop gives the states the model's forward(output_hidden_states=True) gives."""
    torch.manual_seed(0)
    upstream = build_upstream(backbone).eval()
    whisper = upstream.family == "whisper"
    # transformers' Whisper encoder only accepts a 30 s input; one unpadded clip for the others.
    length = 480_000 if whisper else 20_000
    waves, lengths = _batch([length])
    with torch.no_grad():
        states, _ = upstream(waves, lengths)
        if whisper:
            model_input = upstream.log_mel(waves)
        else:
            model_input = normalize(waves, lengths) if upstream.spec.normalize_waveform else waves
        reference = upstream.model(model_input, output_hidden_states=True).hidden_states
    assert len(reference) == len(states)
    for state, expected in zip(states, reference):
        torch.testing.assert_close(state, expected)


def test_the_paper_backbones_load_the_reference_codes_checkpoints():
    checkpoints = {name: UPSTREAMS.get(name).checkpoint for name in (*PAPER_BACKBONES, "wav2vec2_base_ssl")}
    assert checkpoints == {
        "whisper_tiny": "openai/whisper-tiny",
        "whisper_base": "openai/whisper-base",
        "whisper_small": "openai/whisper-small",
        "wav2vec2_base": "facebook/wav2vec2-base-960h",  # ASR-fine-tuned, as the reference code loads it
        "wavlm_base_plus": "microsoft/wavlm-base-plus",
        "wav2vec2_base_ssl": "facebook/wav2vec2-base",  # self-supervised only, for comparison
    }


@pytest.mark.parametrize("backbone", ["wav2vec2_base", "wav2vec2_base_ssl", "wavlm_base_plus", *WAVE_BACKBONES])
def test_wave_encoders_get_the_raw_wave_as_in_the_reference(backbone):
    assert UPSTREAMS.get(backbone).normalize_waveform is False
    upstream = build_upstream(backbone if backbone.startswith("demo_") else "demo_wav2vec2_base")
    seen = {}
    first_conv = upstream.model.feature_extractor.conv_layers[0].conv
    first_conv.register_forward_pre_hook(lambda m, args: seen.update(wave=args[0][:, 0]))
    waves, lengths = _batch([16_000, 7_000])
    with torch.no_grad():
        upstream(3.0 * waves, lengths)
    assert torch.equal(seen["wave"], 3.0 * waves)


def test_per_utterance_normalisation_equals_the_feature_extractors():
    """The spec option normalize_waveform, for checkpoints whose users normalise (not the paper's)."""
    waves, lengths = _batch([16_000, 7_000])
    expected = Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm(
        [w[:n].numpy() for w, n in zip(waves, lengths)], attention_mask=None
    )
    normalised = normalize(waves, lengths)
    for row, (reference, n) in enumerate(zip(expected, lengths)):
        np.testing.assert_allclose(normalised[row, :n].numpy(), reference, atol=1e-5)
        assert torch.count_nonzero(normalised[row, n:]) == 0  # padding stays silent


# -- Whisper -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", WHISPER_BACKBONES)
def test_whisper_runs_six_seconds_on_300_positions(backbone):
    upstream = build_upstream(backbone).eval()
    assert upstream.model.embed_positions.weight.shape[0] == 1500  # the 30 s table is there, but unused
    with torch.no_grad():
        states, frame_lengths = upstream(*_batch([96_000, 40_000]))
    assert {s.shape[1] for s in states} == {300}
    assert frame_lengths.tolist() == [300, 125]


def test_whisper_refuses_audio_longer_than_its_position_table():
    upstream = build_upstream("demo_whisper_tiny")
    with pytest.raises(ValueError, match=r"demo_whisper_tiny: 30\.1 s of audio needs 1505 positions.*cut the audio shorter"):
        upstream(*_batch([481_600]))


# Lengths whose remainder modulo 160 is under 40 (exactly 6 s and 5 s among them): the last kept
# frame's window then reaches past the clip's end, into the reflection the extractor pads with.
@pytest.mark.parametrize("length", [32_000, 40_000, 40_080, 40_160, 40_320, 95_999, 96_000])
def test_whisper_frame_lengths_are_the_encoders_positions(length):
    upstream = build_upstream("demo_whisper_tiny")
    _, frame_lengths = upstream(*_batch([96_000, length]))
    assert frame_lengths[1] == math.ceil((length // 160) / 2)
    if length % 160 == 0:
        assert frame_lengths[1] == math.ceil(length / 160 / 2)


# -- checkpoints ---------------------------------------------------------------------------------------

# A random tiny model saved as each family's checkpoint, to load back from a local folder.
SAVED = {
    "whisper": (
        "openai/whisper-tiny",
        # the decoder is saved with the checkpoint; only the encoder is loaded back
        lambda config: WhisperModel(WhisperConfig(**config)),
        lambda saved: saved.encoder,
    ),
    "wav2vec2": ("facebook/wav2vec2-base", lambda config: Wav2Vec2Model(Wav2Vec2Config(**config)), lambda saved: saved),
    "wavlm": ("microsoft/wavlm-base-plus", lambda config: WavLMModel(WavLMConfig(**config)), lambda saved: saved),
}


@pytest.mark.parametrize("layout", ["owner/name", "name"])
@pytest.mark.parametrize("demo, family", [
    ("demo_whisper_tiny", "whisper"),
    ("demo_wav2vec2_base", "wav2vec2"),
    ("demo_wavlm_base_plus", "wavlm"),
])
def test_pretrained_weights_load_from_a_checkpoint_dir(tmp_path, registered_upstream, demo, family, layout):
    checkpoint, make, loaded_part = SAVED[family]
    torch.manual_seed(0)
    saved = make(SPEC[demo].config)
    folder = tmp_path / (checkpoint if layout == "owner/name" else checkpoint.split("/")[1])
    saved.save_pretrained(folder)
    name = registered_upstream(UpstreamSpec(f"test_{family}_checkpoint", family, checkpoint, SPEC[demo].config))

    upstream = build_upstream(name, checkpoint_dir=tmp_path)  # pretrained by default: the spec has a checkpoint

    expected = loaded_part(saved).state_dict()
    loaded = upstream.model.state_dict()
    # Only SpecAugment's mask embedding, unused with masking off, may stay behind.
    assert set(expected) - set(loaded) <= {"masked_spec_embed"}
    for key, value in loaded.items():
        assert torch.equal(value, expected[key]), key
    config = upstream.model.config
    # The saved configs have transformers' defaults (SpecAugment on): loading turns it off, and keeps
    # the checkpoint's LayerDrop rate, which the layer loop applies in training.
    if family != "whisper":
        assert saved.config.apply_spec_augment and not config.apply_spec_augment
        assert upstream.layerdrop == saved.config.layerdrop > 0
    states, _ = upstream(*_batch([12_000]))
    assert len(states) == upstream.num_layers + 1


def test_missing_checkpoint_names_it_and_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        build_upstream("whisper_tiny", pretrained=True, checkpoint_dir=tmp_path)
    message = str(caught.value)
    assert "'openai/whisper-tiny'" in message and "'whisper_tiny'" in message
    for looked in (tmp_path / "openai" / "whisper-tiny", tmp_path / "whisper-tiny", tmp_path):
        assert str(looked) in message


def test_resolve_checkpoint_honours_hf_hub_offline(monkeypatch):
    spec = UPSTREAMS.get("wavlm_base_plus")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert resolve_checkpoint(spec, None) == ("microsoft/wavlm-base-plus", {"local_files_only": False})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_checkpoint(spec, None) == ("microsoft/wavlm-base-plus", {"local_files_only": True})


def test_random_weight_upstream_has_no_checkpoint_to_resolve():
    with pytest.raises(ValueError, match="'demo_wavlm_base_plus' has no checkpoint"):
        resolve_checkpoint(UPSTREAMS.get("demo_wavlm_base_plus"), None)


def test_offline_without_a_cache_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads both variables once, at import: set what it already read, too.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FileNotFoundError) as caught:
        build_upstream("whisper_tiny")
    message = str(caught.value)
    assert "could not load checkpoint 'openai/whisper-tiny' for upstream 'whisper_tiny'" in message
    assert str(tmp_path / "hub") in message
    assert "--checkpoint-dir" in message
