"""The registry: lookups with helpful errors, and new upstreams and methods registered from outside."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch
from torch.nn import functional as F

from peftser.cli import main
from peftser.model import build_model
from peftser.params import PAPER_BACKBONES, PAPER_METHODS
from peftser.peft import Method, trainable_parameters
from peftser.registry import GRIDS, METHODS, TASKS, UPSTREAMS, Registry, load_builtins

import toy_plugin  # the tests folder's plugin module, outside the package

load_builtins()
BUILTIN_METHODS = METHODS.names()


def test_builtins_hold_the_paper_backbones_their_tiny_twins_and_methods():
    assert set(PAPER_BACKBONES) | {f"demo_{name}" for name in PAPER_BACKBONES} <= set(UPSTREAMS.names())
    assert set(PAPER_METHODS) | {"dora", "loha", "lokr", "ia3", "vera"} <= set(METHODS.names())


def _fresh_interpreter(code: str) -> dict:
    """What ``code`` (which sets ``out``) finds in a new Python process, where nothing is loaded yet."""
    done = subprocess.run([sys.executable, "-c", code + "\nimport json; print(json.dumps(out))"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_load_builtins_fills_the_registries_once():
    out = _fresh_interpreter(
        "from peftser.registry import GRIDS, METHODS, TASKS, UPSTREAMS, load_builtins\n"
        "regs = (UPSTREAMS, METHODS, TASKS, GRIDS)\n"
        "before = [len(r) for r in regs]; load_builtins(); first = [r.names() for r in regs]\n"
        "load_builtins(); out = {'before': before, 'first': first, 'second': [r.names() for r in regs]}"
    )
    assert out["before"] == [0, 0, 0, 0]  # nothing is registered until the built-ins are loaded
    assert all(out["first"]) and out["second"] == out["first"]


def test_loading_the_methods_alone_imports_no_torch():
    # A cell's key needs the methods' argument defaults; --leaderboard hashes cells without torch.
    out = _fresh_interpreter(
        "import sys\nfrom peftser.registry import METHODS, load_builtins\nload_builtins('method')\n"
        "from peftser.benchmark.cell import Cell\nkey = Cell('whisper_tiny', 'lora', 'iemocap', 'fold1').key\n"
        "out = {'methods': METHODS.names(), 'torch': 'torch' in sys.modules, 'key': key}"
    )
    assert "lora" in out["methods"] and out["torch"] is False
    from peftser.benchmark.cell import Cell

    assert out["key"] == Cell("whisper_tiny", "lora", "iemocap", "fold1").key  # the same key with everything loaded


def test_a_registered_class_takes_its_name_from_the_registry():
    registry = Registry("method")

    @registry.register("scaled")
    class Scaled:
        name = ""

    assert Scaled.name == "scaled"
    assert all(cls.name == key for key, cls in ((k, METHODS.get(k)) for k in METHODS.names()))
    assert all(TASKS.get(k).name == k for k in TASKS.names())


def test_a_class_naming_itself_otherwise_is_refused():
    registry = Registry("method")
    with pytest.raises(ValueError, match=r"method 'bitfit2': class Named declares name = 'bitfit'"):
        @registry.register("bitfit2")
        class Named:
            name = "bitfit"
    assert "bitfit2" not in registry


@pytest.mark.parametrize("registry, typo, suggestion", [(UPSTREAMS, "wavlm_base_plu", "wavlm_base_plus"), (METHODS, "lorra", "lora")])
def test_unknown_name_lists_the_known_ones(registry, typo, suggestion):
    with pytest.raises(KeyError) as caught:
        registry.get(typo)
    message = caught.value.args[0]
    assert f"unknown {registry.kind} {typo!r}" in message
    assert f"Did you mean {suggestion!r}?" in message
    for name in registry.names():
        assert name in message


def test_unknown_name_in_an_empty_registry_says_there_are_none():
    with pytest.raises(KeyError, match=r"Known things: \(none\)"):
        Registry("thing").get("anything")


def test_double_registration_is_an_error_unless_overwrite():
    registry = Registry("thing")
    registry.register("a", 1)
    with pytest.raises(ValueError, match="thing 'a' is already registered"):
        registry.register("a", 2)
    assert registry.get("a") == 1
    registry.register("a", 2, overwrite=True)
    assert registry.get("a") == 2


def test_registering_the_same_object_again_is_harmless():
    # Re-importing a plugin module runs its decorators again with the same objects.
    registry = Registry("thing")
    obj = object()
    registry.register("a", obj)
    registry.register("a", obj)
    assert registry.names() == ["a"]


@pytest.mark.parametrize("registry, entry, what", [
    (UPSTREAMS, {"family": "wavlm"}, "an UpstreamSpec or a function"),
    (METHODS, toy_plugin.ToyUpstream, "a subclass of peftser.peft.Method"),
    (METHODS, lambda upstream: None, "a subclass of peftser.peft.Method"),
    (TASKS, toy_plugin.BitFit, "a subclass of peftser.downstream.task.Task"),
    (GRIDS, {"name": "mine"}, "a Grid or the path of a grid YAML file"),
])
def test_an_entry_of_the_wrong_type_is_refused_at_registration(registry, entry, what):
    load_builtins()
    with pytest.raises(TypeError, match=f"{registry.kind} 'wrong_type': expected {what}"):
        registry.register("wrong_type", entry)
    assert "wrong_type" not in registry


def test_a_lazy_entry_of_the_wrong_type_is_refused_when_imported():
    registry = Registry("method")
    lazy = Registry("method", METHODS.accepts)
    lazy.register("toy", "toy_plugin:build_toy_upstream")  # listing imports nothing, so nothing is checked yet
    registry.register("toy", "toy_plugin:build_toy_upstream")
    assert registry.get("toy") is toy_plugin.build_toy_upstream  # an unchecked registry takes anything
    with pytest.raises(TypeError, match="method 'toy': expected a subclass of peftser.peft.Method, got function"):
        lazy.get("toy")


def test_a_built_in_name_says_so_and_how_to_replace_it():
    load_builtins()
    mine = dataclass(type("Mine", (Method,), {}))
    with pytest.raises(ValueError) as caught:
        METHODS.register("lora", mine)
    message = str(caught.value)
    assert "method 'lora' is already registered: it is built into peftser" in message
    assert "overwrite=True" in message
    assert METHODS.is_builtin("lora") and METHODS.get("lora").__name__ == "Lora"
    original = METHODS.get("lora")
    with METHODS.temporary("lora", mine, overwrite=True):  # deliberately
        assert METHODS.get("lora") is mine and not METHODS.is_builtin("lora")
    assert METHODS.get("lora") is original and METHODS.is_builtin("lora")


def test_entries_are_added_and_removed_through_public_calls():
    load_builtins()
    before = UPSTREAMS.names()
    with UPSTREAMS.temporary("toy_conv", toy_plugin.build_toy_upstream):
        assert "toy_conv" in UPSTREAMS and not UPSTREAMS.is_builtin("toy_conv")
    assert UPSTREAMS.names() == before
    METHODS.register("bitfit", toy_plugin.BitFit)
    assert METHODS.unregister("bitfit") is toy_plugin.BitFit and "bitfit" not in METHODS
    with pytest.raises(KeyError, match="unknown method 'bitfit'"):
        METHODS.unregister("bitfit")
    with METHODS.preserved():
        METHODS.register("bitfit", toy_plugin.BitFit)
        METHODS.unregister("adapter")
    assert "bitfit" not in METHODS and "adapter" in METHODS and METHODS.is_builtin("adapter")


def test_a_corpus_twin_comes_and_goes_with_its_corpus():
    # A corpus that declares a twin brings synthetic_<name>, built in only when the corpus is.
    from peftser.downstream.tasks.crema_d import CremaD

    load_builtins()
    assert TASKS.is_builtin("synthetic_crema_d")

    class Mine(CremaD):
        """A corpus from outside the package, with CREMA-D's reader and twin."""

    with TASKS.temporary("mine", Mine):
        assert "synthetic_mine" in TASKS and not TASKS.is_builtin("synthetic_mine")
        assert issubclass(TASKS.get("synthetic_mine"), Mine)
    assert "synthetic_mine" not in TASKS
    TASKS.register("mine", Mine)
    assert "synthetic_mine" in TASKS
    TASKS.unregister("mine")
    assert "mine" not in TASKS and "synthetic_mine" not in TASKS
    original = TASKS.get("synthetic_crema_d")

    class Replacement(CremaD):
        """A user's own reading of CREMA-D, replacing the built-in deliberately."""

    with TASKS.temporary("crema_d", Replacement, overwrite=True):  # its twin is replaced too
        twin = TASKS.get("synthetic_crema_d")
        assert issubclass(twin, Replacement) and not TASKS.is_builtin("synthetic_crema_d")
    assert TASKS.get("synthetic_crema_d") is original and TASKS.is_builtin("synthetic_crema_d")  # the same class: it pickles


