"""The identity of one grid cell: upstream x method (with its arguments) x task x training.

Its key hashes the resolved configuration, so it is computed from the methods' argument defaults
alone: hashing a cell imports no torch (``--leaderboard`` keys the expected cells of a grid).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from peftser.benchmark.config import TrainConfig


@dataclass(frozen=True)
class Cell:
    """One training of the grid: upstream x method (with its arguments) x task x training."""

    upstream: str
    method: str
    task: str
    training: str  # e.g. "fold3", "seed2"
    method_args: dict[str, Any] = field(default_factory=dict)
    upstream_args: dict[str, Any] = field(default_factory=dict)
    task_args: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides
    variant: str = ""  # label of a method configuration, e.g. "adapter_b32" in the ablation grid

    folder: ClassVar[str] = "records"  # where its record is kept; evaluations keep theirs elsewhere

    def resolved(self) -> dict[str, Any]:
        """Everything that determines the result, with method and training defaults filled in
        (so ``adapter`` and ``adapter`` with ``bottleneck: 128`` are one cell)."""
        from peftser.registry import METHODS, load_builtins

        load_builtins("method")  # the methods' argument defaults; no encoder code, no torch
        method_args = self.method_args
        if self.method in METHODS:  # names are checked where cells are made; identity needs no registry
            method_args = METHODS.get(self.method).from_args(**method_args).args()
        return {
            "upstream": self.upstream,
            "upstream_args": dict(sorted(self.upstream_args.items())),
            "method": self.method,
            "method_args": dict(sorted(method_args.items())),
            "task": self.task,
            "task_args": dict(sorted(self.task_args.items())),
            "training": self.training,
            "train": TrainConfig.from_dict(self.train).identity(),
        }

    @property
    def key(self) -> str:
        """A stable id: hash of the resolved config (the variant label is a name, not identity)."""
        blob = json.dumps(self.resolved(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.upstream}/{self.variant or self.method}/{self.task}/{self.training}"

    def identity(self) -> dict[str, Any]:
        """The fields every run record starts with, ok or failed."""
        return {
            "key": self.key,
            "label": self.label,
            "cell": self.to_dict(),
            "config": self.resolved(),
            "upstream": self.upstream,
            "method": self.method,
            "variant": self.variant or self.method,
            "task": self.task,
            "training": self.training,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Cell":
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})
