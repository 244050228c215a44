"""A template for a new encoder family: copy this file, put your encoder in place of ``ExampleEncoder``,
and register the build function in a plugin module (README, "Extending"):

    from peftser.registry import UPSTREAMS
    from peftser.upstream.example import build_example
    UPSTREAMS.register("example_tiny", build_example)

Nothing here is registered by the package. What a family must provide (``peftser.upstream.base``):

- ``frontend``: waves [B, S] at 16 kHz and their lengths -> the first layer's input [B, T, D] and
  each clip's valid frames. Under ``exact_padding`` (always in evaluation) a clip's valid frames
  must not depend on the padding after it: here the only front end is an unpadded strided
  convolution, whose valid outputs see valid samples only. Anything that mixes frames across the
  clip's end (a normalisation over time, a padded convolution) must mask the padding there.
- ``layers`` and ``run_layer``: the loop calls every layer with the keyword ``attention_mask`` (the
  padded frames masked as keys, additive, [B, 1, 1, T], or None); a family without attention
  overrides ``run_layer`` to drop it.
- Three ``Tap``s per layer, where the methods read or change the hidden state: after the
  attention residual, the feed-forward output (before its residual), after the feed-forward
  residual; ``pre_norm`` says which layout the adapters follow; ``ffn_linears`` names the two
  feed-forward linears that LoRA-style methods wrap.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn
from torch.nn import functional as F

from peftser.upstream.base import Tap, Upstream, UpstreamSpec

EXAMPLE_SPEC = UpstreamSpec(
    "example", "example", None, {"dim": 32, "heads": 2, "ffn": 64, "num_layers": 2, "kernel": 400, "stride": 320},
)


class ExampleLayer(nn.Module):
    """A pre-norm transformer layer: self-attention, then a feed-forward block, both residual."""

    def __init__(self, dim: int, heads: int, ffn: int):
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.fc_in = nn.Linear(dim, ffn)
        self.fc_out = nn.Linear(ffn, dim)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, frames, dim = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).view(batch, frames, 3, self.heads, dim // self.heads).unbind(2)
        attended = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=attention_mask
        )
        x = x + self.out(attended.transpose(1, 2).reshape(batch, frames, dim))
        return x + self.fc_out(F.gelu(self.fc_in(self.ffn_norm(x))))


class ExampleEncoder(nn.Module):
    """A strided convolution on the raw wave (25 ms windows every 20 ms), then the layers."""

    def __init__(self, dim: int, heads: int, ffn: int, num_layers: int, kernel: int, stride: int):
        super().__init__()
        self.dim, self.kernel, self.stride = dim, kernel, stride
        self.conv = nn.Conv1d(1, dim, kernel_size=kernel, stride=stride)
        self.layers = nn.ModuleList(ExampleLayer(dim, heads, ffn) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(dim)


class ExampleUpstream(Upstream):
    family = "example"
    ffn_linears = ("fc_in", "fc_out")
    pre_norm = True

    @property
    def layers(self) -> nn.ModuleList:
        return self.model.layers

    @property
    def hidden_size(self) -> int:
        return self.model.dim

    def frontend(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        encoder = self.model
        x = F.gelu(encoder.conv(waves[:, None, :])).transpose(1, 2)
        frames = torch.div(lengths - encoder.kernel, encoder.stride, rounding_mode="floor") + 1
        return x, frames.clamp(min=1, max=x.shape[1])

    def finalize(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.final_norm(x)  # pre-norm layers leave the last state unnormalised

    def attention_residual(self, layer: nn.Module) -> Tap:
        return Tap(layer.ffn_norm, "input")

    def ffn_output(self, layer: nn.Module) -> Tap:
        return Tap(layer.fc_out, "output")

    def ffn_residual(self, layer: nn.Module) -> Tap:
        return Tap(layer, "output")


def build_example(pretrained: bool | None = None, checkpoint_dir=None, **overrides) -> ExampleUpstream:
    """The example encoder with random weights; ``overrides`` (a grid's upstream ``args``) change its
    sizes. A real family loads its checkpoint here when ``pretrained`` is true (see
    ``peftser.upstream.base.resolve_checkpoint`` for ``checkpoint_dir``)."""
    if pretrained:
        raise ValueError("upstream family 'example' has no checkpoint: it is built with random weights only")
    config = {**EXAMPLE_SPEC.config, **overrides}
    upstream = ExampleUpstream(replace(EXAMPLE_SPEC, config=config), ExampleEncoder(**config))
    upstream.pretrained = False
    return upstream
