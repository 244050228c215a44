"""One frozen encoder serving several artifacts: the reason PEFT exists.

``peftser.load([dir_a, dir_b, ...])`` builds the frozen encoder once. Each artifact gets its own
copy of the encoder's modules whose weights are the one encoder's tensors (shared, not copied),
its method put on that copy and its trained weights (method and head) loaded, so memory holds
the encoder once plus each artifact's few trained parameters, and each artifact predicts exactly
as it does loaded alone. ``predict(..., model=name)`` picks the artifact.

Artifacts built on different encoders (another upstream, other arguments, real against random
weights) are refused with a line naming them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Mapping, Sequence

import torch

ENCODER_FIELDS = ("upstream", "upstream_args", "pretrained")


def _named(artifacts: Sequence[str | Path] | Mapping[str, str | Path]) -> dict[str, Path]:
    """Name -> folder: a dict's own names, or each folder's name for a list."""
    if isinstance(artifacts, Mapping):
        named = {str(name): Path(path) for name, path in artifacts.items()}
    else:
        named = {}
        for path in map(Path, artifacts):
            if path.name in named:
                raise ValueError(f"two artifacts are named {path.name!r} ({named[path.name]} and {path}); "
                                 "pass a dict {name: folder} to name them apart")
            named[path.name] = path
    if not named:
        raise ValueError("peftser.load needs at least one artifact folder: the list is empty")
    return named


def _encoder_of(directory: Path) -> tuple:
    """What decides an artifact's frozen encoder, read from its config before anything is built."""
    from peftser.benchmark.artifact import CONFIG
    from peftser.deploy.folder import is_export

    if is_export(directory):
        raise ValueError(f"{directory} is an exported model, which carries its own encoder; load it alone")
    if not (directory / CONFIG).is_file():
        raise FileNotFoundError(f"{directory} is not a peftser artifact: {CONFIG} is missing")
    config = json.loads((directory / CONFIG).read_text())
    return tuple(json.dumps(config.get(k), sort_keys=True) for k in ENCODER_FIELDS)


def _describe(encoder: tuple) -> str:
    upstream, args, pretrained = encoder
    weights = "pretrained weights" if pretrained == "true" else "random weights"
    extra = f", arguments {args}" if args not in ("{}", "null") else ""
    return f"{json.loads(upstream)} ({weights}{extra})"


def check_same_encoder(named: dict[str, Path]) -> None:
    """A ValueError naming the first artifact whose encoder (upstream, its arguments, real or
    random weights) differs from the first one's. Frozen weights of another checkpoint revision
    are warned about per artifact, as when it is loaded alone (``load_artifact``)."""
    encoders = {name: _encoder_of(path) for name, path in named.items()}
    (first, encoder), *rest = encoders.items()
    for name, other in rest:
        if other != encoder:
            raise ValueError(f"artifacts {named[first]} and {named[name]} have different encoders: "
                             f"{_describe(encoder)} and {_describe(other)}; one encoder serves only artifacts trained on it")


def sharing_copy(upstream: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``upstream``'s modules whose parameters and buffers are ``upstream``'s own tensors."""
    memo = {id(t): t for t in (*upstream.parameters(), *upstream.buffers())}
    return copy.deepcopy(upstream, memo)


class SharedEncoderPredictor:
    """Several artifacts on one frozen encoder: ``names``, ``predictors`` (each a SERPredictor),
    ``predict(inputs, model=name, ...)``, and ``encoder`` (the one frozen upstream)."""

    def __init__(self, encoder: torch.nn.Module, predictors: dict):
        self.encoder = encoder
        self.predictors = predictors
        self.names = tuple(predictors)

    def __repr__(self) -> str:
        return f"SharedEncoderPredictor({self.encoder.spec.name}: {', '.join(self.names)})"

    def __getitem__(self, name: str):
        if name not in self.predictors:
            raise KeyError(f"no artifact named {name!r}; the loaded ones are {', '.join(self.names)}")
        return self.predictors[name]

    def predict(self, inputs, sample_rate: int | None = None, *, model: str | None = None, **options):
        """The artifact ``model``'s predictions (as ``SERPredictor.predict``); ``model`` may be
        left out when one artifact is loaded."""
        if model is None:
            if len(self.names) > 1:
                raise ValueError(f"predict needs model=NAME to choose the artifact: one of {', '.join(self.names)}")
            model = self.names[0]
        return self[model].predict(inputs, sample_rate, **options)


def load_shared(artifacts, device: str | None = None, *, checkpoint_dir=None, verify: bool = True) -> SharedEncoderPredictor:
    """The artifacts (a list of folders, named by their folder names, or a dict name -> folder) on
    one frozen encoder, on ``device``."""
    from peftser.api import SERPredictor, find_record
    from peftser.benchmark.artifact import CONFIG, load_artifact
    from peftser.benchmark.run.devices import resolve_device
    from peftser.upstream import build_upstream

    resolved = resolve_device(device)
    named = _named(artifacts)
    for path in named.values():
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is not a peftser artifact: no such folder")
    check_same_encoder(named)
    first = json.loads((next(iter(named.values())) / CONFIG).read_text())
    encoder = build_upstream(first["upstream"], pretrained=first["pretrained"], checkpoint_dir=checkpoint_dir,
                             **first["upstream_args"]).to(resolved).eval()
    shared = {id(t) for t in encoder.parameters()}
    predictors = {}
    for name, path in named.items():
        model, config = load_artifact(path, device=str(resolved), verify=verify, encoder=sharing_copy(encoder))
        if any(id(p) in shared for p in model.parameters() if p.requires_grad):
            # A method that trains the encoder's own weights (a plugin's bias tuning) would have
            # written them into the tensors every other artifact reads.
            raise ValueError(f"{path}: method {config['method']!r} trains the encoder's own weights, "
                             "which one shared encoder cannot hold apart; load it alone")
        predictors[name] = SERPredictor(model, config, path, resolved, find_record(path, config))
    return SharedEncoderPredictor(encoder, predictors)
