"""Bottleneck adapters in every encoder layer: sequential and parallel (Section II-C).

Placed where the paper's reference code places them (docs/protocol.md, section 8):
- ``adapter`` (the reference's ``adapter_l``): on the feed-forward block's output before its
  residual in pre-norm layers (Whisper), on the state after the feed-forward residual (before the
  final layer norm) in post-norm layers (wav2vec 2.0 / WavLM Base);
- ``parallel_adapter`` (the reference's ``adapter``): fed with the state after the attention
  residual, before the feed-forward layer norm, its output added after the feed-forward residual.

The reference's adapter module returns ``x + s A(x)`` and its layers add ``x`` once more, so the
residual is doubled and the adapters are not the identity at initialisation: on Whisper the
parallel adapter doubles the residual stream at every layer (whisper_tiny_en's states grow 2x,
3.8x, 6-6.4x over the first three layers; tests/test_adapter_growth.py), on wav2vec 2.0 / WavLM the
sequential adapter behaves like scale s/2 (LN(2h + sA) = LN(h + sA/2)) and the parallel one is
cancelled by the layer norm only insofar as LN is linear in its input. The default here adds
``s A(x)`` only, so the frozen model is unchanged at step 0 (a deviation named in the grids);
``reference_residual: true`` computes exactly what the reference did.

Written here because no maintained library inserts bottleneck adapters into these encoders'
layers. They attach through forward hooks, so the layers keep their classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from peftser.peft.base import Method
from peftser.registry import METHODS


@METHODS.register("adapter")
@dataclass
class Adapter(Method):
    """h = h + s * W_u f(W_d h), sequentially after each layer's feed-forward block."""

    bottleneck: int = 128
    dropout: float = 0.1
    scale: float = 0.1
    reference_residual: bool = False  # True: the reference's doubled residual, not the identity at init

    def new_bottleneck(self, upstream):
        from peftser.peft.bottleneck import Bottleneck  # torch, only when a model is built

        return Bottleneck(upstream.hidden_size, self.bottleneck, self.dropout, self.scale, self.reference_residual)

    def modify(self, upstream) -> None:
        for layer in upstream.layers:
            adapter = self.new_bottleneck(upstream)
            layer.add_module("adapter", adapter)
            place = upstream.ffn_output(layer) if upstream.pre_norm else upstream.ffn_residual(layer)
            place.modify(adapter.sequential)


@METHODS.register("parallel_adapter")
@dataclass
class ParallelAdapter(Adapter):
    """The same module fed with the state before the feed-forward layer norm, added after its residual."""

    def modify(self, upstream) -> None:
        for layer in upstream.layers:
            adapter = self.new_bottleneck(upstream)
            layer.add_module("parallel_adapter", adapter)
            upstream.attention_residual(layer).read(adapter.remember)
            upstream.ffn_residual(layer).modify(adapter.parallel)
