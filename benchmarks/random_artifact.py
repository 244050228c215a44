"""An artifact folder as a training leaves it, made without training: the deploy benchmarks' stand-in
for a trained cell (random weights, the trainable ones moved off their initial values so that
adapters and LoRA are not the identity)."""

from __future__ import annotations

from pathlib import Path


def make_artifact(root: Path, upstream: str, method: str, *, seed: int = 0, scale: float = 0.02,
                  max_seconds: float = 6.0, upstream_args: dict | None = None) -> Path:
    """``root/<upstream>-<method>``: the model with its trainable tensors moved by ``scale`` x N(0, 1)."""
    import torch

    from peftser.benchmark.artifact import artifact_config, save_artifact
    from peftser.model import build_model

    torch.manual_seed(seed)
    model = build_model(upstream, method, upstream_args=upstream_args, pretrained=False)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(scale * torch.randn_like(p))
    directory = root / f"{upstream}-{method}"
    save_artifact(model, directory, artifact_config(model, upstream, upstream_args or {}, max_seconds))
    return directory
