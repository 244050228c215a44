"""WavLM's batch-first attention computes what transformers' WavLMAttention computes: states,
gradients, padding and attention dropout, against a model built from transformers' own classes."""

from __future__ import annotations

import pytest
import torch
from transformers import WavLMModel
from transformers.models.wavlm.modeling_wavlm import WavLMAttention

from peftser.upstream import build_upstream
from peftser.upstream.wavlm_attention import BatchFirstWavLMAttention
from upstream_twins import TWINS  # noqa: F401  (registers the twins)

WAVLM = ["demo_wavlm_base_plus", "twin_wavlm_base", "twin_wavlm_large"]


def _transformers_twin(upstream) -> WavLMModel:
    """The same weights in transformers' own modules (its WavLMAttention)."""
    model = WavLMModel(upstream.model.config).eval()
    model.load_state_dict(upstream.model.state_dict())
    assert type(model.encoder.layers[0].attention) is WavLMAttention
    return model


def _waves(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    waves = torch.zeros(len(lengths), max(lengths))
    for row, n in enumerate(lengths):
        waves[row, :n] = 0.1 * torch.randn(n, generator=generator)
    return waves, torch.tensor(lengths)


@pytest.mark.parametrize("name", WAVLM)
def test_every_layer_uses_the_batch_first_attention(name):
    upstream = build_upstream(name)
    assert all(type(layer.attention) is BatchFirstWavLMAttention for layer in upstream.layers)
    assert set(upstream.model.state_dict()) == set(_transformers_twin(upstream).state_dict())


@pytest.mark.parametrize("name", WAVLM)
def test_padded_batch_states_are_the_transformers_forward_of_each_clip(name):
    torch.manual_seed(0)
    upstream = build_upstream(name).eval()
    reference = _transformers_twin(upstream)
    waves, lengths = _waves([20_000, 13_000, 7_000])
    with torch.no_grad():
        states, frames = upstream(waves, lengths)
        for row, n in enumerate(lengths.tolist()):
            expected = reference(waves[row:row + 1, :n], output_hidden_states=True)
            hidden = [*expected.hidden_states[:-1], expected.last_hidden_state]
            for index, (state, want) in enumerate(zip(states, hidden)):
                torch.testing.assert_close(state[row:row + 1, :frames[row]], want, rtol=0, atol=1e-5, msg=f"clip {row}, state {index}")


def _attention_pair(dropout: float):
    torch.manual_seed(0)
    ours = WavLMAttention(32, 4, dropout=dropout, num_buckets=32, max_distance=100)
    theirs = WavLMAttention(32, 4, dropout=dropout, num_buckets=32, max_distance=100)
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0, 0.3)
    theirs.load_state_dict(ours.state_dict())
    ours.__class__ = BatchFirstWavLMAttention
    return ours.train(), theirs.train()


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")  # transformers module
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_training_output_and_gradients_are_the_transformers_modules(dropout, masked):
    """In training, with the same seed, the same dropout mask falls on the same attention
    probabilities (one draw of the same shape), so the outputs and input gradients agree; the
    position bias from the first layer is reused in either layout."""
    ours, theirs = _attention_pair(dropout)
    batch, length = 3, 11
    x = torch.randn(batch, length, 32)
    valid = torch.arange(length)[None, :] < torch.tensor([11, 7, 4])[:, None] if masked else None
    bias = theirs.compute_bias(length, length).detach()
    bias = bias.unsqueeze(0).repeat(batch, 1, 1, 1).view(batch * 4, length, length)  # transformers' layout
    outputs, grads = [], []
    for module in (ours, theirs):
        for position_bias in (None, bias):
            h = x.clone().requires_grad_(True)
            torch.manual_seed(5)
            out, _, _ = module(h, attention_mask=valid, position_bias=position_bias)
            (out * torch.linspace(-1, 1, 32)).sum().backward()
            outputs.append(out.detach())
            grads.append(h.grad)
    for index in (0, 1):
        torch.testing.assert_close(outputs[index], outputs[index + 2], rtol=0, atol=1e-5)
        torch.testing.assert_close(grads[index], grads[index + 2], rtol=0, atol=1e-5)