@pytest.mark.parametrize("bad", ["", None, 3])
def test_registration_needs_a_non_empty_string_name(bad):
    with pytest.raises(ValueError, match="non-empty string"):
        Registry("thing").register(bad, object())


def test_decorator_registration_returns_the_object():
    registry = Registry("thing")

    @registry.register("double")
    def double(x):
        return 2 * x

    assert registry.get("double") is double
    assert double(2) == 4
    assert "double" in registry and len(registry) == 1 and list(registry) == ["double"]


def test_lazy_entry_is_imported_on_first_get():
    registry = Registry("upstream")
    registry.register("toy_lazy", "toy_plugin:build_toy_upstream")
    assert registry.get("toy_lazy") is toy_plugin.build_toy_upstream
    assert registry.get("toy_lazy") is toy_plugin.build_toy_upstream


def test_factory_loads_the_builtins():
    out = _fresh_interpreter(
        "from peftser.registry import METHODS, factory\nbefore = 'lora' in METHODS\n"
        "out = {'before': before, 'name': factory(METHODS, 'lora').__name__}"
    )
    assert out == {"before": False, "name": "Lora"}


@pytest.fixture
def toy_registered():
    """``toy_conv`` and ``bitfit`` registered from outside the package, removed afterwards."""
    with UPSTREAMS.temporary("toy_conv", toy_plugin.build_toy_upstream), METHODS.temporary("bitfit", toy_plugin.BitFit):
        yield


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(2, 8000), torch.tensor([8000, 6000])


