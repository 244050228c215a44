"""The paper's adapter places in one encoder layer, written out literally (eval mode: dropout is
off), for the tests that check the methods put their modules there.

``method`` is the project's name: ``adapter`` is the reference's ``adapter_l`` (on the
feed-forward output before its residual in pre-norm layers, on the state after the feed-forward
residual in post-norm ones), ``parallel_adapter`` its ``adapter`` (fed with the state after the
attention residual, added after the feed-forward residual). The reference's Adapter module returns
x + s A(x) (``doubled``); the project's default module returns s A(x). Submodules are called
through ``.forward``, which skips the hooks the methods put on them.
"""

from __future__ import annotations

import torch

from peftser.peft.bottleneck import Bottleneck


def run_layer(family: str, layer, x: torch.Tensor) -> torch.Tensor:
    """The layer's own forward on ``x`` (no mask), with the methods' hooks."""
    if family == "whisper":
        return layer(x, None)
    if family == "wavlm":
        return layer(x, attention_mask=None, position_bias=None, index=0)[0]
    return layer(x)


def _parts(layer, family: str):
    """(attention, the norm before or after it, feed-forward, the norm before or after it)."""
    if family == "whisper":
        return (lambda h: layer.self_attn.forward(hidden_states=h, attention_mask=None)[0], layer.self_attn_layer_norm,
                lambda h: layer.fc2.forward(layer.activation_fn(layer.fc1.forward(h))), layer.final_layer_norm)
    if family == "wavlm":
        attention = lambda h: layer.attention.forward(h, attention_mask=None, position_bias=None, index=0)[0]  # noqa: E731
    else:
        attention = lambda h: layer.attention.forward(h, attention_mask=None)[0]  # noqa: E731
    return attention, layer.layer_norm, layer.feed_forward.forward, layer.final_layer_norm


def reference_layer(layer, family: str, pre_norm: bool, method: str, adapter: Bottleneck, x: torch.Tensor,
                    doubled: bool = False) -> torch.Tensor:
    """One layer with ``adapter`` at ``method``'s place, as the reference computes it."""
    def a(h):
        update = adapter.scale * adapter.up(torch.relu(adapter.down(h)))
        return update + h if doubled else update

    attention, attention_norm, feed_forward, ffn_norm = _parts(layer, family)
    if pre_norm:
        h = x + attention(attention_norm.forward(x))
        parallel_input = h
        f = feed_forward(ffn_norm.forward(h))
        if method == "adapter":
            f = f + a(f)
        h = h + f
        return h + a(parallel_input) if method == "parallel_adapter" else h
    h = x + attention(x)
    parallel_input = h
    h = attention_norm.forward(h)
    h = h + feed_forward(h)
    if method == "parallel_adapter":
        h = h + a(parallel_input)
    if method == "adapter":
        h = h + a(h)
    return ffn_norm.forward(h)
