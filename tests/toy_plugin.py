"""A new upstream family and a new PEFT method written outside the package, as a user's plugin would be.

Nothing is registered on import: the registry tests register these and remove them afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from peftser.peft import Method
from peftser.upstream import Upstream, UpstreamSpec
from peftser.upstream.base import Tap


class ToyLayer(nn.Module):
    """Pre-norm block: a depthwise convolution over time, then a feed-forward block, both residual."""

    def __init__(self, dim: int, ffn: int):
        super().__init__()
        self.mix = nn.Conv1d(dim, dim, kernel_size=3, padding=1, groups=dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.fc_in = nn.Linear(dim, ffn)
        self.fc_out = nn.Linear(ffn, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mix(x.transpose(1, 2)).transpose(1, 2)
        return x + self.fc_out(F.gelu(self.fc_in(self.ffn_norm(x))))


class ToyConvEncoder(nn.Module):
    """A strided convolution on the raw wave, then ``num_layers`` toy blocks."""

    def __init__(self, dim: int, ffn: int, num_layers: int, kernel: int, stride: int):
        super().__init__()
        self.dim, self.kernel, self.stride = dim, kernel, stride
        self.conv = nn.Conv1d(1, dim, kernel_size=kernel, stride=stride)
        self.layers = nn.ModuleList(ToyLayer(dim, ffn) for _ in range(num_layers))


class ToyUpstream(Upstream):
    family = "toy"
    ffn_linears = ("fc_in", "fc_out")

    @property
    def layers(self) -> nn.ModuleList:
        return self.model.layers

    @property
    def hidden_size(self) -> int:
        return self.model.dim

    def frontend(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.model.conv(waves[:, None, :]).transpose(1, 2)
        frame_lengths = torch.div(lengths - self.model.kernel, self.model.stride, rounding_mode="floor") + 1
        return x, frame_lengths.clamp(min=1, max=x.shape[1])

    pre_norm = True

    def run_layer(self, index: int, layer: nn.Module, x: torch.Tensor, context: dict) -> torch.Tensor:
        return layer(x)  # no attention, so no key mask to pass

    def attention_residual(self, layer: nn.Module) -> Tap:  # here: after the mixing residual
        return Tap(layer.ffn_norm, "input")

    def ffn_output(self, layer: nn.Module) -> Tap:
        return Tap(layer.fc_out, "output")

    def ffn_residual(self, layer: nn.Module) -> Tap:
        return Tap(layer, "output")


TOY_SPEC = UpstreamSpec("toy_conv", "toy", None, {"dim": 16, "ffn": 32, "num_layers": 2, "kernel": 400, "stride": 320})


def build_toy_upstream(pretrained: bool = False, checkpoint_dir=None, **overrides) -> ToyUpstream:
    """The toy encoder with random weights; ``overrides`` change its sizes."""
    if pretrained:
        raise ValueError(f"upstream {TOY_SPEC.name!r} has no checkpoint: it is built with random weights only")
    config = {**TOY_SPEC.config, **overrides}
    return ToyUpstream(replace(TOY_SPEC, config=config), ToyConvEncoder(**config))


@dataclass
class BitFit(Method):
    """Trains only the biases of the feed-forward linears (after Ben Zaken et al., 2022)."""

    name = "bitfit"

    def modify(self, upstream: Upstream) -> None:
        for layer in upstream.layers:
            for path in upstream.ffn_linears:
                layer.get_submodule(path).bias.requires_grad_(True)
