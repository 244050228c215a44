"""The wave encoders' dropout keeps boolean masks and draws what F.dropout draws: in training, with
the same seed, every dropout of the upstream falls where transformers' own forward drops."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from peftser.upstream import build_upstream
from peftser.upstream.dropout import BooleanMaskDropout, dropout, dropped_matmul
from peftser.upstream.wav2vec2 import _FAMILIES
from upstream_twins import TWINS

WAVE = ["demo_wav2vec2_base", "demo_wavlm_base_plus", *[name for name, (family, _, _) in TWINS.items() if family != "whisper"]]
RATES = {"hidden_dropout": 0.2, "attention_dropout": 0.2, "activation_dropout": 0.2, "feat_proj_dropout": 0.2, "layerdrop": 0.0}


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_same_draws_and_gradient_as_f_dropout(p):
    x = torch.randn(6, 50, 40)
    outputs, grads = [], []
    for fn in (F.dropout, dropout):
        h = x.clone().requires_grad_(True)
        torch.manual_seed(3)
        y = fn(h, p, True)
        y.backward(torch.linspace(-1, 1, 40).expand_as(y))
        outputs.append(y.detach())
        grads.append(h.grad)
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-6, atol=0)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-6, atol=0)
    assert torch.equal(dropout(x, p, False), x) and torch.equal(dropout(x, 0.0, True), x)


def test_the_mask_kept_for_backward_is_boolean():
    kept = []
    x = torch.randn(4, 100, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(t.dtype) or t, lambda t: t):
        dropout(x, 0.1, True)
    assert kept == [torch.bool]


@pytest.mark.parametrize("name", WAVE)
def test_training_states_are_transformers_forward_with_the_same_seed(name):
    """Every dropout module of the model runs the boolean-mask forward, at the config's rates and
    places: with one seed, the upstream's training states are those of the model's own forward
    (transformers' modules and its F.dropout) in training mode.

    WavLM's hidden dropout is left out: transformers' attention returns a transposed view of a
    sequence-first tensor, and a mask is drawn in memory order, so the same draws fall on other
    (equally many, independent) elements than on the batch-first attention's output."""
    torch.manual_seed(0)
    rates = {**RATES, "hidden_dropout": 0.0} if "wavlm" in name else RATES
    upstream = build_upstream(name, **rates).train()
    config_cls, model_cls, _ = _FAMILIES[upstream.family]
    reference = model_cls(upstream.model.config).train()
    reference.load_state_dict(upstream.model.state_dict())
    assert any(isinstance(m, BooleanMaskDropout) for m in upstream.model.modules())
    assert not any(isinstance(m, BooleanMaskDropout) for m in reference.modules())
    waves, lengths = 0.1 * torch.randn(2, 12_000, generator=torch.Generator().manual_seed(1)), torch.tensor([12_000, 12_000])
    with torch.no_grad():
        torch.manual_seed(7)
        states, _ = upstream(waves, lengths)
        torch.manual_seed(7)
        expected = reference(waves, output_hidden_states=True)
    hidden = [*expected.hidden_states[:-1], expected.last_hidden_state]
    assert len(states) == len(hidden)
    for index, (state, want) in enumerate(zip(states, hidden)):
        torch.testing.assert_close(state, want, rtol=0, atol=1e-5, msg=f"state {index}")


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5])
def test_dropped_matmul_is_bmm_of_dropout_bit_for_bit(p):
    """The attention's dropout-then-product recomputes the dropped probabilities for the backward
    pass instead of keeping them: the same output and gradients, one float tensor fewer kept."""
    results, kept = [], []
    for fn in ("plain", "recomputed"):
        scores = torch.randn(6, 30, 30, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
        value = torch.randn(6, 30, 8, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
        probs = scores.softmax(-1)
        torch.manual_seed(4)
        with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append((fn, t.dtype)) or t, lambda t: t):
            out = torch.bmm(dropout(probs, p, True), value) if fn == "plain" else dropped_matmul(probs, p, True, value)
        out.backward(torch.linspace(-1, 1, 8).expand_as(out))
        results.append((out.detach(), scores.grad, value.grad))
    for ours, plain in zip(results[1], results[0]):
        assert torch.equal(ours, plain)
    if p > 0:  # the product's own saves go through dropped_matmul's hook (the innermost one), not the test's
        assert [dtype for fn, dtype in kept if fn == "plain"] == [torch.bool, torch.float32, torch.float32]
        assert [dtype for fn, dtype in kept if fn == "recomputed"] == [torch.bool]
