"""Arrays of samples handed to the Python API: what they may hold, and how integer PCM is scaled
to the float scale of decoded audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from peftser.downstream.audio import AudioError

# Integer PCM as soundfile (libsndfile) decodes it to float: (sample - offset) / full scale. 8-bit
# WAV is unsigned around 128; the others are signed.
PCM_SCALES = {np.dtype(np.int16): (0, 2.0**15), np.dtype(np.int32): (0, 2.0**31),
              np.dtype(np.uint8): (128, 2.0**7), np.dtype(np.int8): (0, 2.0**7)}
# The peak an array handed to the Python API may reach. Decoded audio lies in [-1, 1]; a float file
# or a resampler's ringing may overshoot it a little, but samples beyond this are not audio at this
# scale (integer PCM cast to float, a wrong gain) and would be scored as something the model never heard.
MAX_PEAK = 4.0


def as_float_samples(data: np.ndarray, source: str | Path) -> np.ndarray:
    """Samples in the float scale of decoded audio: float arrays as they are, int16/int32/int8/uint8
    PCM divided by their full scale as a decoder does; any other dtype is an AudioError naming ``source``."""
    if data.dtype.kind == "f":
        return data
    if data.dtype in PCM_SCALES:
        offset, scale = PCM_SCALES[data.dtype]
        return ((data.astype(np.float64) - offset) / scale).astype(np.float32)
    raise AudioError(source, "unreadable", f"samples of dtype {data.dtype} are not audio: give float samples in "
                                           "[-1, 1] or int16, int32, int8 or uint8 PCM")


def check_peak(wave: np.ndarray, source: str | Path) -> None:
    """An AudioError naming ``source`` when finite samples reach beyond ``MAX_PEAK``."""
    peak = float(np.abs(wave).max(initial=0.0))
    if peak > MAX_PEAK:
        raise AudioError(source, "unreadable", f"samples reach {peak:.3g}, far outside the [-1, 1] of audio "
                                               "(integer PCM cast to float? pass the integer array, or divide by its full scale)")
