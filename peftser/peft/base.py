"""The method contract: modify a frozen upstream in place so that only a few parameters train."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # the methods' dataclasses import no torch: a cell's key needs only their defaults
    from torch import nn

    from peftser.upstream.base import Upstream


@dataclass
class Method:
    """A PEFT strategy; its dataclass fields are its hyperparameters (with the paper's defaults).

    Subclasses implement ``modify(upstream)``; ``apply`` freezes the whole upstream first, so what
    ``modify`` adds (or unfreezes) is exactly what trains.
    """

    name: ClassVar[str] = ""

    def modify(self, upstream: "Upstream") -> None:
        raise NotImplementedError

    def apply(self, upstream: "Upstream") -> None:
        upstream.requires_grad_(False)
        self.modify(upstream)

    def merge(self, upstream: "Upstream") -> bool:
        """Fold what the method trained into the upstream's own weights and remove its modules, for
        a standalone export; False (nothing changed) for a method whose modules cannot be folded
        into the encoder's linears (adapters, prompts), which then keep their modules."""
        return False

    def args(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_args(cls, **args) -> "Method":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(args) - known)
        if unknown:
            raise ValueError(f"method {cls.name!r} has no argument(s) {unknown}; its arguments are {sorted(known)}")
        return cls(**args)


def trainable_parameters(module: "nn.Module") -> dict[str, "nn.Parameter"]:
    """The parameters that train, by name (what an artifact saves)."""
    return {name: p for name, p in module.named_parameters() if p.requires_grad}


FFN_TARGETS = {"ffn_in": 0, "ffn_out": 1}  # a method's ``targets``: position in ``upstream.ffn_linears``


def ffn_linear_names(upstream: "Upstream", targets: tuple[str, ...] | list[str]) -> list[str]:
    """Full module names (within ``upstream.model``) of the feed-forward linears ``ffn_in``/``ffn_out``."""
    positions = FFN_TARGETS
    bad = [t for t in targets if t not in positions]
    if bad or not targets:
        raise ValueError(f"targets must be a non-empty subset of {list(positions)}, got {list(targets)}")
    prefix = {id(m): n for n, m in upstream.model.named_modules()}
    names = []
    for layer in upstream.layers:
        for target in targets:
            names.append(f"{prefix[id(layer)]}.{upstream.ffn_linears[positions[target]]}")
    return names
