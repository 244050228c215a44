"""Whisper's log-mel against transformers' WhisperFeatureExtractor, called as the reference calls it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

import upstream_twins  # noqa: F401  (registers twin_whisper_128)
from waves import batch as _batch
from peftser.benchmark.cell import Cell
from peftser.benchmark.config import TrainConfig
from peftser.upstream import build_upstream
from peftser.upstream.whisper import LogMel


MEL_LENGTHS = [[96_000], [52_923], [40_020], [16_000 * 5 + 39], [96_000, 52_923, 40_020, 33_333, 80_039]]


def _extractor_call(extractor, clip):
    """The reference code's call: padded to the clip's own length (so not padded), not to 30 s."""
    return extractor(clip, sampling_rate=16_000, max_length=len(clip), padding="max_length", return_tensors="np").input_features[0]


@pytest.mark.parametrize("bins", [80, 128])
@pytest.mark.parametrize("lengths", MEL_LENGTHS)
def test_log_mel_equals_whisper_feature_extractor(lengths, bins):
    """Frame for frame, each clip of a zero-padded batch as the extractor gives it called alone."""
    extractor = WhisperFeatureExtractor(feature_size=bins)
    waves, lens = _batch(lengths)
    mel = LogMel(bins)(waves, lens)
    assert mel.shape == (len(lengths), bins, max(lengths) // 160)
    for row, length in enumerate(lengths):
        reference = _extractor_call(extractor, waves[row, :length].numpy())
        frames = length // 160
        assert reference.shape == (bins, frames)
        np.testing.assert_allclose(mel[row, :, :frames].numpy(), reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("length", [96_000, 80_010, 40_020])
def test_last_frame_and_clamp_are_not_those_of_zero_padding(length):
    """The extractor padded to 30 s (zeros after the clip) gives another last frame and dynamic
    range than the reference's call whenever length % 160 < 40: the harness follows the call."""
    extractor = WhisperFeatureExtractor(feature_size=80)
    waves, lens = _batch([length])
    # A clip whose loudest moment is its last 10 ms: the maximum for the clamp then sits there.
    waves[0, length - 160 : length] *= 20.0
    mel = LogMel(80)(waves, lens)[0].numpy()
    frames = length // 160
    reference = _extractor_call(extractor, waves[0].numpy())
    zero_padded = extractor(waves[0].numpy(), sampling_rate=16_000, return_tensors="np").input_features[0][:, :frames]
    np.testing.assert_allclose(mel, reference, atol=1e-5, rtol=0)
    assert np.abs(mel[:, -1] - zero_padded[:, -1]).max() > 1e-3


TRAINING_LENGTHS = [[48_000, 30_001, 16_000 * 2 + 39], [80_039, 52_923, 40_020, 33_333]]


def _encoder_input(upstream, waves, lengths):
    """The log-mel the upstream hands its first convolution."""
    seen = {}
    handle = upstream.model.conv1.register_forward_pre_hook(lambda module, args: seen.update(mel=args[0].detach()))
    with torch.no_grad():
        upstream(waves, lengths)
    handle.remove()
    return seen["mel"].numpy()


@pytest.mark.parametrize("upstream_name, bins", [("demo_whisper_tiny", 80), ("twin_whisper_128", 128)])
@pytest.mark.parametrize("lengths", TRAINING_LENGTHS)
def test_training_log_mel_is_the_extractors_on_the_zero_padded_batch(upstream_name, bins, lengths):
    """The reference's training call: the zero-padded batch, max_length = its longest clip. A
    shorter clip's STFT sees the zeros after its end, its maximum runs over the whole row."""
    extractor = WhisperFeatureExtractor(feature_size=bins)
    upstream = build_upstream(upstream_name).train()
    waves, lens = _batch(lengths)
    mel = _encoder_input(upstream, waves, lens)
    reference = extractor(
        [row.numpy() for row in waves], sampling_rate=16_000, max_length=max(lengths), return_tensors="np"
    ).input_features
    assert mel.shape == reference.shape == (len(lengths), bins, max(lengths) // 160)
    np.testing.assert_allclose(mel, reference, atol=1e-5, rtol=0)
    # The per-clip switch gives each clip its own log-mel instead, as evaluation does.
    upstream.per_clip_log_mel_in_training = True
    alone = _encoder_input(upstream, waves, lens)
    shorter = int(np.argmin(lengths))
    frames = lengths[shorter] // 160
    own = _extractor_call(extractor, waves[shorter, : lengths[shorter]].numpy())
    np.testing.assert_allclose(alone[shorter, :, :frames], own, atol=1e-5, rtol=0)
    # Past its end, the batch row holds the zeros' floor where the clip alone has its reflection.
    assert np.abs(alone[shorter, :, frames:] - mel[shorter, :, frames:]).max() > 0.1


def test_per_clip_log_mel_is_a_keyed_departure_and_other_cells_keep_their_keys():
    default = Cell("demo_whisper_tiny", "lora", "synthetic_crema_d", "fold1")
    per_clip = Cell("demo_whisper_tiny", "lora", "synthetic_crema_d", "fold1", train={"per_clip_log_mel": True})
    assert "per_clip_log_mel" not in default.resolved()["train"]
    assert per_clip.key != default.key
    assert TrainConfig.from_dict({"per_clip_log_mel": True}).departures() == ["per_clip_log_mel True (paper: False)"]
