"""The noises of the robustness evaluation, made offline: a pure function of (utterance key, noise
type, SNR), so that every method and backbone hears exactly the same noisy clip. One clip hears
the same noise realisation at every SNR, only scaled, so that a curve over SNRs changes the level
and nothing else.

- ``white``: white Gaussian noise, as in the protocol's training augmentation
  (peftser.benchmark.run.augment).
- ``speech_shaped``: non-stationary noise with speech's broad spectral tilt and rhythm. Pink noise
  (power spectral density proportional to 1/f from 50 Hz up, flat below, where speech has little
  energy), amplitude-modulated by a random envelope band-limited to 2-8 Hz, the syllable rate of
  speech (the modulation spectrum of speech peaks near 4 Hz): the level swings within a clip from
  14 dB below its mean to 5 dB above, like a babble of few talkers, without words the encoders
  could recognise.

The noise is scaled so that the clip's SNR, mean signal power over mean noise power across the
whole (cut) clip, is exactly the one asked for. A silent clip stays silent: its SNR is undefined,
and adding noise at some level would invent one.
"""

from __future__ import annotations

import hashlib

import numpy as np

from peftser.sample_rate import SAMPLE_RATE

PINK_FROM_HZ = 50.0
SYLLABLE_BAND_HZ = (2.0, 8.0)
ENVELOPE_RATE = 100  # Hz: the envelope is drawn at this rate and interpolated (it has nothing above 8 Hz)
MODULATION_DEPTH = 0.8  # envelope 1 + 0.8 b(t) with |b| <= 1: from 0.2 to 1.8, about 19 dB from trough to peak


def noise_seed(key: str, kind: str) -> int:
    """The seed of one clip's noise: from its utterance key and the noise type only."""
    digest = hashlib.sha256(f"{key}\0{kind}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def syllable_envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random gain for ``n`` samples: Gaussian noise band-limited to SYLLABLE_BAND_HZ, drawn at
    ENVELOPE_RATE, scaled to peak 1, as ``1 + MODULATION_DEPTH * b(t)``."""
    points = n * ENVELOPE_RATE // SAMPLE_RATE + 2
    freqs = np.fft.rfftfreq(points, d=1.0 / ENVELOPE_RATE)
    spectrum = np.fft.rfft(rng.standard_normal(points))
    slow = np.fft.irfft(np.where((freqs >= SYLLABLE_BAND_HZ[0]) & (freqs <= SYLLABLE_BAND_HZ[1]), spectrum, 0.0), points)
    peak = np.max(np.abs(slow))
    slow = slow / peak if peak > 0 else slow
    times = np.arange(n) * (ENVELOPE_RATE / SAMPLE_RATE)
    return 1.0 + MODULATION_DEPTH * np.interp(times, np.arange(points), slow)


def white(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance white Gaussian noise."""
    return rng.standard_normal(n)


def speech_shaped(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink noise under a syllable-rate envelope (see the module doc)."""
    freqs = np.fft.rfftfreq(n, d=1.0 / SAMPLE_RATE)
    tilt = 1.0 / np.sqrt(np.maximum(freqs, PINK_FROM_HZ))  # amplitude ~ f^-1/2: power ~ 1/f
    pink = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * tilt, n)
    return pink * syllable_envelope(n, rng)


NOISES = {"white": white, "speech_shaped": speech_shaped}


def add_noise_at_snr(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``wave`` plus ``noise`` scaled to mean power ``power(wave) / 10^(snr/10)``."""
    signal_power = float(np.mean(wave.astype(np.float64) ** 2))
    noise_power = float(np.mean(noise**2))
    if signal_power == 0.0 or noise_power == 0.0:
        return wave.astype(np.float32)
    scale = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return (wave + noise * scale).astype(np.float32)


def noisy(wave: np.ndarray, key: str, kind: str, snr_db: float) -> np.ndarray:
    """The clip ``wave`` of utterance ``key`` with noise ``kind`` at ``snr_db``."""
    if kind not in NOISES:
        raise ValueError(f"unknown noise {kind!r}; the noises are {', '.join(NOISES)}")
    rng = np.random.default_rng(noise_seed(key, kind))
    return add_noise_at_snr(wave, NOISES[kind](len(wave), rng), snr_db)
