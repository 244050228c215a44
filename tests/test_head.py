"""The downstream model of Fig. 2: weighted layer sum, pointwise convs, masked mean, MLP."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from peftser.downstream.head import SERHead


def _states(num_states: int = 3, batch: int = 2, time: int = 10, dim: int = 8, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, time, dim, generator=generator) for _ in range(num_states)]


def _head(num_layers: int = 2, dim: int = 8, **options) -> SERHead:
    """A head for an upstream of ``num_layers`` layers, which returns ``num_layers + 1`` states."""
    torch.manual_seed(0)
    return SERHead(num_layers, dim, **options).eval()


def test_architecture_is_figure_2():
    head = SERHead(13, 768)
    convs = [m for m in head.convs if isinstance(m, nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(768, 256, (1,)), (256, 256, (1,)), (256, 256, (1,))]
    assert [type(m) for m in head.convs] == [nn.Conv1d, nn.ReLU, nn.Dropout, nn.Conv1d, nn.ReLU, nn.Dropout, nn.Conv1d]
    assert all(m.p == 0.1 for m in head.convs if isinstance(m, nn.Dropout))
    linears = [m for m in head.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(256, 256), (256, 4)]
    assert isinstance(head.classifier[1], nn.ReLU)


def test_layer_weights_start_as_a_plain_average_of_the_layer_outputs():
    """The reference's sum: one weight per transformer layer, the state entering the first layer left out."""
    head = _head(num_layers=4)
    assert head.layer_weights.shape == (4,) and torch.count_nonzero(head.layer_weights) == 0
    states = _states(num_states=5)
    lengths = torch.tensor([10, 10])
    average = [torch.stack(states[1:]).mean(0)] * 5
    torch.testing.assert_close(head(states, lengths), head(average, lengths))
    changed_input = [100 * torch.ones_like(states[0]), *states[1:]]
    torch.testing.assert_close(head(changed_input, lengths), head(states, lengths))


def test_include_input_state_adds_the_state_entering_the_first_layer():
    head = _head(num_layers=4, include_input_state=True)
    assert head.layer_weights.shape == (5,)
    states = _states(num_states=5)
    lengths = torch.tensor([10, 10])
    average = [torch.stack(states).mean(0)] * 5
    torch.testing.assert_close(head(states, lengths), head(average, lengths))


def test_layer_weights_are_a_softmax_over_the_states():
    head = _head()
    with torch.no_grad():
        head.layer_weights.copy_(torch.tensor([0.0, 40.0]))  # softmax puts all weight on the last state
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
    head = SERHead(2, 8).train()
    logits = head(_states(), torch.tensor([10, 7]))
    assert logits.shape == (2, 4)
    nn.functional.cross_entropy(logits, torch.tensor([1, 2])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


def test_wrong_number_of_states_is_an_error():
    with pytest.raises(ValueError, match=r"head expects 3 hidden states \(the input state and every layer's\), got 2"):
        _head()(_states(num_states=2), torch.tensor([10, 10]))


@pytest.mark.parametrize("include_input_state, weights", [(False, 12), (True, 13)])
def test_parameter_count_follows_the_input_size(include_input_state, weights):
    # a weight per summed state + 3 convs + 2 linears (with biases)
    expected = weights + (768 * 256 + 256) + 2 * (256 * 256 + 256) + (256 * 256 + 256) + (256 * 4 + 4)
    head = SERHead(12, 768, include_input_state=include_input_state)
    assert sum(p.numel() for p in head.parameters()) == expected
