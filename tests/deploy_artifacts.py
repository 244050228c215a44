"""Artifacts for the deployment tests, written without training: a model whose trainable weights
(method and head) are drawn at random around their initial values, so that every method changes
what the frozen encoder computes (an adapter's up-projection starts at zero, which would hide it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from peftser.benchmark.artifact import artifact_config, save_artifact
from peftser.model import build_model

PAPER_METHODS = ("downstream", "adapter", "parallel_adapter", "embedding_prompt", "lora")


def make_artifact(root: Path, upstream: str, method: str, *, seed: int = 0, max_seconds: float = 1.0,
                  method_args: dict | None = None, pretrained: bool = False) -> Path:
    """An artifact folder ``root/<upstream>-<method>-<seed>`` as a training leaves it (no record)."""
    torch.manual_seed(seed)
    model = build_model(upstream, method, method_args=method_args, pretrained=pretrained)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    directory = root / f"{upstream}-{method}-{seed}"
    save_artifact(model, directory, artifact_config(model, upstream, {}, max_seconds))
    return directory


def clips(*seconds: float, seed: int = 1) -> list[np.ndarray]:
    """Noise-and-tone clips of the given lengths at 16 kHz, other than the export's own probes."""
    rng = np.random.default_rng(seed)
    out = []
    for s in seconds:
        t = np.arange(int(s * 16000)) / 16000
        out.append((0.2 * np.sin(2 * np.pi * 220 * t * (1 + t)) + 0.05 * rng.standard_normal(t.size)).astype(np.float32))
    return out


@torch.no_grad()
def logits(predictor, waves: list[np.ndarray], batch_size: int = 8) -> torch.Tensor:
    """A loaded predictor's logits on the clips, through the evaluation batching (padded batches)."""
    from peftser.api import _Input
    from peftser.benchmark.run.training import predict

    cut = int(predictor.max_seconds * 16000)
    return predict(predictor.model, [_Input(w[:cut]) for w in waves], batch_size, torch.device("cpu"), "fp32")
