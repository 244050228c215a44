"""Dropout whose mask is kept for the backward pass as booleans: the same draws, a quarter of the memory.

On a CPU, ``F.dropout`` in training draws a float mask (``bernoulli_``), divides it by 1 - p and
keeps that float tensor for the backward pass: four bytes per element of every dropped tensor, for
every layer, until the backward pass reaches it (WavLM Base+ at batch 8 x 6 s keeps about 0.9 GB of
them). ``torch.native_dropout`` (what ``F.dropout`` runs on a GPU) draws the same Bernoulli mask
from the same generator into one byte per element. The rate, the
places and the random stream are unchanged: with the same seed the masks are those ``F.dropout``
draws.
"""

from __future__ import annotations

import torch
from torch import nn


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``F.dropout(x, p, training)``, keeping a boolean mask for the backward pass."""
    if not training or p == 0.0:
        return x
    return torch.native_dropout(x, p, True)[0]


class BooleanMaskDropout(nn.Dropout):
    """``nn.Dropout`` computing through :func:`dropout` (installed in place of the model's own)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


def install(model: nn.Module) -> None:
    """Give every (not in-place) ``nn.Dropout`` module of ``model`` the boolean-mask forward; the
    modules keep their names, rates and places."""
    for module in model.modules():
        if type(module) is nn.Dropout and not module.inplace:
            module.__class__ = BooleanMaskDropout


def dropped_matmul(probs: torch.Tensor, p: float, training: bool, value: torch.Tensor) -> torch.Tensor:
    """``bmm(dropout(probs, p, training), value)``, where ``probs`` is kept for the backward pass
    anyway (a softmax's output): the dropped copy is not kept beside it but recomputed from
    ``probs`` and the boolean mask when the backward pass needs it (bit for bit: the same product
    ``native_dropout`` forms), which saves one [batch * heads, T, T] float tensor per layer. Under
    autocast the product keeps the low-precision copy it makes, as it would anyway."""
    if not training or p == 0.0:
        return torch.bmm(probs, value)
    dropped, mask = torch.native_dropout(probs, p, True)
    key = (dropped.data_ptr(), dropped.shape, dropped.stride(), dropped.dtype)
    scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0  # native_dropout's

    def pack(t):
        if t.data_ptr() == key[0] and (t.shape, t.stride(), t.dtype) == key[1:]:
            return None  # recomputed in unpack; only probs and the mask (kept anyway) are held
        return t

    def unpack(packed):
        return torch.ops.aten.native_dropout_backward(probs, mask, scale) if packed is None else packed

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        return torch.bmm(dropped, value)
