"""The authors' release (peft-ser 0.0.5) runs its large models through wrappers of its own
(peft_ser/model/wavlm_large.py, mms.py): the processor's zero-mean unit-variance normalisation called
on the padded batch, masks from the lengths in training, and the layer sum over every state. The
registered ``*_release`` entries reproduce that forward pass; here on tiny twins of the same layouts
against the release's calls, written out with transformers."""

from __future__ import annotations

import pytest
import torch
from transformers import Wav2Vec2FeatureExtractor

import upstream_twins
from waves import batch as _batch
from peftser.benchmark.grids import load_grid
from peftser.registry import UPSTREAMS
from peftser.upstream import UpstreamSpec, build_upstream

TWINS = {"twin_wavlm_large_release": "twin_wavlm_large", "twin_mms_release": "twin_wav2vec2_large"}
for _name, _twin in TWINS.items():
    if _name not in UPSTREAMS:
        family, config, _ = upstream_twins.TWINS[_twin]
        UPSTREAMS.register(_name, UpstreamSpec(
            _name, family, None, {**config, "layerdrop": 0.0}, normalize_waveform="batch", attention_mask_in_training=True,
        ))


def _release_forward(model, waves, lengths):
    """The release wrapper's steps 1-3 (wavlm_large.py lines 212-241), on ``model`` (transformers)."""
    # The processor (a Wav2Vec2FeatureExtractor with do_normalize, as facebook/mms-1b-all's) given
    # the padded 2-D batch takes it for one utterance: its mean and variance are the whole batch's.
    processor = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    x = processor(waves, sampling_rate=16_000, return_tensors="pt")["input_values"][0]
    attention_mask = torch.ones(x.shape, dtype=torch.long)
    for i in range(len(lengths)):
        attention_mask[i, lengths[i]:] = 0
    # The wrapper runs the front end and projection, then the encoder with the mask reduced to frames
    # (_get_feature_vector_attention_mask): the model's own forward given the sample mask does that.
    frames = model._get_feat_extract_output_lengths(attention_mask.sum(-1))
    return model(x, attention_mask=attention_mask, output_hidden_states=True), frames


@pytest.mark.parametrize("name", sorted(TWINS))
def test_release_entries_train_as_the_release_wrappers_run(name):
    upstream = build_upstream(name).train()  # training mode: the release's masks from the lengths
    waves, lengths = _batch([16_000, 9_000, 5_000])
    with torch.no_grad():
        states, frame_lengths = upstream(waves, lengths)
        reference, frames = _release_forward(upstream.model, waves, lengths)
    assert torch.equal(frame_lengths, frames)
    hidden = reference.hidden_states
    assert len(states) == len(hidden)  # the layer sum's num_layers + 1 states, the input state included
    valid = (torch.arange(states[0].shape[1])[None, :] < frames[:, None])[..., None]
    for mine, theirs in zip(states[:-1], hidden[:-1]):
        torch.testing.assert_close(mine * valid, theirs * valid, rtol=0, atol=1e-5)
    torch.testing.assert_close(states[-1] * valid, reference.last_hidden_state * valid, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(TWINS))
def test_release_entries_score_each_clip_as_the_processor_on_that_clip(name):
    upstream = build_upstream(name).eval()
    waves, lengths = _batch([16_000, 9_000])
    with torch.no_grad():
        batched, frame_lengths = upstream(waves, lengths)
        alone, _ = upstream(waves[1:, :9_000], lengths[1:])
        reference, _ = _release_forward(upstream.model, waves[1:, :9_000], lengths[1:])
    n = int(frame_lengths[1])
    torch.testing.assert_close(batched[-1][1, :n], alone[-1][0], rtol=0, atol=1e-4)
    torch.testing.assert_close(alone[-1][0], reference.last_hidden_state[0], rtol=0, atol=1e-5)


def test_the_release_grid_runs_every_release_backbone_with_its_input_handling():
    grid = load_grid("release")
    upstreams = sorted({c.upstream for c in grid.cells()})
    assert upstreams == sorted(["whisper_tiny", "whisper_base", "whisper_small", "wavlm_base_plus",
                                "wavlm_large_release", "mms_300m_release"])
    for name in ("wavlm_large_release", "mms_300m_release"):
        spec = UPSTREAMS.get(name)
        assert (spec.normalize_waveform, spec.attention_mask_in_training) == ("batch", True)
        plain = UPSTREAMS.get(name.removesuffix("_release"))
        assert (spec.family, spec.checkpoint, spec.config) == (plain.family, plain.checkpoint, plain.config)
    assert all(c.resolved()["train"]["include_input_state"] for c in grid.cells())
