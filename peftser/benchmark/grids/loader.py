"""Reading a grid's YAML safely: a document whose aliases expand beyond a bound is refused, and an
error message quotes at most a bounded part of what it read."""

from __future__ import annotations

import yaml

from peftser.benchmark.grids.error import GridError

# A grid is a few hundred values; YAML aliases can make a short file expand to billions (an
# "alias bomb"), which an error quoting the value would print.
MAX_YAML_VALUES = 100_000
# Characters of an error message; longer ones keep their start and end. Room for a registry's list
# of known names, which a misspelt name's message gives in full.
MAX_QUOTED = 2000


class GridLoader(yaml.SafeLoader):
    """safe_load's loader, refusing a document whose aliases expand beyond MAX_YAML_VALUES values."""

    def compose_document(self):
        node = super().compose_document()
        if _expanded_size(node, {}) > MAX_YAML_VALUES:
            raise GridError(f"its YAML aliases expand to more than {MAX_YAML_VALUES:,} values")
        return node


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values in ``node`` with every alias expanded, each shared node counted once per use (memoised)."""
    if id(node) not in sizes:
        sizes[id(node)] = 1  # a recursive alias counts once
        children = node.value if isinstance(node, yaml.SequenceNode) else (
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
        sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[id(node)]


def capped(message: str) -> str:
    """``message``, or its start and end when it is longer than MAX_QUOTED characters."""
    if len(message) <= MAX_QUOTED:
        return message
    head, tail = MAX_QUOTED // 2, MAX_QUOTED // 4
    return f"{message[:head]} ... ({len(message) - head - tail:,} characters left out) ... {message[-tail:]}"
