"""What a training changes for an attribute task (docs/protocol.md, section 4b).

The head is the same, with one linear output per dimension; its targets are the ratings mapped to
[0, 1]. The loss is 1 - CCC averaged over the dimensions, computed over the batch, as the
MSP-Podcast challenge baselines train (``attribute_loss: mse`` switches to mean squared error).
Dev and test are scored on the corpus' scale; the epoch with the best mean dev CCC is kept, by the
same strict rule as the best dev UAR.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from peftser.benchmark.attribute_metrics import attribute_metrics
from peftser.downstream.tasks.attributes import from_unit, to_unit

SELECTION = "mean_ccc"  # the dev figure model selection maximises
EPS = 1e-8  # keeps a batch of identical targets and outputs finite


def batch_ccc(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CCC of each column of [B, D] outputs against targets over the batch (population moments): [D]."""
    pm, tm = pred.mean(0), target.mean(0)
    cov = ((pred - pm) * (target - tm)).mean(0)
    return 2.0 * cov / (pred.var(0, unbiased=False) + target.var(0, unbiased=False) + (pm - tm) ** 2 + EPS)


class CCCLoss(nn.Module):
    """1 - CCC, averaged over the dimensions, over a batch."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 1.0 - batch_ccc(pred, target.to(pred.dtype)).mean()


class MSELoss(nn.MSELoss):
    """Mean squared error in [0, 1] units (targets cast to the outputs' type)."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(pred, target.to(pred.dtype))


def attribute_loss(name: str) -> nn.Module:
    """The training loss the ``attribute_loss`` option names."""
    return {"ccc": CCCLoss, "mse": MSELoss}[name]()


def unit_targets(scale: tuple[float, float]):
    """The clip label of an utterance: its ratings in [0, 1] (a tuple, collated into [B, D])."""
    return lambda utt: to_unit(utt.ratings, scale)


def score_attributes(outputs: torch.Tensor, clips, dimensions: Sequence[str], scale: tuple[float, float],
                     loss_name: str = "ccc") -> tuple[float, dict[str, Any], np.ndarray]:
    """(loss, metrics on the corpus' scale, predictions [N, D] on that scale) of outputs against the
    clips' ratings. The loss (the plateau signal) is the training loss over the whole set."""
    targets = torch.tensor([c.label for c in clips], dtype=torch.float32)
    loss = float(attribute_loss(loss_name)(outputs.float(), targets))
    preds = np.array([from_unit(row, scale) for row in outputs.double().numpy()])
    truth = np.array([c.utterance.ratings for c in clips], dtype=np.float64)
    return loss, attribute_metrics(truth, preds, [c.utterance.gender for c in clips], dimensions), preds


def prediction_entries(clips, preds: np.ndarray, dimensions: Sequence[str]) -> list[dict[str, Any]]:
    """The record's per-utterance predictions: ratings and predicted values by dimension, corpus scale."""
    return [
        {"key": c.utterance.key, "ratings": dict(zip(dimensions, c.utterance.ratings)),
         "pred": {d: float(v) for d, v in zip(dimensions, row)}, "gender": c.utterance.gender}
        for c, row in zip(clips, preds)
    ]


def summary_line(test: dict[str, Any]) -> str:
    """``--train``'s figures of an attribute cell: mean CCC, then CCC per dimension."""
    def fmt(v):
        return "n/a" if v is None else f"{v:.3f}"
    per_dim = " ".join(f"{d} {fmt(v)}" for d, v in test["ccc"].items())
    return f"test mean CCC {fmt(test['mean_ccc'])} ({per_dim})"
