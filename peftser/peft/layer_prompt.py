"""One layer's embedding prompt (Eq. 2), attached by hooks that prepend it and remove it again."""

from __future__ import annotations

import torch
from torch import nn

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
