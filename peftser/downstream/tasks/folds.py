"""The reference code's split rules, as plans over speaker groups (sessions, actors, splits).

A plan says which groups are train, dev and test in each training; the corpus maps each
utterance to its group. The reference code builds every cross-validated corpus the same way:
sklearn ``KFold(n_splits, shuffle=False)`` over the groups in order, then
``train_index[:-len(train_index)//5], train_index[-len(train_index)//5:]`` for train/dev, i.e.
the dev set is the last ceil(n/5) groups of the training part. For 5 or 6 sessions that is the
last remaining session; for CREMA-D's 91 actors the last 15.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

# The reference seeds training k (1-based: fold1, seed1, ...) with set_seed(8 * k).
SEED_PER_FOLD = 8


@dataclass(frozen=True)
class FoldPlan:
    """One training's groups: every group of the corpus is in exactly one of the three."""

    name: str
    seed: int
    train: tuple[str, ...]
    dev: tuple[str, ...]
    test: tuple[str, ...]


def reference_seed(index: int) -> int:
    """The reference seed of the ``index``-th training (1-based)."""
    return SEED_PER_FOLD * index


def kfold_plans(groups: Sequence[str], n_folds: int, prefix: str = "fold") -> list[FoldPlan]:
    """KFold(n_folds, shuffle=False) over ``groups`` in order; dev = last ceil(n/5) of the rest."""
    groups = tuple(groups)
    if len(set(groups)) != len(groups):
        raise ValueError(f"fold groups must be unique, got {groups}")
    if not 2 <= n_folds <= len(groups):
        raise ValueError(f"cannot make {n_folds} folds over {len(groups)} groups")
    # sklearn's KFold: the first len % n folds get one extra group.
    sizes = [len(groups) // n_folds + (1 if i < len(groups) % n_folds else 0) for i in range(n_folds)]
    plans, start = [], 0
    for index, size in enumerate(sizes, start=1):
        test = groups[start : start + size]
        rest = groups[:start] + groups[start + size :]
        n_dev = math.ceil(len(rest) / 5)
        plans.append(FoldPlan(f"{prefix}{index}", reference_seed(index), rest[:-n_dev], rest[-n_dev:], test))
        start += size
    return plans


def fixed_split_plans(
    train: Sequence[str], dev: Sequence[str], test: Sequence[str], n_seeds: int, prefix: str = "seed"
) -> list[FoldPlan]:
    """The same official split trained ``n_seeds`` times, with the reference seeds."""
    return [
        FoldPlan(f"{prefix}{k}", reference_seed(k), tuple(train), tuple(dev), tuple(test))
        for k in range(1, n_seeds + 1)
    ]
