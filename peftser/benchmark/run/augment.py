"""The protocol's training-only augmentation: Gaussian noise at a random SNR, then one time mask."""

from __future__ import annotations

import numpy as np


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``wave`` plus white Gaussian noise whose power is the signal's divided by 10^(snr/10)."""
    power = float(np.mean(wave.astype(np.float64) ** 2))
    noise = rng.standard_normal(wave.shape) * np.sqrt(power / 10 ** (snr_db / 10))
    return (wave + noise).astype(np.float32)


def time_mask(wave: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``wave`` with one run of ``fraction`` of its samples, at a random place, set to zero."""
    width = int(round(fraction * len(wave)))
    start = int(rng.integers(0, len(wave) - width + 1))
    masked = wave.copy()
    masked[start : start + width] = 0.0
    return masked


def augment(
    wave: np.ndarray, rng: np.random.Generator, snr_db: tuple[float, float], mask: tuple[float, float]
) -> np.ndarray:
    """Noise at an SNR drawn from ``snr_db``, then a mask of a fraction drawn from ``mask``."""
    noisy = add_noise(wave, rng.uniform(*snr_db), rng)
    return time_mask(noisy, rng.uniform(*mask), rng)
