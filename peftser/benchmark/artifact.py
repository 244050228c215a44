"""The PEFT artifact: only the trainable weights (method + head) as safetensors, beside a JSON config.

Loading rebuilds the frozen upstream from its registry entry and never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save

from peftser.benchmark.store import ARTIFACT_CONFIG
from peftser.files import atomic_write, write_text_atomic, writing
from peftser.model import SERModel, build_model

WEIGHTS = "adapter.safetensors"
CONFIG = ARTIFACT_CONFIG  # adapter_config.json


def save_artifact(model: SERModel, directory: str | Path, config: dict[str, Any]) -> int:
    """Write the trainable weights and ``config`` (what ``build_model`` needs); returns the bytes written."""
    directory = Path(directory)
    tensors = {name: t.detach().float().cpu().contiguous() for name, t in model.trainable_state_dict().items()}
    weights = save(tensors)
    # The weights' checksum in the config: a flipped bit in the tensor data would otherwise load
    # without complaint and predict differently.
    config = {**config, "weights_sha256": hashlib.sha256(weights).hexdigest()}
    with writing("the artifact"):
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / WEIGHTS, lambda handle: handle.write(weights))
        write_text_atomic(directory / CONFIG, json.dumps(config, indent=2))
    return sum((directory / name).stat().st_size for name in (WEIGHTS, CONFIG))


def artifact_config(model: SERModel, upstream: str, upstream_args: dict, max_seconds: float, *, cell=None,
                    classes=None) -> dict:
    """What ``load_artifact`` needs to rebuild ``model``; with ``cell`` (the training it came from)
    also the cell and its key, by which ``peftser.load`` finds the run record beside it. ``classes``
    names the head's outputs in order (default: the paper's four)."""
    from peftser import __version__
    from peftser.downstream.task import EMOTIONS

    trained_as = {} if cell is None else {"cell": cell.to_dict(), "key": cell.key}
    return {
        **trained_as,
        "upstream": upstream,
        "upstream_args": upstream_args,
        "pretrained": model.upstream.pretrained,
        "method": model.method.name,
        "method_args": model.method.args(),
        "head": {
            "hidden": model.head.classifier[0].out_features,
            "dropout": model.head.convs[2].p,
            "include_input_state": model.head.include_input_state,
        },
        "classes": list(classes or EMOTIONS),
        "frozen_fingerprint": frozen_fingerprint(model),
        "max_seconds": max_seconds,
        "peftser_version": __version__,
    }


def _read_config(path: Path) -> dict:
    """The artifact's JSON config, or a ValueError naming the file and what is wrong."""
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} holds {type(config).__name__}, not a peftser artifact config")
    missing = [k for k in ("upstream", "upstream_args", "pretrained", "method", "method_args", "head", "classes", "max_seconds") if k not in config]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: not a peftser artifact config")
    why = config_problem(config)
    if why:
        raise ValueError(f"{path}: {why}")
    return config


# The longest training cut an artifact may name: an hour is 57.6 M samples at 16 kHz; a cut far
# beyond any clip (1e306 s) overflowed the sample count when it was scored.
MAX_SECONDS = 3600


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def config_problem(config: dict) -> str | None:
    """What in an artifact config cannot rebuild the model it describes (field and value), or None."""
    head = config["head"]
    classes = config["classes"]
    checks = [
        ("upstream", config["upstream"], isinstance(config["upstream"], str) and config["upstream"], "a name"),
        ("method", config["method"], isinstance(config["method"], str) and config["method"], "a name"),
        ("upstream_args", config["upstream_args"], isinstance(config["upstream_args"], dict), "a mapping"),
        ("method_args", config["method_args"], isinstance(config["method_args"], dict), "a mapping"),
        ("pretrained", config["pretrained"], isinstance(config["pretrained"], bool), "true or false"),
        ("head", head, isinstance(head, dict), "a mapping with hidden and dropout"),
        ("max_seconds", config["max_seconds"], _positive(config["max_seconds"]) and config["max_seconds"] <= MAX_SECONDS,
         f"a number of seconds in (0, {MAX_SECONDS}]"),
        ("classes", classes, isinstance(classes, list) and len(classes) >= 2 and len(set(classes)) == len(classes)
         and all(isinstance(c, str) and c for c in classes), "a list of two or more distinct class names"),
        ("weights_sha256", config.get("weights_sha256"), _is_sha256(config.get("weights_sha256", "0" * 64)), "64 hex digits"),
    ]
    if isinstance(head, dict):
        hidden, dropout = head.get("hidden"), head.get("dropout")
        checks += [
            ("head.hidden", hidden, isinstance(hidden, int) and not isinstance(hidden, bool) and hidden > 0, "a whole number > 0"),
            ("head.dropout", dropout, isinstance(dropout, (int, float)) and not isinstance(dropout, bool) and 0 <= dropout < 1,
             "a number in [0, 1)"),
            ("head.include_input_state", head.get("include_input_state", False),
             isinstance(head.get("include_input_state", False), bool), "true or false"),
        ]
    for name, value, ok, should in checks:
        if not ok:
            return f"{name} is {value!r}, not {should}"
    return _cell_problem(config) or _classes_problem(config) or _method_args_problem(config["method"], config["method_args"])


def _classes_problem(config: dict) -> str | None:
    """The classes of an artifact trained as a cell must be its task's, in its order: the head's
    outputs are read by position, so a reordered or extended list would relabel every prediction."""
    from peftser.downstream.tasks import task_classes

    cell = config.get("cell")
    if not isinstance(cell, dict) or not isinstance(cell.get("task"), str):
        return None
    try:
        expected = task_classes(cell["task"], cell.get("task_args") or {})
    except (KeyError, ValueError, TypeError):
        return None  # a task not registered here: the artifact still predicts with its own list
    if list(expected) != config["classes"]:
        return f"classes is {config['classes']!r}, not task {cell['task']}'s classes {list(expected)}"
    return None


