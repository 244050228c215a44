"""Bottleneck adapters on every layer's feed-forward block: sequential and parallel (Section II-C).

Written here because no maintained library inserts bottleneck adapters into these encoders'
feed-forward blocks. They attach through forward hooks, so the layers keep their classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from peftser.peft.base import Method
from peftser.registry import METHODS


class Bottleneck(nn.Module):
    """s * W_u ReLU(W_d h): W_u and both biases start at zero, so the frozen model is unchanged at step 0."""

    def __init__(self, dim: int, bottleneck: int, dropout: float, scale: float):
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.up = nn.Linear(bottleneck, dim)
        self.dropout = nn.Dropout(dropout)
        self.scale = scale
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.scale * self.up(self.dropout(torch.relu(self.down(h))))

    # Hooks are bound methods (not closures) so that a deep copy of the model hooks its own copy.
    def add_to_output(self, module, inputs, output):
        return output + self(output)

    def remember_input(self, module, inputs):
        self._ffn_input = inputs[0]

    def add_from_input(self, module, inputs, output):
        return output + self(self.__dict__.pop("_ffn_input"))


@METHODS.register("adapter")
@dataclass
class Adapter(Method):
    """h = h + s * W_u f(W_d h) on the output of each layer's feed-forward block."""

    name = "adapter"
    bottleneck: int = 128
    dropout: float = 0.1
    scale: float = 0.1

    def modify(self, upstream) -> None:
        for layer in upstream.layers:
            adapter = Bottleneck(upstream.hidden_size, self.bottleneck, self.dropout, self.scale)
            layer.add_module("adapter", adapter)
            upstream.ffn_exit(layer).register_forward_hook(adapter.add_to_output)


@METHODS.register("parallel_adapter")
@dataclass
class ParallelAdapter(Adapter):
    """The same module fed with the feed-forward block's input, added beside the block's output."""

    name = "parallel_adapter"

    def modify(self, upstream) -> None:
        for layer in upstream.layers:
            adapter = Bottleneck(upstream.hidden_size, self.bottleneck, self.dropout, self.scale)
            layer.add_module("parallel_adapter", adapter)
            upstream.ffn_entry(layer).register_forward_pre_hook(adapter.remember_input)
            upstream.ffn_exit(layer).register_forward_hook(adapter.add_from_input)
