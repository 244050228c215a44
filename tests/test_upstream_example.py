"""The package's new-family template (peftser/upstream/example.py) meets the upstream contract:
registered as a plugin would register it, it scores each clip of a padded batch as alone, and
every method of the paper applies to it and trains."""

from __future__ import annotations

import pytest
import torch

from waves import batch as _batch
from peftser.model import build_model
from peftser.registry import UPSTREAMS
from peftser.upstream import build_upstream
from peftser.upstream.example import build_example

NAME = "example_template"
if NAME not in UPSTREAMS:
    UPSTREAMS.register(NAME, build_example)

METHODS = ["downstream", "adapter", "parallel_adapter", "embedding_prompt", "lora"]


def test_a_padded_batch_gives_each_clip_its_states_alone():
    upstream = build_upstream(NAME).eval()
    waves, lengths = _batch([16_000, 9_000, 4_000])
    with torch.no_grad():
        states, frames = upstream(waves, lengths)
        assert len(states) == upstream.num_layers + 1
        for row, length in enumerate(lengths.tolist()):
            alone, alone_frames = upstream(waves[row : row + 1, :length], lengths[row : row + 1])
            n = int(frames[row])
            assert n == int(alone_frames[0]) == alone[-1].shape[1]
            for batched, single in zip(states, alone):
                torch.testing.assert_close(batched[row, :n], single[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_applies_and_trains(method):
    torch.manual_seed(0)
    model = build_model(NAME, method)
    waves, lengths = _batch([16_000, 9_000])
    plain = build_upstream(NAME).eval()
    model.eval()
    with torch.no_grad():
        if method in ("adapter", "parallel_adapter", "lora"):  # identity at initialisation
            torch.testing.assert_close(model.upstream(waves, lengths)[0][-1], plain(waves, lengths)[0][-1])
    model.train()
    loss = model(waves, lengths).logsumexp(-1).mean()
    loss.backward()
    trained = [name for name, p in model.named_parameters() if p.requires_grad]
    assert all(p.grad is not None for name, p in model.named_parameters() if p.requires_grad)
    in_encoder = [name for name in trained if name.startswith("upstream.")]
    assert bool(in_encoder) == (method != "downstream")
    assert not any(".qkv." in name or ".conv." in name for name in in_encoder)  # the encoder stays frozen
