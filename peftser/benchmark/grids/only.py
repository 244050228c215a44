"""``--only KEY=VALUE``: narrowing a grid's cells by upstream, method, variant, task or training."""

from __future__ import annotations

from typing import Sequence

from peftser.benchmark.cell import Cell
from peftser.benchmark.grids.error import GridError

ONLY_KEYS = ("upstream", "method", "variant", "task", "training")


def _cell_value(cell: Cell, key: str) -> str:
    return (cell.variant or cell.method) if key == "variant" else getattr(cell, key)


def parse_only(only: Sequence[str]) -> dict[str, list[str]]:
    """``["task=iemocap", "task=crema_d", "method=lora"]`` -> {"task": [...], "method": [...]}."""
    filters: dict[str, list[str]] = {}
    for item in only:
        key, sep, value = str(item).partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise GridError(f"--only expects KEY=VALUE, got {item!r}")
        if key not in ONLY_KEYS:
            raise GridError(f"--only: unknown key {key!r}; use one of {', '.join(ONLY_KEYS)}")
        filters.setdefault(key, []).append(value)
    return filters


def filter_cells(cells: list[Cell], only: Sequence[str]) -> list[Cell]:
    """Keep cells matching every key (values of one key are alternatives); unknown values are errors."""
    filters = parse_only(only)
    for key, values in filters.items():
        known = sorted({_cell_value(c, key) for c in cells})
        unknown = [v for v in values if v not in known]
        if unknown:
            raise GridError(f"--only {key}={unknown[0]} matches no cell of the grid; its {key}s are {', '.join(known)}")
    kept = [c for c in cells if all(_cell_value(c, k) in vs for k, vs in filters.items())]
    if not kept:
        raise GridError(f"--only {' '.join(only)}: no cell matches all of these together")
    return kept
