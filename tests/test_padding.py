"""Exact padded batching: in every family, with every method, a clip's valid frames and logits in a
padded batch are those of the clip alone (evaluation; training with ``mask_padding``)."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
import torch

from peftser.downstream.head import SERHead
from peftser.peft import build_method, trainable_parameters
from peftser.registry import METHODS, load_builtins
from peftser.upstream import build_upstream
from upstream_twins import TWINS

load_builtins()
# One tiny twin per family and variant (pre-norm layers, layer-norm front ends, HuBERT,
# data2vec-audio's positional convolution stack, Whisper's 128 mel bins); every registered method
# (the paper's and the peft relatives).
FAMILIES = ["demo_whisper_tiny", "demo_wav2vec2_base", "demo_wavlm_base_plus", *TWINS]
METHOD_NAMES = METHODS.names()
# Every dropout and LayerDrop off, so that a training-mode forward is deterministic.
NO_DROPOUT = {
    "whisper": {"dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0},
    "wave": {"hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "feat_proj_dropout": 0.0, "layerdrop": 0.0},
}
# Lengths with odd and even numbers of Whisper mel frames and of wav2vec 2.0 conv frames; the longest
# sets the batch's padded length.
LENGTHS = [16_000, 11_111, 8_081, 5_000]


def _clip(samples: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / 16_000
    return 0.3 * torch.sin(2 * math.pi * (180 + 40 * seed) * t) + 0.05 * torch.randn(samples, generator=generator)


def _padded(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    waves = torch.zeros(len(lengths), max(lengths))
    for row, n in enumerate(lengths):
        waves[row, :n] = _clip(n, row)
    return waves, torch.tensor(lengths)


def _model(backbone: str, method: str, train: bool):
    """A frozen tiny upstream with ``method`` applied (its parameters moved off their initial
    values, so that no method is the identity) and a head, all without dropout."""
    torch.manual_seed(0)
    family = "whisper" if "whisper" in backbone else "wave"
    upstream = build_upstream(backbone, **NO_DROPOUT[family])
    args = {"dropout": 0.0} if "dropout" in {f.name for f in fields(METHODS.get(method))} else {}
    build_method(method, **args).apply(upstream)
    with torch.no_grad():
        for p in trainable_parameters(upstream).values():
            p.add_(0.05 * torch.randn_like(p))
    head = SERHead(upstream.num_layers, upstream.hidden_size, dropout=0.0)
    upstream.train(train)
    head.train(train)
    return upstream, head


def _alone_vs_batch(upstream, head, lengths):
    """(batch states, batch logits, frame lengths) and per clip (states, logits) run alone."""
    waves, lens = _padded(lengths)
    with torch.no_grad():
        states, frame_lengths = upstream(waves, lens)
        logits = head(states, frame_lengths)
        alone = []
        for row, n in enumerate(lengths):
            s, f = upstream(waves[row : row + 1, :n], lens[row : row + 1])
            alone.append((s, head(s, f)))
    return states, logits, frame_lengths, alone


@pytest.mark.parametrize("mode", ["eval", "train_masked"])
@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("backbone", FAMILIES)
def test_a_padded_batch_gives_each_clip_what_it_gets_alone(backbone, method, mode):
    upstream, head = _model(backbone, method, train=mode != "eval")
    upstream.mask_padding_in_training = mode == "train_masked"
    states, logits, frame_lengths, alone = _alone_vs_batch(upstream, head, LENGTHS)
    assert frame_lengths.tolist() == [s[0].shape[1] for s, _ in alone]
    assert len(set(frame_lengths.tolist())) == len(LENGTHS)  # every clip but the longest is padded
    for row, (clip_states, clip_logits) in enumerate(alone):
        n = frame_lengths[row]
        for layer, (state, expected) in enumerate(zip(states, clip_states)):
            torch.testing.assert_close(state[row, :n], expected[0], rtol=0, atol=1e-4, msg=f"clip {row}, state {layer}")
        torch.testing.assert_close(logits[row], clip_logits[0], rtol=0, atol=1e-4, msg=f"clip {row}, logits")


@pytest.mark.parametrize("backbone", FAMILIES)
def test_training_without_mask_padding_sees_the_padding_as_the_reference(backbone):
    """The default training forward is the reference's: padded, unmasked (so the test above can fail)."""
    upstream, head = _model(backbone, "lora", train=True)
    assert upstream.mask_padding_in_training is False
    states, _, frame_lengths, alone = _alone_vs_batch(upstream, head, LENGTHS)
    shortest = len(LENGTHS) - 1
    n = frame_lengths[shortest]
    assert (states[-1][shortest, :n] - alone[shortest][0][-1][0]).abs().max() > 1e-3


@pytest.mark.parametrize("backbone", FAMILIES)
def test_equal_lengths_need_no_mask(backbone):
    """A batch without padding runs the layers unmasked, as one clip alone does."""
    upstream, _ = _model(backbone, "downstream", train=False)
    seen = []
    upstream.layers[0].register_forward_pre_hook(lambda m, args, kwargs: seen.append(kwargs["attention_mask"]), with_kwargs=True)
    with torch.no_grad():
        upstream(*_padded([8_000, 8_000]))
        upstream(*_padded([8_000, 6_000]))
    assert seen[0] is None and seen[1] is not None


def test_attention_without_an_additive_mask_is_refused_when_clips_are_padded():
    """Flash attention takes no additive key mask: padded clips would silently attend to padding."""
    upstream, _ = _model("demo_whisper_tiny", "downstream", train=False)
    upstream.model.config._attn_implementation = "flash_attention_2"
    with torch.no_grad():
        with pytest.raises(ValueError, match="demo_whisper_tiny: padding masks are built for eager or sdpa attention"):
            upstream(*_padded([8_000, 6_000]))
