"""Training losses and scores that must be finite: a NaN loss or NaN logits fail their cell or
evaluation with the reason, instead of a chance UAR (argmax of NaN scores is class 0 for every clip)."""

from __future__ import annotations

import numpy as np
import torch


class NonFiniteError(ValueError):
    """A training loss or a model's scores that are not finite (NaN or infinity). Its cell or
    evaluation fails with this reason: argmax of NaN scores is class 0 for every clip, which would
    be recorded as a chance UAR."""


def check_finite_loss(loss: float, epoch: int, lr: float) -> None:
    """A NonFiniteError when an epoch's mean training loss is NaN or infinite."""
    if not np.isfinite(loss):
        raise NonFiniteError(
            f"the training loss is {loss} in epoch {epoch} (lr {lr:g}): the training diverged (lower lr), "
            "or the weights or audio hold NaN or infinity"
        )


def finite(logits: torch.Tensor, what: str) -> torch.Tensor:
    """``logits`` [N, C], or a NonFiniteError naming ``what`` was scored when any clip's are not finite."""
    bad = int((~torch.isfinite(logits).all(dim=1)).sum())
    if bad:
        raise NonFiniteError(f"{what}: {bad} of {len(logits)} clips got scores that are not finite (NaN or infinity)")
    return logits
