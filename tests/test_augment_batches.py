"""The input pipeline's batches and the protocol's augmentation: shuffled full batches, length
buckets, Gaussian noise at the drawn SNR, and audiomentations 0.28's faded time mask."""

from __future__ import annotations

import numpy as np
import pytest

from peftser.benchmark.run.augment import add_noise, augment, time_mask
from peftser.benchmark.run.batches import train_batches


def test_training_batches_shuffle_and_drop_the_last_partial_batch():
    """The reference's DataLoader(shuffle=True, drop_last=True)."""
    lengths = list(np.random.default_rng(1).integers(8000, 96000, size=500))
    epochs = [train_batches(lengths, 32, np.random.default_rng(seed)) for seed in (1, 1, 2)]
    batches = epochs[0]
    assert len(batches) == 500 // 32 and all(len(b) == 32 for b in batches)
    seen = [i for b in batches for i in b]
    assert len(set(seen)) == len(seen) == 15 * 32  # 20 clips left out this epoch
    assert seen != sorted(seen)  # shuffled
    assert epochs[0] == epochs[1] and epochs[0] != epochs[2]  # a function of the seed
    # Plain shuffling mixes lengths: a batch spans most of the range.
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread > 0.7 * (max(lengths) - min(lengths))


def test_length_bucketing_groups_similar_lengths_in_full_batches():
    rng = np.random.default_rng(1)
    lengths = list(rng.integers(8000, 96000, size=500))
    batches = train_batches(lengths, 32, rng, bucketing=True)
    assert all(len(b) == 32 for b in batches) and len(batches) == 500 // 32
    seen = [i for b in batches for i in b]
    assert len(set(seen)) == len(seen)
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 0.2 * (max(lengths) - min(lengths))


def test_noise_hits_the_requested_snr():
    rng = np.random.default_rng(2)
    wave = np.sin(np.linspace(0, 2000, 32000)).astype(np.float32)
    for snr in (10.0, 20.0, 30.0):
        noisy = add_noise(wave, snr, rng)
        measured = 10 * np.log10(np.mean(wave**2) / np.mean((noisy - wave) ** 2))
        assert abs(measured - snr) < 0.2


def _reference_time_mask(wave, t, t0, sample_rate=16000):
    """audiomentations 0.28's TimeMask(fade=True).apply written out sample by sample: the run
    [t0, t0 + t) multiplied by zero, with a ramp from 1 down to 0 over its first f samples and from 0
    up to 1 over its last, f = min(int(sample_rate * 0.01), int(t * 0.1)); np.linspace(a, b, 1) is [a]."""
    f = min(int(sample_rate * 0.01), int(t * 0.1))
    gains = [0.0] * t
    for i in range(f):
        gains[i] = 1.0 if f == 1 else 1.0 - i / (f - 1)
    for j in range(f):
        gains[t - f + j] = 0.0 if f == 1 else j / (f - 1)
    out = wave.astype(np.float64)
    out[t0 : t0 + t] *= np.array(gains)
    return out.astype(np.float32)


def _reference_draws(seed, n, low=0.10, high=0.15):
    """t = randint(int(n low), int(n high)) and t0 = randint(0, n - t), both bounds included
    (Python's random.randint, as audiomentations draws them), from the harness's seeded generator."""
    rng = np.random.default_rng(seed)
    t = int(rng.integers(int(n * low), int(n * high) + 1))
    return t, int(rng.integers(0, n - t + 1))


@pytest.mark.parametrize("n", [96000, 16000, 12345, 1000, 150, 100, 60, 9])
def test_time_mask_is_audiomentations_fade_mask(n):
    wave = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    for seed in range(20):
        t, t0 = _reference_draws(seed, n)
        got = time_mask(wave, (0.10, 0.15), np.random.default_rng(seed))
        np.testing.assert_allclose(got, _reference_time_mask(wave, t, t0), rtol=1e-6, atol=1e-7)
        assert np.array_equal(got[:t0], wave[:t0]) and np.array_equal(got[t0 + t :], wave[t0 + t :])


def test_time_mask_fades_over_10_ms_at_most():
    wave = np.ones(96000, dtype=np.float32)  # 6 s: t from 9600 to 14400 samples, fade min(160, t/10) = 160
    t, t0 = _reference_draws(1, len(wave))
    masked = time_mask(wave, (0.10, 0.15), np.random.default_rng(1))
    run = masked[t0 : t0 + t]
    np.testing.assert_allclose(run[:160], np.linspace(1, 0, 160), atol=1e-7)
    np.testing.assert_allclose(run[-160:], np.linspace(0, 1, 160), atol=1e-7)
    assert not run[160:-160].any() and masked[t0 - 1] == 1 and masked[t0 + t] == 1
    assert np.count_nonzero(masked == 0) == t - 2 * 160 + 2  # each ramp ends (or starts) at zero


def test_short_masks_fade_less_or_not_at_all():
    # 120 samples: t in 12..18, fade int(t / 10) = 1: a one-sample "ramp" is [1] at the start, [0] at the end.
    wave = np.ones(120, dtype=np.float32)
    for seed in range(10):
        t, t0 = _reference_draws(seed, 120)
        run = time_mask(wave, (0.10, 0.15), np.random.default_rng(seed))[t0 : t0 + t]
        assert run[0] == 1 and not run[1:].any()
    # 60 samples: t in 6..9, no fade at all (audiomentations 0.28 raises there): the run is zeros.
    for seed in range(10):
        t, t0 = _reference_draws(seed, 60)
        masked = time_mask(np.ones(60, dtype=np.float32), (0.10, 0.15), np.random.default_rng(seed))
        assert 6 <= t <= 9 and not masked[t0 : t0 + t].any() and np.count_nonzero(masked == 0) == t


def test_mask_width_and_start_reach_both_bounds():
    """randint includes both ends: on 100 samples every width 10..15 and starts 0 and 100 - t occur."""
    widths, starts = set(), set()
    for seed in range(400):
        t, t0 = _reference_draws(seed, 100)
        masked = time_mask(np.ones(100, dtype=np.float32), (0.10, 0.15), np.random.default_rng(seed))
        assert np.array_equal(masked[t0 : t0 + t] < 1, np.r_[False, np.ones(t - 1, dtype=bool)])  # fade 1
        widths.add(t)
        starts.add(t0 if t0 == 0 else ("end" if t0 == 100 - t else "inside"))
    assert widths == set(range(10, 16)) and starts == {0, "end", "inside"}


def test_augment_draws_snr_and_mask_within_their_ranges():
    rng = np.random.default_rng(4)
    wave = np.ones(16000, dtype=np.float32)
    for _ in range(50):
        out = augment(wave, rng, (10.0, 30.0), (0.10, 0.15))
        zeros = np.count_nonzero(out == 0)  # the run between the two 160-sample ramps, plus their zero ends
        assert 1600 - 2 * 160 + 2 <= zeros <= 2400 - 2 * 160 + 2
        zero = np.flatnonzero(out == 0)
        assert zero[-1] - zero[0] + 1 == zeros  # one run
        kept = np.ones(len(out), dtype=bool)
        kept[zero[0] - 159 : zero[-1] + 160] = False  # the run and its ramps
        snr = 10 * np.log10(1.0 / np.mean((out[kept] - 1.0) ** 2))
        assert 9.0 < snr < 31.0
