"""The protocol's training-only augmentation: Gaussian noise at a random SNR, then one time mask.

The reference augments with audiomentations 0.28: ``AddGaussianSNR(10, 30 dB, p=1)``, then
``TimeMask(min_band_part=0.1, max_band_part=0.15, fade=True, p=1)``. The time mask here is that
transform's, drawn from the harness's own seeded generator instead of Python's ``random``
(docs/protocol.md, section 8).
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
FADE_SECONDS = 0.01  # the time mask's longest linear fade at each end of the masked run


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``wave`` plus white Gaussian noise whose power is the signal's divided by 10^(snr/10)."""
    power = float(np.mean(wave.astype(np.float64) ** 2))
    noise = rng.standard_normal(wave.shape) * np.sqrt(power / 10 ** (snr_db / 10))
    return (wave + noise).astype(np.float32)


def mask_width_bounds(n: int, fractions: tuple[float, float]) -> tuple[int, int]:
    """The smallest and largest width (samples, both possible) of a mask on a clip of ``n`` samples:
    ``int(n * low)`` and ``int(n * high)``, as audiomentations' ``TimeMask`` bounds its draw."""
    low, high = fractions
    return int(n * low), int(n * high)


def fade_length(width: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples of linear fade at each end of a masked run of ``width`` samples:
    min(int(0.01 sample_rate), int(0.1 width))."""
    return min(int(sample_rate * FADE_SECONDS), int(width * 0.1))


def mask_gains(width: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The gains (float64) multiplying a masked run: zero, with a linear ramp 1 -> 0 over its first
    ``fade_length`` samples and 0 -> 1 over its last. With no fade (a run under 10 samples) the run
    is plain zeros; audiomentations 0.28 raises there (it assigns an empty ramp to the whole run)."""
    gains = np.zeros(width)
    fade = fade_length(width, sample_rate)
    if fade > 0:
        gains[:fade] = np.linspace(1, 0, num=fade)
        gains[-fade:] = np.linspace(0, 1, num=fade)
    return gains


def time_mask(wave: np.ndarray, fractions: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """``wave`` with one faded run of ``t`` samples silenced at ``t0``: ``t`` drawn uniformly from the
    integers ``mask_width_bounds`` (both included), then ``t0`` from 0 to ``len(wave) - t`` (both
    included), as ``random.randint`` draws them in audiomentations' ``TimeMask``."""
    n = len(wave)
    low, high = mask_width_bounds(n, fractions)
    width = int(rng.integers(low, high + 1))
    start = int(rng.integers(0, n - width + 1))
    masked = wave.copy()
    masked[start : start + width] *= mask_gains(width)
    return masked


def augment(
    wave: np.ndarray, rng: np.random.Generator, snr_db: tuple[float, float], mask: tuple[float, float]
) -> np.ndarray:
    """Noise at an SNR drawn from ``snr_db``, then a time mask whose width is drawn from the
    fractions ``mask`` of the clip."""
    noisy = add_noise(wave, rng.uniform(*snr_db), rng)
    return time_mask(noisy, mask, rng)
