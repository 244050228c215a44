"""The downstream model of Fig. 2: weighted layer sum, pointwise convs, masked mean, MLP."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from peftser.downstream.head import SERHead


def _states(num_states: int = 3, batch: int = 2, time: int = 10, dim: int = 8, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, time, dim, generator=generator) for _ in range(num_states)]


def _head(num_states: int = 3, dim: int = 8) -> SERHead:
    torch.manual_seed(0)
    return SERHead(num_states, dim).eval()


def test_architecture_is_figure_2():
    head = SERHead(13, 768)
    convs = [m for m in head.convs if isinstance(m, nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(768, 256, (1,)), (256, 256, (1,)), (256, 256, (1,))]
    assert [type(m) for m in head.convs] == [nn.Conv1d, nn.ReLU, nn.Dropout, nn.Conv1d, nn.ReLU, nn.Dropout, nn.Conv1d]
    assert all(m.p == 0.1 for m in head.convs if isinstance(m, nn.Dropout))
    linears = [m for m in head.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(256, 256), (256, 4)]
    assert isinstance(head.classifier[1], nn.ReLU)


def test_layer_weights_start_as_a_plain_average():
    head = _head(num_states=5)
    assert head.layer_weights.shape == (5,) and torch.count_nonzero(head.layer_weights) == 0
    states = _states(num_states=5)
    lengths = torch.tensor([10, 10])
    average = [torch.stack(states).mean(0)] * 5
    torch.testing.assert_close(head(states, lengths), head(average, lengths))


def test_layer_weights_are_a_softmax_over_the_states():
    head = _head()
    with torch.no_grad():
        head.layer_weights.copy_(torch.tensor([0.0, 0.0, 40.0]))  # softmax puts all weight on the last state
    states = _states()
    lengths = torch.tensor([10, 10])
    torch.testing.assert_close(head(states, lengths), head([states[2]] * 3, lengths))


def test_padded_frames_do_not_change_the_prediction():
    head = _head()
    states = _states()
    lengths = torch.tensor([10, 6])
    logits = head(states, lengths)
    noisy = [s.clone() for s in states]
    for s in noisy:
        s[1, 6:] = 1e3 * torch.randn(4, s.shape[-1])
    torch.testing.assert_close(head(noisy, lengths), logits)
    # ... and equals the short item run alone on its valid frames only.
    alone = head([s[1:2, :6] for s in states], torch.tensor([6]))
    torch.testing.assert_close(alone[0], logits[1])


def test_output_is_logits_for_four_classes_and_every_parameter_gets_gradient():
    torch.manual_seed(0)
    head = SERHead(3, 8).train()
    logits = head(_states(), torch.tensor([10, 7]))
    assert logits.shape == (2, 4)
    nn.functional.cross_entropy(logits, torch.tensor([1, 2])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


def test_wrong_number_of_states_is_an_error():
    with pytest.raises(ValueError, match="head expects 3 hidden states, got 2"):
        _head()(_states(num_states=2), torch.tensor([10, 10]))


def test_parameter_count_follows_the_input_size():
    # weights per state + 3 convs + 2 linears (with biases)
    expected = 13 + (768 * 256 + 256) + 2 * (256 * 256 + 256) + (256 * 256 + 256) + (256 * 4 + 4)
    assert sum(p.numel() for p in SERHead(13, 768).parameters()) == expected
