"""The check every export passes before it is kept: its logits against the artifact's own model
(torch, unmerged), on a padded batch of clips of different lengths and on each clip alone."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from peftser.benchmark.run.batches import collate
from peftser.sample_rate import SAMPLE_RATE

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # waves [B, S], lengths [B] -> logits [B, C]
MERGED_TOLERANCE = 1e-5  # float32 rounding of a folded weight, through a few layers
ONNX_TOLERANCE = 1e-4  # another runtime's kernels (STFT, attention, convolutions) round otherwise


def probe_clips(max_seconds: float, count: int = 3, seed: int = 0) -> list[np.ndarray]:
    """``count`` speech-like clips (a gliding voiced tone at a syllable rate, plus noise) from the
    model's training cut down to about a third of it, so that a batch of them is padded."""
    rng = np.random.default_rng(seed)
    longest = int(max_seconds * SAMPLE_RATE)
    clips = []
    for i in range(count):
        n = max(400, int(longest * (1.0 - 0.7 * i / max(count - 1, 1))))
        t = np.arange(n) / SAMPLE_RATE
        pitch = 2 * np.pi * ((140 + 40 * i) * t + 30 * np.sin(2 * np.pi * 0.5 * t))
        envelope = 0.5 + 0.5 * np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
        clips.append((0.3 * envelope * np.sin(pitch) + 0.02 * rng.standard_normal(n)).astype(np.float32))
    return clips


@torch.no_grad()
def logits_both_ways(forward: Forward, clips: list[np.ndarray]) -> torch.Tensor:
    """[2, N, C]: the clips' logits in one zero-padded batch, then each clip alone."""
    batched = forward(*collate(clips)).float()
    alone = torch.cat([forward(*collate([clip])).float() for clip in clips])
    return torch.stack([batched, alone])


def largest_difference(reference: Forward, candidate: Forward, clips: list[np.ndarray]) -> float:
    """The largest absolute difference between two models' logits on the clips, both ways."""
    return float((logits_both_ways(reference, clips) - logits_both_ways(candidate, clips)).abs().max())
