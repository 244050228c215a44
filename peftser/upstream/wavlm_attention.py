"""WavLM's self-attention computed on batch-first tensors: the same function as transformers' module.

transformers' ``WavLMAttention`` hands sequence-first views of the hidden states to
``F.multi_head_attention_forward``, whose per-head products then run as ``bmm`` on tensors strided
across the batch; on a CPU those products (and their backward) took most of a WavLM training step,
several times the time of the same products on contiguous heads. This module computes the same
operations in the same order (the three projections, the query scaled by 1/sqrt(head_dim), the
scores added to the gated relative position bias and the key padding mask, softmax, dropout on the
attention probabilities at the module's rate, the weighted values, the output projection) on
``[batch * heads, time, head_dim]`` tensors that are contiguous.

It is installed by giving each layer's attention module this subclass, so the parameters, their
names in state dicts and checkpoints and every hook stay as they are. Like transformers' module it
reads the projections' weights and biases directly rather than calling the linears, so a tuner
injected into them is bypassed here as it is there (why LoRA sits on the feed-forward linears).
The relative position bias travels between layers un-repeated over the batch ([1, heads, T, T]
instead of transformers' [batch * heads, T, T]); it is only read by the next layer.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F
from transformers.models.wavlm.modeling_wavlm import WavLMAttention

from peftser.upstream.dropout import dropped_matmul


class BatchFirstWavLMAttention(WavLMAttention):
    def forward(self, hidden_states, attention_mask=None, position_bias=None, index=0, **kwargs):
        """``hidden_states`` [B, T, D]; ``attention_mask`` [B, T] (1/True on valid keys) or None;
        ``position_bias`` from the first layer (None there) -> (output, None, position bias)."""
        bsz, length, _ = hidden_states.shape
        heads, head_dim = self.num_heads, self.head_dim
        if position_bias is None:  # the first layer computes the bias the others reuse
            # compute_bias returns a permuted view: contiguous once here, for every layer's gating.
            position_bias = self.compute_bias(length, length)[None].contiguous()
        bias = position_bias.view(-1, heads, length, length)  # also takes transformers' [B * H, T, T]
        bias = self._gate(hidden_states) * bias  # [B, H, T, T]
        if attention_mask is not None:  # padded keys: -inf, as torch's multi-head attention adds them
            padded = attention_mask.ne(1)[:, None, None, :]
            bias = bias.masked_fill(padded, float("-inf"))

        def split(x):  # [B, T, D] -> [B * H, T, head_dim], contiguous
            return x.view(bsz, length, heads, head_dim).transpose(1, 2).reshape(bsz * heads, length, head_dim)

        query = split(_project(self.q_proj, hidden_states) * math.sqrt(1.0 / head_dim))
        key, value = split(_project(self.k_proj, hidden_states)), split(_project(self.v_proj, hidden_states))
        weights = torch.baddbmm(bias.reshape(bsz * heads, length, length), query, key.transpose(1, 2))
        # Dropout on the probabilities (F.dropout's draws), its output recomputed for the backward pass.
        output = dropped_matmul(torch.softmax(weights, dim=-1), self.dropout, self.training, value)
        output = output.view(bsz, heads, length, head_dim).transpose(1, 2)
        output = _project(self.out_proj, output.reshape(bsz, length, heads * head_dim))
        return output, None, position_bias

    def _gate(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """The gate of the relative position bias, per head and query: [B, H, T, 1] (as transformers)."""
        bsz, length, _ = hidden_states.shape
        gated = hidden_states.view(bsz, length, self.num_heads, -1).permute(0, 2, 1, 3)
        projected = self.gru_rel_pos_linear(gated).view(gated.shape[:-1] + (2, 4)).sum(-1)
        gate_a, gate_b = torch.sigmoid(projected).chunk(2, dim=-1)
        return gate_a * (gate_b * self.gru_rel_pos_const - 1.0) + 2.0


def _project(linear, x):
    return F.linear(x, linear.weight, linear.bias)  # the weights, not the module (see the docstring)


def install(model: torch.nn.Module) -> None:
    """Give every WavLM attention module of ``model`` the batch-first forward (same parameters)."""
    for module in model.modules():
        if type(module) is WavLMAttention:
            module.__class__ = BatchFirstWavLMAttention
