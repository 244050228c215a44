"""PEFT methods on every tiny backbone: identity at init, everything trains, nothing frozen moves."""

from __future__ import annotations

import copy

import pytest
import torch
from peft.mapping import PEFT_TYPE_TO_TUNER_MAPPING
from peft.tuners.lora import LoraLayer
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn
from torch.nn import functional as F

from reference_layers import reference_layer, run_layer
from upstream_twins import TWINS
from peftser.downstream.head import SERHead
from peftser.model import SERModel
from peftser.params import PAPER_BACKBONES
from peftser.peft import build_method, trainable_parameters
from peftser.peft.bottleneck import Bottleneck
from peftser.peft.lora import Lora, PeftMethod
from peftser.registry import METHODS, load_builtins
from peftser.upstream import build_upstream

load_builtins()
TINY_BACKBONES = [f"demo_{name}" for name in PAPER_BACKBONES]
METHOD_NAMES = METHODS.names()
PEFT_METHODS = [m for m in METHOD_NAMES if issubclass(METHODS.get(m), PeftMethod)]
# Prompts change what attention sees, so they cannot start as the frozen model; every other method must.
PROMPT_METHODS = {"embedding_prompt"}

# Where each family's feed-forward linears live, from the transformers modules themselves.
LAYER_PREFIX = {"whisper": "layers", "wav2vec2": "encoder.layers", "wavlm": "encoder.layers"}
FFN_LINEARS = {
    "whisper": ("fc1", "fc2"),
    "wav2vec2": ("feed_forward.intermediate_dense", "feed_forward.output_dense"),
    "wavlm": ("feed_forward.intermediate_dense", "feed_forward.output_dense"),
}


