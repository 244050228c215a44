"""How far the harness's resampler (soxr HQ) is from the reference's (torchaudio's Resample defaults).

The reference code resamples every clip that is not stored at 16 kHz with
``torchaudio.transforms.Resample(rate, 16000)`` at its defaults: windowed-sinc interpolation with a
Hann window (``sinc_interp_hann``), ``lowpass_filter_width`` 6, ``rolloff`` 0.99. torchaudio has no
build beside this project's torch, so ``torchaudio_resample`` below writes its kernel out (the
arithmetic of torchaudio's ``_get_sinc_resample_kernel`` and ``_apply_sinc_resample_kernel``), for
this measurement only; scipy's ``resample_poly`` is a third, independent resampler.

Signals: the synthetic corpora's speech synthesiser run at 44.1 and 48 kHz (its harmonics, formants
and frication reach up to the Nyquist frequency of those rates). Printed, per rate:

- the difference between resampled waves, as a signal-to-difference ratio in dB (||b|| / ||a - b||)
  over each clip but its first and last 10 ms (where the resamplers pad differently);
- what an encoder sees: whisper_tiny_en (real weights, extra ``real``) on each resampled clip, the
  largest log-mel difference in normalised units and the mean relative L2 difference of the
  last layer's states; beside them the same figures for the clip plus white noise at 30 dB SNR
  (the mildest of the training augmentation) to give them a scale.

    python benchmarks/resampling.py            # about a minute on 2 CPU cores
"""

from __future__ import annotations

import math

import numpy as np
import soxr
import torch
from scipy.signal import resample_poly

from peftser.downstream.task import EMOTIONS
from peftser.downstream.tasks.synthetic import voice
from peftser.sample_rate import SAMPLE_RATE
from peftser.upstream import build_upstream

RATES = (44_100, 48_000)
EDGE = SAMPLE_RATE // 100  # 10 ms


def torchaudio_resample(wave: np.ndarray, orig_freq: int, new_freq: int, lowpass_filter_width: int = 6,
                        rolloff: float = 0.99) -> np.ndarray:
    """``torchaudio.transforms.Resample(orig_freq, new_freq)`` at its defaults, on a float32 wave."""
    gcd = math.gcd(orig_freq, new_freq)
    orig, new = orig_freq // gcd, new_freq // gcd
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    idx = torch.arange(-width, width + orig, dtype=torch.float64)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=torch.float32)[:, None, None] / new + idx
    t *= base_freq
    t = t.clamp_(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t *= math.pi
    kernels = torch.where(t == 0, torch.tensor(1.0).to(t), t.sin() / t)
    kernels = (kernels * window * (base_freq / orig)).to(torch.float32)
    x = torch.nn.functional.pad(torch.from_numpy(wave)[None], (width, width + orig))
    out = torch.nn.functional.conv1d(x[:, None], kernels, stride=orig).transpose(1, 2).reshape(1, -1)
    return out[0, : math.ceil(new * len(wave) / orig)].numpy()


def speech_at(rate: int, count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """``count`` utterances of the synthetic corpora's synthesiser, generated at ``rate``."""
    rng = np.random.default_rng(seed)
    saved = voice.SAMPLE_RATE
    voice.SAMPLE_RATE = rate  # the synthesiser reads its rate at call time
    try:
        clips = []
        for i in range(count):
            speaker = voice.make_voice(rng, ("female", "male")[i % 2])
            clips.append(voice.synthesize(rng, speaker, EMOTIONS[i % len(EMOTIONS)]).astype(np.float32))
        return clips
    finally:
        voice.SAMPLE_RATE = saved


def ratio_db(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[EDGE : n - EDGE], b[EDGE : n - EDGE]
    return 20 * math.log10(np.linalg.norm(b) / max(np.linalg.norm(a - b), 1e-20))


def encoder_view(upstream, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The log-mel and the last layer's states whisper_tiny_en computes from ``wave`` alone."""
    waves = torch.from_numpy(wave)[None]
    lengths = torch.tensor([len(wave)])
    with torch.no_grad():
        mel = upstream.log_mel(waves, lengths)[0].numpy()
        states, _ = upstream(waves, lengths)
    return mel, states[-1][0].numpy()


def compare_views(upstream, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    n = min(len(a), len(b))
    (mel_a, last_a), (mel_b, last_b) = encoder_view(upstream, a[:n]), encoder_view(upstream, b[:n])
    relative = np.linalg.norm(last_a - last_b, axis=-1) / np.linalg.norm(last_b, axis=-1)
    return float(np.abs(mel_a - mel_b).max()), float(relative.mean())


def main() -> None:
    upstream = build_upstream("whisper_tiny_en").eval()
    print("| rate | pair | wave: signal / difference (dB), mean [min] | log-mel max diff | last layer rel. L2 |")
    print("|---|---|---|---|---|")
    for rate in RATES:
        clips = speech_at(rate)
        ways = {
            "soxr HQ": [soxr.resample(c, rate, SAMPLE_RATE).astype(np.float32) for c in clips],
            "torchaudio": [torchaudio_resample(c, rate, SAMPLE_RATE) for c in clips],
            "resample_poly": [resample_poly(c, SAMPLE_RATE // math.gcd(rate, SAMPLE_RATE),
                                            rate // math.gcd(rate, SAMPLE_RATE)).astype(np.float32) for c in clips],
        }
        rng = np.random.default_rng(1)
        ways["torchaudio + 30 dB noise"] = [
            c + rng.normal(0, np.sqrt(np.mean(c**2) / 1e3), len(c)).astype(np.float32) for c in ways["torchaudio"]
        ]
        for first, second in (("soxr HQ", "torchaudio"), ("resample_poly", "torchaudio"), ("soxr HQ", "resample_poly"),
                              ("torchaudio + 30 dB noise", "torchaudio")):
            ratios = [ratio_db(a, b) for a, b in zip(ways[first], ways[second])]
            views = [compare_views(upstream, a, b) for a, b in zip(ways[first], ways[second])]
            print(f"| {rate} | {first} vs {second} | {np.mean(ratios):.1f} [{np.min(ratios):.1f}] "
                  f"| {max(v[0] for v in views):.4f} | {np.mean([v[1] for v in views]):.5f} |")


if __name__ == "__main__":
    main()