def _cell_problem(config: dict) -> str | None:
    """What is wrong with the config's ``cell`` (what it was trained as), when it has one."""
    from peftser.benchmark.cell import Cell

    cell = config.get("cell")
    if cell is None:
        return None  # written before artifacts named their cell
    if not isinstance(cell, dict):
        return f"cell is {cell!r}, not a mapping"
    for name in ("upstream", "method", "task", "training"):
        if not isinstance(cell.get(name), str) or not cell[name]:
            return f"cell.{name} is {cell.get(name)!r}, not a name"
    for name in ("upstream", "method"):
        if cell[name] != config[name]:
            return f"cell.{name} is {cell[name]!r}, but the artifact's {name} is {config[name]!r}"
    try:
        Cell.from_dict(cell).key
    except (TypeError, ValueError, KeyError) as err:
        return f"cell: {err}"
    return None


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _method_args_problem(method: str, args: dict) -> str | None:
    from peftser.benchmark.checks import check_method_args
    from peftser.registry import METHODS, load_builtins

    load_builtins()
    if method not in METHODS:
        return None  # named by build_model's own error (unknown method, with the registered ones)
    method_class = METHODS.get(method)
    try:
        method_class.from_args(**args)
        check_method_args(method_class, args)
    except (TypeError, ValueError) as err:
        return f"method_args: {err}"
    return None


def frozen_fingerprint(model: SERModel) -> str:
    """A hash of the frozen upstream weights the artifact was trained on top of."""
    digest = hashlib.sha256()
    for name, p in model.upstream.named_parameters():
        if not p.requires_grad:
            digest.update(f"{name}{tuple(p.shape)}".encode())
            digest.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def check_weights(directory: Path, expected: str | None, weights: str = WEIGHTS, config: str = CONFIG) -> None:
    """A ValueError when the weights file is not the one the config was written with, or the config
    names no checksum (a deleted one would otherwise switch the check off)."""
    if expected is None:
        raise ValueError(
            f"{directory / config} has no weights_sha256, so {weights} cannot be checked; if the artifact is "
            "known to be sound, load it with peftser.load(..., verify=False) or --predict --no-verify"
        )
    actual = sha256_file(directory / weights)
    if actual != expected:
        raise ValueError(
            f"{directory / weights} is damaged or was replaced: its sha256 {actual[:16]}... differs from "
            f"the {expected[:16]}... recorded in {config}"
        )


def sha256_file(path: Path) -> str:
    """The file's sha256, read in blocks (weights may not fit in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_artifact(directory: str | Path, *, device: str = "cpu", checkpoint_dir=None, verify: bool = True,
                  encoder=None) -> tuple[SERModel, dict]:
    """The model an artifact was trained as (frozen upstream rebuilt, trained weights loaded) and its
    config; ``verify=False`` skips the weights' checksum (which must otherwise be in the config).
    ``encoder``: the frozen upstream to put the method on, already built (see ``build_model``)."""
    directory = Path(directory)
    for name in (CONFIG, WEIGHTS):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a peftser artifact: {name} is missing")
    config = _read_config(directory / CONFIG)
    if verify:
        check_weights(directory, config.get("weights_sha256"))
    model = build_model(
        config["upstream"],
        config["method"],
        method_args=config["method_args"],
        upstream_args=config["upstream_args"],
        pretrained=config["pretrained"],
        checkpoint_dir=checkpoint_dir,
        head_hidden=config["head"]["hidden"],
        head_dropout=config["head"]["dropout"],
        include_input_state=config["head"].get("include_input_state", False),
        num_classes=len(config["classes"]),
        encoder=encoder,
    )
    try:
        weights = load_file(str(directory / WEIGHTS))
    except Exception as err:  # safetensors raises its own error type for a damaged file
        raise ValueError(f"{directory / WEIGHTS} cannot be read: {err}") from None
    outputs = weights.get("head.classifier.2.bias")
    if outputs is not None and outputs.shape[0] != len(config["classes"]):
        raise ValueError(f"{directory / CONFIG}: classes is {config['classes']!r}, not the head's "
                         f"{outputs.shape[0]} outputs in {WEIGHTS}")
    damaged = next((name for name, tensor in weights.items() if tensor.is_floating_point() and not tensor.isfinite().all()), None)
    if damaged is not None:  # a training that diverged, or a damaged file: every score would be NaN, whatever the audio
        raise ValueError(f"{directory / WEIGHTS}: the trained weights {damaged!r} hold NaN or infinite values")
    expected = set(model.trainable_state_dict())
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise ValueError(f"{directory / WEIGHTS} does not match {config['method']} on {config['upstream']}: missing {missing[:5]}, unexpected {extra[:5]}")
    try:
        model.load_state_dict(weights, strict=False)
    except RuntimeError as err:  # shapes differ from what the config builds
        raise ValueError(f"{directory / WEIGHTS} does not fit the model its config describes: {err}") from None
    if config.get("frozen_fingerprint") not in (None, frozen_fingerprint(model)):
        # Another checkpoint revision, or random weights drawn differently by another library version:
        # the trained weights no longer sit on the encoder they were trained with.
        warnings.warn(
            f"{directory}: the frozen {config['upstream']} weights differ from those this artifact was trained on; "
            "its predictions may not be what the run record reports",
            stacklevel=2,
        )
    return model.to(device).eval(), config
