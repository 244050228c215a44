"""Embedding prompts (Eq. 2): l trainable vectors in front of every encoder layer's input.

Written here because Hugging Face peft's prompt methods target text decoders' token embeddings,
not the per-layer hidden states of a speech encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from peftser.peft.base import Method
from peftser.registry import METHODS
from peftser.upstream.base import prepend_valid_keys


class LayerPrompt(nn.Module):
    """One layer's prompt: concatenated before the layer runs, removed after it."""

    def __init__(self, length: int, dim: int):
        super().__init__()
        self.prompt = nn.Parameter(torch.empty(length, dim))
        # Xavier-uniform on a [1, l, d] view, as the reference: bound sqrt(6 / ((l + 1) d)), not the
        # sqrt(6 / (l + d)) of a [l, d] matrix (2.4x larger at l = 5, d = 768).
        nn.init.xavier_uniform_(self.prompt.data.unsqueeze(0))

    def prepend(self, layer, args, kwargs):
        hidden = args[0]
        prompt = self.prompt.to(hidden.dtype).expand(hidden.shape[0], -1, -1)
        if kwargs.get("attention_mask") is not None:  # the prompts are keys every position attends to
            kwargs = {**kwargs, "attention_mask": prepend_valid_keys(kwargs["attention_mask"], self.prompt.shape[0])}
        return (torch.cat([prompt, hidden], dim=1), *args[1:]), kwargs

    def remove(self, layer, args, kwargs, output):
        length = self.prompt.shape[0]
        if isinstance(output, tuple):  # WavLM layers also return the position bias
            return (output[0][:, length:], *output[1:])
        return output[:, length:]


@METHODS.register("embedding_prompt")
@dataclass
class EmbeddingPrompt(Method):
    name = "embedding_prompt"
    prompt_length: int = 5

    def modify(self, upstream) -> None:
        if self.prompt_length < 1:
            raise ValueError(f"embedding_prompt: prompt_length must be >= 1, got {self.prompt_length}")
        for layer in upstream.layers:
            prompt = LayerPrompt(self.prompt_length, upstream.hidden_size)
            layer.add_module("embedding_prompt", prompt)
            layer.register_forward_pre_hook(prompt.prepend, with_kwargs=True)
            layer.register_forward_hook(prompt.remove, with_kwargs=True)
