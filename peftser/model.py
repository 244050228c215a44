"""An SER model: a frozen upstream modified by a PEFT method, plus the downstream head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from peftser.downstream.head import SERHead
from peftser.downstream.task import EMOTIONS
from peftser.peft import Method, build_method, trainable_parameters
from peftser.upstream import Upstream, build_upstream


class SERModel(nn.Module):
    def __init__(self, upstream: Upstream, method: Method, head: SERHead):
        super().__init__()
        self.upstream = upstream
        self.method = method
        self.head = head

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        states, frame_lengths = self.upstream(waves, lengths)
        return self.head(states, frame_lengths)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only what trains (method parameters + head): the whole PEFT artifact."""
        return {name: p.detach() for name, p in trainable_parameters(self).items()}

    def parameter_counts(self) -> dict[str, int]:
        upstream_trainable = sum(p.numel() for p in trainable_parameters(self.upstream).values())
        frozen = sum(p.numel() for p in self.upstream.parameters() if not p.requires_grad)
        return {
            "method_params": upstream_trainable,
            "head_params": sum(p.numel() for p in self.head.parameters()),
            "upstream_params": frozen,
            "trainable_params": sum(p.numel() for p in trainable_parameters(self).values()),
        }


def build_model(
    upstream: str,
    method: str,
    *,
    method_args: dict[str, Any] | None = None,
    upstream_args: dict[str, Any] | None = None,
    pretrained: bool | None = None,
    checkpoint_dir=None,
    head_hidden: int = 256,
    head_dropout: float = 0.1,
    include_input_state: bool = False,
    num_classes: int = len(EMOTIONS),
    encoder: Upstream | None = None,
) -> SERModel:
    """Frozen upstream + method applied + a fresh head with ``num_classes`` outputs (the task's
    classes; by default the paper's four). ``encoder`` is an upstream already built for ``upstream``
    (one encoder serving several artifacts), used in place of a new one."""
    if encoder is None:
        encoder = build_upstream(upstream, pretrained=pretrained, checkpoint_dir=checkpoint_dir, **(upstream_args or {}))
    strategy = build_method(method, **(method_args or {}))
    strategy.apply(encoder)
    head = SERHead(encoder.num_layers, encoder.hidden_size, num_classes, head_hidden, head_dropout, include_input_state)
    return SERModel(encoder, strategy, head)
