"""Decoding one audio file (or a segment of it) as every clip is used: 16 kHz mono float32.

soundfile reads it, the channels are averaged and soxr resamples it (the reference code's
torchaudio preprocessing does the same: mean over channels, then resample). A file that cannot be
used raises an ``AudioError`` naming it; a clip that decodes but is flawed (NaN or infinite
samples, all zeros, under one encoder frame) comes back made finite with its flaw beside it.
``downstream.audio`` caches what this decodes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile
import soxr

from peftser.sample_rate import SAMPLE_RATE

# 25 ms: the receptive field of one wav2vec 2.0 / WavLM frame (convolutions of kernels 10, 3, 3, 3,
# 3, 2, 2 and strides 5, 2, 2, 2, 2, 2, 2); Whisper needs 160 samples for one log-mel frame.
MIN_SAMPLES = 400
# Kinds of flaw a clip can still be scored with (dev and test): it decodes, and once made finite
# and padded to MIN_SAMPLES every encoder can take it.
REPAIRABLE = ("silent", "nan/inf", "too short")

Decoded = tuple[np.ndarray, "AudioError | None"]  # a clip's samples and its flaw, if any
Segment = "tuple[float, float] | None"  # (start, end) seconds of a longer file; None: the whole file


class AudioError(ValueError):
    """An audio file that cannot be used: its message names the file and what is wrong."""

    def __init__(self, path: str | Path, kind: str, detail: str):
        self.path = Path(path)
        self.kind = kind  # short category for counting: missing, empty, truncated, unreadable, silent, nan/inf
        self.detail = detail
        super().__init__(f"{path}: {detail}")

    @property
    def repairable(self) -> bool:
        """Whether the clip can still be scored (``load_audio(..., repair=True)``); training skips it."""
        return self.kind in REPAIRABLE


_UNKNOWN_SIZES = (0, 0x7FFFFFFF, 0xFFFFFFFF)


def _wav_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/WAVE file's data chunk when the file ends before it does.

    Read by hand: libsndfile accepts such a file and decodes what is there, saying so only in its
    log text; the chunk walk is a few lines of the RIFF layout (id, little-endian size, data).
    """
    with open(path, "rb") as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None  # not a RIFF/WAVE file (RF64 and others say their sizes elsewhere)
        size = path.stat().st_size
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return None
            chunk, length = header[:4], int.from_bytes(header[4:], "little")
            if chunk == b"data":
                present = size - handle.tell()
                return (length, present) if length not in _UNKNOWN_SIZES and present < length else None
            handle.seek(length + length % 2, os.SEEK_CUR)  # chunks are padded to an even length


def make_finite(wave: np.ndarray) -> np.ndarray:
    """A clip with NaN or infinite samples made finite: all zeros when its first sample is NaN (the
    reference code's rule), otherwise each non-finite sample set to zero (the reference passes
    those on to the encoder, whose outputs for the clip are then NaN)."""
    if np.isnan(wave[0]):
        return np.zeros_like(wave)
    return np.where(np.isfinite(wave), wave, 0).astype(wave.dtype)


def pad_to_min(wave: np.ndarray) -> np.ndarray:
    """A clip under MIN_SAMPLES zero-padded at its end to MIN_SAMPLES (as a batch pads it), so
    that every encoder gets at least one frame; a longer clip as it is."""
    return np.pad(wave, (0, MIN_SAMPLES - len(wave))) if len(wave) < MIN_SAMPLES else wave


def decode(path: Path, segment: Segment = None) -> Decoded:
    """Read, downmix and resample one file (or its ``segment``, start and end in seconds): (samples,
    flaw), the samples made finite when they were not; an AudioError (raised) says why a file is
    unusable altogether."""
    if path.stat().st_size == 0:
        raise AudioError(path, "empty", "audio file is empty (0 bytes)")
    shortfall = _wav_shortfall(path)
    if shortfall is not None:
        declared, present = shortfall
        raise AudioError(path, "truncated", f"audio file is cut off: {present} of the {declared} data bytes its header declares")
    try:
        frames = _segment_frames(path, segment)
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True, **frames)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(path, "unreadable", f"audio file cannot be decoded ({err})") from None
    if data.shape[0] == 0:
        raise AudioError(path, "empty", "audio file has no samples (0 frames)")
    return conform(data, rate, path)


def _segment_frames(path: Path, segment: Segment) -> dict:
    """soundfile's ``start``/``stop`` frames of a segment, checked against the file's length."""
    if segment is None:
        return {}
    start, end = segment
    info = soundfile.info(str(path))
    if not 0 <= start < end:
        raise AudioError(path, "unreadable", f"segment {start}-{end} s is not a span (0 <= start < end)")
    if start * info.samplerate >= info.frames:
        raise AudioError(path, "unreadable", f"segment {start}-{end} s starts after the file ends ({info.duration:.3f} s)")
    # An end a few samples past the file is a rounding of the metadata, not an error: read to the end.
    return {"start": int(round(start * info.samplerate)), "stop": min(int(round(end * info.samplerate)), info.frames)}


def conform(data: np.ndarray, rate: int, source: str | Path) -> Decoded:
    """Samples ``[frames, channels]`` (or ``[frames]``) at ``rate`` Hz as every clip is used: the
    channel mean, made finite, resampled to 16 kHz with soxr; with its flaw (NaN or infinite
    samples, all zeros, under ``MIN_SAMPLES``) as an AudioError naming ``source``, or None. A
    decoded file and an array handed to the Python API go through this one recipe; what cannot be
    used at all raises."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise AudioError(source, "unreadable", f"audio must be 1-D samples, got an array of shape {data.shape}")
    if data.shape[0] == 0:
        raise AudioError(source, "empty", "audio has no samples")
    if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool) or rate <= 0:
        raise AudioError(source, "unreadable", f"sample rate must be a positive whole number of Hz, got {rate!r}")
    wave = data.mean(axis=1, dtype=np.float32)
    flaw = None
    if not np.isfinite(wave).all():
        flaw = AudioError(source, "nan/inf", "audio contains NaN or infinite samples")
        wave = make_finite(wave)  # before resampling, which would spread them
    elif not wave.any():
        flaw = AudioError(source, "silent", "audio is all zeros (no signal)")
    if rate != SAMPLE_RATE:
        wave = soxr.resample(wave, int(rate), SAMPLE_RATE).astype(np.float32, copy=False)
    if len(wave) < MIN_SAMPLES and flaw is None:
        # Shorter than one wav2vec 2.0 frame: no encoder can take it unpadded.
        seconds = len(wave) / SAMPLE_RATE
        flaw = AudioError(source, "too short", f"audio lasts {seconds:.3f} s, under the {MIN_SAMPLES / SAMPLE_RATE} s minimum")
    return np.ascontiguousarray(wave), flaw