def _batch(seconds: float = 0.75) -> tuple[torch.Tensor, torch.Tensor]:
    samples = int(seconds * 16_000)
    generator = torch.Generator().manual_seed(1)
    return torch.randn(2, samples, generator=generator), torch.tensor([samples, samples * 2 // 3])


def _ffn_names(upstream, positions=(0, 1)) -> set[str]:
    family = upstream.family
    return {f"{LAYER_PREFIX[family]}.{i}.{FFN_LINEARS[family][p]}" for i in range(upstream.num_layers) for p in positions}


def _tuner_layers(upstream, kind=BaseTunerLayer) -> dict[str, nn.Module]:
    return {name: module for name, module in upstream.model.named_modules() if isinstance(module, kind)}


def _adam_steps(model: SERModel, steps: int) -> None:
    """The brief's optimisation: Adam at lr 1e-2 on a cross-entropy loss through the head."""
    model.train()
    model.upstream.layerdrop_enabled = False  # a skipped layer's parameters would rightly not move
    optimiser = torch.optim.Adam(trainable_parameters(model).values(), lr=1e-2)
    waves, lengths = _batch()
    for _ in range(steps):
        optimiser.zero_grad()
        F.cross_entropy(model(waves, lengths), torch.tensor([0, 3])).backward()
        optimiser.step()


def _with_head(upstream, method) -> SERModel:
    return SERModel(upstream, method, SERHead(upstream.num_layers, upstream.hidden_size))


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_method_starts_as_the_frozen_upstream(backbone, method):
    torch.manual_seed(0)
    frozen = build_upstream(backbone).eval()
    tuned = build_upstream(backbone)
    tuned.load_state_dict(frozen.state_dict())
    build_method(method).apply(tuned)
    tuned.eval()
    waves, lengths = _batch()
    with torch.no_grad():
        expected, expected_lengths = frozen(waves, lengths)
        states, frame_lengths = tuned(waves, lengths)
    assert len(states) == len(expected) == tuned.num_layers + 1
    assert torch.equal(frame_lengths, expected_lengths)
    assert [s.shape for s in states] == [e.shape for e in expected]
    if method in PROMPT_METHODS:
        torch.testing.assert_close(states[0], expected[0], rtol=0, atol=0)
        assert not torch.allclose(states[-1], expected[-1]), "the prompts never reached the layers"
    else:
        for index, (state, reference) in enumerate(zip(states, expected)):
            torch.testing.assert_close(state, reference, rtol=0, atol=1e-6, msg=f"hidden state {index}")


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_two_adam_steps_move_every_trainable_parameter_and_no_frozen_one(backbone, method):
    torch.manual_seed(0)
    upstream = build_upstream(backbone)
    backbone_weights = {id(p): (name, p.detach().clone()) for name, p in upstream.named_parameters()}
    strategy = build_method(method)
    strategy.apply(upstream)
    added = trainable_parameters(upstream)
    assert bool(added) == (method != "downstream")
    model = _with_head(upstream, strategy)
    initial = {name: p.detach().clone() for name, p in trainable_parameters(model).items()}

    _adam_steps(model, steps=2)

    unmoved = [name for name, p in trainable_parameters(model).items() if torch.equal(p, initial[name])]
    assert unmoved == []
    current = {id(p): p for p in upstream.parameters()}
    for key, (name, before) in backbone_weights.items():
        assert key in current, f"backbone weight {name} was replaced"
        assert not current[key].requires_grad, f"backbone weight {name} trains"
        assert torch.equal(current[key], before), f"backbone weight {name} changed"


@pytest.mark.parametrize("backbone, trapped", [("demo_wav2vec2_base", False), ("demo_wavlm_base_plus", True)])
def test_the_movement_check_catches_lora_on_wavlm_attention(backbone, trapped):
    """Why LoRA sits on the feed-forward linears: WavLM's attention reads its projection weights directly."""
    torch.manual_seed(0)
    upstream = build_upstream(backbone)
    upstream.requires_grad_(False)
    modules = [name for name, _ in upstream.model.named_modules() if name.endswith("attention.q_proj")]
    config = Lora().peft_config(upstream, modules)
    PEFT_TYPE_TO_TUNER_MAPPING[config.peft_type](upstream.model, config, adapter_name="default")
    initial = {name: p.detach().clone() for name, p in trainable_parameters(upstream).items()}
    assert len(initial) == 2 * upstream.num_layers
    _adam_steps(_with_head(upstream, Lora()), steps=2)
    unmoved = {name for name, p in trainable_parameters(upstream).items() if torch.equal(p, initial[name])}
    assert unmoved == (set(initial) if trapped else set())


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_lora_matches_the_reference(backbone):
    upstream = build_upstream(backbone)
    build_method("lora").apply(upstream)
    layers = _tuner_layers(upstream)
    # Exactly the two feed-forward linears of every layer: nothing on attention.
    assert set(layers) == _ffn_names(upstream)
    assert all(isinstance(layer, LoraLayer) for layer in layers.values())
    hidden = upstream.hidden_size
    for name, layer in layers.items():
        assert layer.r["default"] == 8
        assert layer.scaling["default"] == 1 / 8  # loralib's lora_alpha = 1, not peft's usual alpha = 2r
        assert isinstance(layer.lora_dropout["default"], nn.Identity)
        assert not layer.use_dora["default"]
        a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
        assert a.shape == (8, layer.in_features) and b.shape == (layer.out_features, 8)
        assert torch.count_nonzero(b) == 0 and torch.count_nonzero(a) > 0
        # ffn_in widens the hidden size, ffn_out narrows back to it.
        assert (layer.in_features == hidden) != (layer.out_features == hidden), name


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
@pytest.mark.parametrize("targets, positions", [(["ffn_in"], (0,)), (["ffn_out"], (1,))])
def test_lora_targets_pick_one_linear_per_layer(backbone, targets, positions):
    upstream = build_upstream(backbone)
    build_method("lora", targets=targets).apply(upstream)
    assert set(_tuner_layers(upstream)) == _ffn_names(upstream, positions)


@pytest.mark.parametrize("targets", [[], ["attention"], ["ffn_in", "q_proj"]])
def test_lora_rejects_unknown_targets(targets):
    upstream = build_upstream("demo_whisper_tiny")
    with pytest.raises(ValueError, match="targets must be a non-empty subset of"):
        build_method("lora", targets=targets).apply(upstream)


@pytest.mark.parametrize("method", PEFT_METHODS)
@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_peft_relatives_wrap_only_the_feed_forward_linears(backbone, method):
    upstream = build_upstream(backbone)
    build_method(method).apply(upstream)
    assert set(_tuner_layers(upstream)) == _ffn_names(upstream)


@pytest.mark.parametrize("method", ["adapter", "parallel_adapter"])
@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_adapter_defaults_are_the_papers(backbone, method):
    upstream = build_upstream(backbone)
    build_method(method).apply(upstream)
    hidden = upstream.hidden_size
    for layer in upstream.layers:
        adapter = getattr(layer, method)
        assert isinstance(adapter, Bottleneck)
        assert (adapter.down.in_features, adapter.down.out_features) == (hidden, 128)
        assert (adapter.up.in_features, adapter.up.out_features) == (128, hidden)
        assert adapter.scale == 0.1 and adapter.dropout.p == 0.1
        assert torch.count_nonzero(adapter.up.weight) == 0
        assert torch.count_nonzero(adapter.up.bias) == 0 and torch.count_nonzero(adapter.down.bias) == 0
        assert torch.count_nonzero(adapter.down.weight) > 0


@pytest.mark.parametrize("reference_residual", [False, True])
@pytest.mark.parametrize("method", ["adapter", "parallel_adapter"])
@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_adapters_compute_the_reference_layer(backbone, method, reference_residual):
    """Placement per family as the reference's layers; reference_residual adds its doubled residual."""
    torch.manual_seed(0)
    upstream = build_upstream(backbone)
    build_method(method, reference_residual=reference_residual).apply(upstream)
    upstream.eval()
    layer = upstream.layers[0]
    adapter = getattr(layer, method)
    nn.init.normal_(adapter.up.weight)  # away from the zero start, so the adapter contributes
    x = torch.randn(2, 13, upstream.hidden_size)
    with torch.no_grad():
        ours = run_layer(upstream.family, layer, x)
        expected = reference_layer(layer, upstream.family, upstream.pre_norm, method, adapter, x, doubled=reference_residual)
        other = reference_layer(layer, upstream.family, upstream.pre_norm, method, adapter, x, doubled=not reference_residual)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ours, other, atol=1e-4)  # the two variants are told apart


@pytest.mark.parametrize("backbone", [*TINY_BACKBONES, *TWINS])  # every family, post- and pre-norm
def test_parallel_adapter_reads_the_state_before_the_feed_forward_layer_norm(backbone):
    torch.manual_seed(0)
    upstream = build_upstream(backbone)
    build_method("parallel_adapter").apply(upstream)
    upstream.eval()
    layer = upstream.layers[-1]
    norm = layer.final_layer_norm if upstream.pre_norm else layer.layer_norm
    seen = {}
    norm.register_forward_pre_hook(lambda m, args: seen.update(pre_norm=args[0]))
    norm.register_forward_hook(lambda m, args, out: seen.update(post_norm=out))
    layer.parallel_adapter.down.register_forward_pre_hook(lambda m, args: seen.update(adapter_input=args[0]))
    with torch.no_grad():
        upstream(*_batch())
    assert torch.equal(seen["adapter_input"], seen["pre_norm"])
    assert not torch.allclose(seen["adapter_input"], seen["post_norm"])


@pytest.mark.parametrize("backbone, method, identity", [
    ("demo_whisper_tiny", "adapter", False),
    ("demo_whisper_tiny", "parallel_adapter", False),
    ("demo_wav2vec2_base", "adapter", True),  # LN(2h) = LN(h): the next layer norm cancels the doubling
    ("demo_wav2vec2_base", "parallel_adapter", False),
])
def test_reference_residual_is_not_the_identity_at_init(backbone, method, identity):
    """Why the default departs from the reference: its doubled residual changes the frozen model."""
    torch.manual_seed(0)
    frozen = build_upstream(backbone).eval()
    tuned = build_upstream(backbone)
    build_method(method, reference_residual=True).apply(tuned)
    tuned.eval()
    with torch.no_grad():
        expected = frozen(*_batch())[0]
        states = tuned(*_batch())[0]
    assert torch.allclose(states[-1], expected[-1], atol=1e-3) == identity


@pytest.mark.parametrize("backbone", TINY_BACKBONES)
def test_embedding_prompt_defaults_are_the_papers(backbone):
    upstream = build_upstream(backbone)
    build_method("embedding_prompt").apply(upstream)
    hidden = upstream.hidden_size
    bound = (6 / ((5 + 1) * hidden)) ** 0.5  # Xavier-uniform on a [1, 5, hidden] tensor, as the reference
    for layer in upstream.layers:
        prompt = layer.embedding_prompt.prompt
        assert prompt.shape == (5, hidden) and prompt.requires_grad
        # Uniform on [-bound, bound]: its standard deviation is bound / sqrt(3).
        assert prompt.abs().max() <= bound and prompt.abs().max() > 0.9 * bound
        assert abs(prompt.std().item() - bound / 3**0.5) < 0.15 * bound


def test_embedding_prompt_length_must_be_positive():
    with pytest.raises(ValueError, match="prompt_length must be >= 1"):
        build_method("embedding_prompt", prompt_length=0).apply(build_upstream("demo_whisper_tiny"))


@pytest.mark.parametrize("method, args, expected", [
    ("adapter", {"bottleneck": 32}, 32),
    ("embedding_prompt", {"prompt_length": 3}, 3),
    ("lora", {"rank": 16}, 16),
])
def test_ablation_sizes_are_arguments(method, args, expected):
    upstream = build_upstream("demo_wavlm_base_plus")
    build_method(method, **args).apply(upstream)
    layer = upstream.layers[0]
    size = {
        "adapter": lambda: layer.adapter.down.out_features,
        "embedding_prompt": lambda: layer.embedding_prompt.prompt.shape[0],
        "lora": lambda: layer.feed_forward.intermediate_dense.r["default"],
    }[method]()
    assert size == expected
    states, _ = upstream(*_batch())
    assert len(states) == upstream.num_layers + 1


def test_method_arguments_are_checked():
    with pytest.raises(ValueError, match=r"method 'lora' has no argument\(s\) \['rnak'\]; its arguments are .*'rank'"):
        build_method("lora", rnak=4)


@pytest.mark.parametrize("method", [m for m in METHOD_NAMES if m != "downstream"])
@pytest.mark.parametrize("backbone", ["demo_whisper_tiny", "demo_wavlm_base_plus"])
def test_a_deep_copy_runs_its_own_trainable_weights(backbone, method):
    """A copied model (e.g. the best epoch kept aside) must not run the original's weights."""
    torch.manual_seed(0)
    upstream = build_upstream(backbone)
    build_method(method).apply(upstream)
    upstream.eval()
    waves, lengths = _batch()
    with torch.no_grad():
        before = upstream(waves, lengths)[0][-1]
        twin = copy.deepcopy(upstream)
        for p in trainable_parameters(twin).values():
            p.add_(torch.randn_like(p))  # random, not constant: a constant shift vanishes in a layer norm
        assert torch.equal(upstream(waves, lengths)[0][-1], before)
        assert not torch.allclose(twin(waves, lengths)[0][-1], before)
