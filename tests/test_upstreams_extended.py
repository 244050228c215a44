"""The upstreams beyond the paper: registered with their architectures, every method at
the paper's places in pre-norm layers and in the HuBERT and data2vec-audio families, and the
identity at initialisation against transformers' own forward."""

from __future__ import annotations

import math

import pytest
import torch
from peft.tuners.lora import LoraLayer
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from reference_layers import reference_layer, run_layer
from upstream_twins import PRE_NORM_TWINS, TWINS
from peftser.peft import build_method
from peftser.peft.bottleneck import Bottleneck
from peftser.registry import UPSTREAMS
from peftser.upstream import UpstreamSpec, build_upstream

NEW_UPSTREAMS = {
    # name: (family, checkpoint, layers, hidden, pre-norm)
    "wavlm_base": ("wavlm", "microsoft/wavlm-base", 12, 768, False),
    "wavlm_large": ("wavlm", "microsoft/wavlm-large", 24, 1024, True),
    "wav2vec2_large_robust": ("wav2vec2", "facebook/wav2vec2-large-robust", 24, 1024, True),
    "xls_r_300m": ("wav2vec2", "facebook/wav2vec2-xls-r-300m", 24, 1024, True),
    "mms_300m": ("wav2vec2", "facebook/mms-300m", 24, 1024, True),
    "hubert_base": ("hubert", "facebook/hubert-base-ls960", 12, 768, False),
    "hubert_large": ("hubert", "facebook/hubert-large-ll60k", 24, 1024, True),
    "data2vec_audio_base": ("data2vec_audio", "facebook/data2vec-audio-base", 12, 768, False),
    "data2vec_audio_large": ("data2vec_audio", "facebook/data2vec-audio-large", 24, 1024, False),
    "whisper_medium": ("whisper", "openai/whisper-medium", 24, 1024, True),
    "whisper_large_v3": ("whisper", "openai/whisper-large-v3", 32, 1280, True),
    "whisper_large_v3_turbo": ("whisper", "openai/whisper-large-v3-turbo", 32, 1280, True),
}
IDENTITY_METHODS = ["downstream", "adapter", "parallel_adapter", "lora"]
# Each new family and variant, and the paper's post-norm twins for comparison.
ALL_TWINS = [*TWINS, "demo_wav2vec2_base", "demo_wavlm_base_plus", "demo_whisper_tiny"]
WAVE_TWINS = [name for name in ALL_TWINS if "whisper" not in name]


