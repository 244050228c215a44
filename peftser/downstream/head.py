"""The downstream model of Fig. 2 (after Pepino et al. 2021)."""

from __future__ import annotations

import torch
from torch import nn


class SERHead(nn.Module):
    """Softmax-weighted layer sum -> three pointwise convs -> mean over valid frames -> MLP -> logits.

    The sum runs over the transformer layers' outputs, as the reference code's (it drops the state
    entering the first layer); ``include_input_state`` adds that state too, as the reference's
    later released models did.
    """

    def __init__(
        self, num_layers: int, input_dim: int, num_classes: int = 4, hidden: int = 256, dropout: float = 0.1,
        include_input_state: bool = False,
    ):
        super().__init__()
        self.include_input_state = include_input_state
        self.layer_weights = nn.Parameter(torch.zeros(num_layers + include_input_state))  # uniform at the start
        self.convs = nn.Sequential(
            nn.Conv1d(input_dim, hidden, kernel_size=1),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(hidden, hidden, kernel_size=1),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(hidden, hidden, kernel_size=1),
        )
        self.classifier = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, states: list[torch.Tensor], frame_lengths: torch.Tensor) -> torch.Tensor:
        """The upstream's ``num_layers + 1`` states [B, T, D] and valid lengths [B] -> logits [B, num_classes]."""
        expected = self.layer_weights.numel() + (not self.include_input_state)
        if len(states) != expected:
            raise ValueError(f"head expects {expected} hidden states (the input state and every layer's), got {len(states)}")
        if not self.include_input_state:
            states = states[1:]
        weights = torch.softmax(self.layer_weights, dim=0)
        x = torch.einsum("l,lbtd->btd", weights.to(states[0].dtype), torch.stack(states))
        x = self.convs(x.transpose(1, 2)).float()  # [B, hidden, T]; pooled in float32 under autocast
        mask = torch.arange(x.shape[-1], device=x.device)[None, :] < frame_lengths[:, None]
        pooled = (x * mask[:, None, :]).sum(-1) / frame_lengths.clamp(min=1)[:, None].to(x.dtype)
        return self.classifier(pooled)