def _train_step(model) -> torch.Tensor:
    """One loss through the head; returns the logits."""
    waves, lengths = _batch()
    logits = model(waves, lengths)
    F.cross_entropy(logits, torch.tensor([0, 3])).backward()
    return logits


def test_new_upstream_and_new_method_run_through_the_head(toy_registered):
    torch.manual_seed(0)
    model = build_model("toy_conv", "bitfit")
    logits = _train_step(model)
    assert logits.shape == (2, 4) and torch.isfinite(logits).all()
    upstream = model.upstream
    assert upstream.num_layers == 2 and upstream.hidden_size == 16
    trained = trainable_parameters(upstream)
    # BitFit unfreezes exactly the feed-forward biases: two per layer.
    assert sorted(trained) == [f"model.layers.{i}.{fc}.bias" for i in range(2) for fc in ("fc_in", "fc_out")]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trained.values())
    assert model.parameter_counts()["method_params"] == 2 * (32 + 16)
    assert not any(p.requires_grad for name, p in upstream.named_parameters() if name not in trained)


def test_upstream_args_reach_a_registered_upstream_function(toy_registered):
    model = build_model("toy_conv", "downstream", upstream_args={"dim": 24, "num_layers": 3})
    assert model.upstream.hidden_size == 24
    assert model.head.layer_weights.numel() == 3  # one per layer: the reference's layer sum


@pytest.mark.parametrize("method", BUILTIN_METHODS)
def test_every_builtin_method_applies_to_the_new_upstream(toy_registered, method):
    torch.manual_seed(0)
    model = build_model("toy_conv", method)
    _train_step(model)
    added = trainable_parameters(model.upstream)
    assert bool(added) == (method != "downstream")
    assert all(p.grad is not None for p in added.values())


def test_new_method_applies_to_a_builtin_upstream(toy_registered):
    torch.manual_seed(0)
    model = build_model("demo_whisper_tiny", "bitfit")
    _train_step(model)
    assert sorted(trainable_parameters(model.upstream)) == [
        f"model.layers.{i}.{fc}.bias" for i in range(2) for fc in ("fc1", "fc2")
    ]


def test_cli_lists_a_registration_from_outside(toy_registered, capsys):
    assert main(["--list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert "toy_conv" in listing["upstreams"] and "bitfit" in listing["methods"]
