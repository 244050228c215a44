"""The adapters' bottleneck module, and the hook targets that place it in a layer."""

from __future__ import annotations

import torch
from torch import nn


class Bottleneck(nn.Module):
    """s * W_u dropout(ReLU(W_d h)): W_u and both biases start at zero (the reference's "lora" init)."""

    def __init__(self, dim: int, bottleneck: int, dropout: float, scale: float, reference_residual: bool = False):
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.up = nn.Linear(bottleneck, dim)
        self.dropout = nn.Dropout(dropout)
        self.scale = scale
        self.reference_residual = reference_residual
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """What the layer adds to its state: s A(h), or h + s A(h) as the reference's module returns."""
        update = self.scale * self.up(self.dropout(torch.relu(self.down(h))))
        return h + update if self.reference_residual else update

    # Hook targets are bound methods (not closures) so that a deep copy of the model hooks its own copy.
    def sequential(self, h: torch.Tensor) -> torch.Tensor:
        return h + self(h)

    def remember(self, h: torch.Tensor) -> None:
        self._input = h

    def parallel(self, h: torch.Tensor) -> torch.Tensor:
        return h + self(self.__dict__.pop("_input"))