def _clip(samples: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / 16_000
    return (0.3 * torch.sin(2 * math.pi * 220 * t) + 0.05 * torch.randn(samples, generator=generator))[None]


def _meta(name: str):
    with torch.device("meta"):
        return build_upstream(name, pretrained=False)


# -- the registry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW_UPSTREAMS)
def test_each_new_upstream_is_registered_with_its_checkpoint_and_architecture(name):
    family, checkpoint, layers, hidden, pre_norm = NEW_UPSTREAMS[name]
    spec = UPSTREAMS.get(name)
    assert (spec.family, spec.checkpoint) == (family, checkpoint)
    upstream = _meta(name)  # the embedded config builds the model without a hub
    assert upstream.family == family and upstream.pretrained is False
    assert (upstream.num_layers, upstream.hidden_size, upstream.pre_norm) == (layers, hidden, pre_norm)


@pytest.mark.parametrize("name, bins", [("whisper_medium", 80), ("whisper_large_v3", 128), ("whisper_large_v3_turbo", 128)])
def test_whisper_sizes_take_their_mel_bins(name, bins):
    upstream = _meta(name)
    assert upstream.model.conv1.in_channels == bins
    assert upstream.log_mel.filters.shape == (bins, 201)


@pytest.mark.parametrize("name, front_end", [
    ("wavlm_large", "layer"), ("hubert_base", "group"), ("hubert_large", "layer"), ("wav2vec2_large_robust", "layer"),
])
def test_front_end_norms(name, front_end):
    """Base checkpoints group-normalise the first convolution only; large ones layer-normalise each."""
    convs = _meta(name).model.feature_extractor.conv_layers
    kinds = {type(layer.layer_norm).__name__ for layer in convs if hasattr(layer, "layer_norm")}
    assert kinds == ({"LayerNorm"} if front_end == "layer" else {"GroupNorm"})
    assert sum(hasattr(layer, "layer_norm") for layer in convs) == (len(convs) if front_end == "layer" else 1)


def test_data2vec_audio_has_its_positional_convolution_stack():
    positional = _meta("data2vec_audio_base").model.encoder.pos_conv_embed
    assert len(positional.layers) == 5
    conv = positional.layers[0].conv
    assert (conv.kernel_size, conv.groups, conv.in_channels) == ((19,), 16, 768)
    assert not positional.layers[0].layer_norm.elementwise_affine


# -- identity at initialisation, against transformers' forward -------------------------------------


def _twin_pair(name: str):
    """Two upstreams with the same random weights: one to take a method, one left alone."""
    torch.manual_seed(0)
    tuned = build_upstream(name).eval()
    frozen = build_upstream(name).eval()
    frozen.load_state_dict(tuned.state_dict())
    return tuned, frozen


@pytest.mark.parametrize("method", IDENTITY_METHODS)
@pytest.mark.parametrize("name", ALL_TWINS)
def test_fresh_methods_give_the_transformers_forward(name, method):
    """The harness with a freshly initialised method, in eval mode, gives the hidden states of the
    model's own forward(output_hidden_states=True) on the same weights.

    transformers 5 records the last layer's output before a pre-norm encoder's final layer norm as
    the last hidden state; the harness's last state is the normed one (as transformers 4.30, which
    the paper's reference ran, recorded it), which is last_hidden_state."""
    tuned, frozen = _twin_pair(name)
    build_method(method).apply(tuned)
    tuned.eval()
    whisper = tuned.family == "whisper"
    waves = _clip(480_000 if whisper else 20_000)  # transformers' Whisper encoder takes 30 s only
    lengths = torch.tensor([waves.shape[1]])
    with torch.no_grad():
        states, _ = tuned(waves, lengths)
        reference = frozen.model(frozen.log_mel(waves, lengths) if whisper else waves, output_hidden_states=True)
    hidden = reference.hidden_states
    assert len(states) == len(hidden) == tuned.num_layers + 1
    for index, (state, expected) in enumerate(zip(states[:-1], hidden[:-1])):
        torch.testing.assert_close(state, expected, rtol=0, atol=1e-5, msg=f"state {index}")
    torch.testing.assert_close(states[-1], reference.last_hidden_state, rtol=0, atol=1e-5)
    if not whisper and tuned.pre_norm:
        torch.testing.assert_close(states[-1], frozen.model.encoder.layer_norm(hidden[-1]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", PRE_NORM_TWINS)
def test_a_moved_method_changes_the_states(name):
    """The identity above is the methods' zero start, not a method that never runs."""
    for method in ("adapter", "parallel_adapter", "lora"):
        tuned, frozen = _twin_pair(name)
        build_method(method).apply(tuned)
        with torch.no_grad():
            for module in tuned.modules():
                if isinstance(module, Bottleneck):
                    nn.init.normal_(module.up.weight)
                elif isinstance(module, LoraLayer):
                    nn.init.normal_(module.lora_B["default"].weight)
            waves = _clip(12_000)
            lengths = torch.tensor([12_000])
            moved = tuned.eval()(waves, lengths)[0][-1]
            still = frozen(waves, lengths)[0][-1]
        assert (moved - still).abs().max() > 1e-3, method


# -- the paper's places (tests/reference_layers.py) -----------------------------------------------


@pytest.mark.parametrize("method", ["adapter", "parallel_adapter"])
@pytest.mark.parametrize("name", WAVE_TWINS)
def test_adapters_sit_at_the_papers_places(name, method):
    torch.manual_seed(0)
    upstream = build_upstream(name)
    build_method(method).apply(upstream)
    upstream.eval()
    layer = upstream.layers[0]
    adapter = getattr(layer, method)
    nn.init.normal_(adapter.up.weight)  # away from the zero start, so the adapter contributes
    x = torch.randn(2, 13, upstream.hidden_size)
    with torch.no_grad():
        ours = run_layer(upstream.family, layer, x)
        expected = reference_layer(layer, upstream.family, upstream.pre_norm, method, adapter, x)
        # The other layout's places give another result, so the test tells them apart.
        other = reference_layer(layer, upstream.family, not upstream.pre_norm, method, adapter, x)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ours, other, atol=1e-4)


@pytest.mark.parametrize("name", ALL_TWINS)
def test_prompts_are_on_every_layers_input(name):
    torch.manual_seed(0)
    upstream = build_upstream(name)
    build_method("embedding_prompt").apply(upstream)
    upstream.eval()
    seen = {}
    for index, layer in enumerate(upstream.layers):
        # Registered after the method's hook: sees the layer's input with the prompts in front.
        layer.register_forward_pre_hook(lambda m, args, i=index: seen.update({i: args[0]}))
    waves = _clip(12_000)
    with torch.no_grad():
        states, frames = upstream(waves, torch.tensor([12_000]))
    for index, layer in enumerate(upstream.layers):
        prompt = layer.embedding_prompt.prompt
        assert seen[index].shape[1] == frames[0] + prompt.shape[0]
        torch.testing.assert_close(seen[index][0, : prompt.shape[0]], prompt, rtol=0, atol=0)
        torch.testing.assert_close(seen[index][0, prompt.shape[0]:], states[index][0], rtol=0, atol=0)
    assert all(s.shape[1] == frames[0] for s in states)  # removed after each layer


@pytest.mark.parametrize("name", ALL_TWINS)
def test_lora_is_on_the_feed_forward_linears_only(name):
    upstream = build_upstream(name)
    build_method("lora").apply(upstream)
    tuned = {n for n, m in upstream.model.named_modules() if isinstance(m, BaseTunerLayer)}
    prefix = "layers" if upstream.family == "whisper" else "encoder.layers"
    first, second = ("fc1", "fc2") if upstream.family == "whisper" else (
        "feed_forward.intermediate_dense", "feed_forward.output_dense",
    )
    assert tuned == {f"{prefix}.{i}.{linear}" for i in range(upstream.num_layers) for linear in (first, second)}


@pytest.mark.parametrize("name", PRE_NORM_TWINS)
def test_pre_norm_twins_finish_with_the_encoders_layer_norm(name):
    upstream = build_upstream(name).eval()
    seen = []
    upstream.model.encoder.layer_norm.register_forward_hook(lambda m, args, out: seen.append(out))
    with torch.no_grad():
        states, _ = upstream(_clip(12_000), torch.tensor([12_000]))
    assert len(seen) == 1 and torch.equal(states[-1], seen[0])  # once, after the last layer only


# -- real weights from a checkpoint folder ----------------------------------------------------------


@pytest.mark.parametrize("twin", ["twin_hubert_base", "twin_hubert_large", "twin_data2vec_audio", "twin_wavlm_large"])
def test_the_new_families_load_a_checkpoint_dir(tmp_path, registered_upstream, twin):
    """Weights saved by transformers under the hub id's folder name load into the family's model."""
    from transformers import Data2VecAudioConfig, Data2VecAudioModel, HubertConfig, HubertModel, WavLMConfig, WavLMModel

    family, config, _ = TWINS[twin]
    classes = {"hubert": (HubertConfig, HubertModel), "data2vec_audio": (Data2VecAudioConfig, Data2VecAudioModel),
               "wavlm": (WavLMConfig, WavLMModel)}
    config_class, model_class = classes[family]
    torch.manual_seed(0)
    saved = model_class(config_class(**config)).eval()
    saved.save_pretrained(tmp_path / "some-checkpoint")
    name = registered_upstream(UpstreamSpec(f"test_{twin}_checkpoint", family, "someone/some-checkpoint", config))
    upstream = build_upstream(name, checkpoint_dir=tmp_path).eval()
    assert upstream.pretrained is True and upstream.family == family
    expected = saved.state_dict()
    loaded = upstream.model.state_dict()
    assert set(expected) - set(loaded) <= {"masked_spec_embed"}  # SpecAugment's, unused with masking off
    for key, value in loaded.items():
        assert torch.equal(value, expected[key]), key
    waves = _clip(12_000)
    with torch.no_grad():
        states, _ = upstream(waves, torch.tensor([12_000]))
        reference = saved(waves).last_hidden_state
    torch.testing.assert_close(states[-1], reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", WAVE_TWINS)
def test_spec_augment_is_off_in_every_wave_family(name):
    config = build_upstream(name).model.config
    assert config.mask_time_prob == 0.0 and config.mask_feature_prob == 0.0
    assert getattr(config, "apply_spec_augment", False) is False  # data2vec-audio's config has no such switch
