"""Whisper's log-mel against transformers' WhisperFeatureExtractor, called as the reference calls it."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import WhisperFeatureExtractor

from waves import batch as _batch
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
