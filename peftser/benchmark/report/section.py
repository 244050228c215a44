"""A leaderboard section: one object holding its markdown, its entries of leaderboard.json and its
plots, all read from the same view of the board. ``render``, ``leaderboard_json`` and the plots
iterate over the registered sections in order, so that the markdown and the JSON cannot drift
apart and a new section is one class registered in one file:

    class Mine(Section):
        name = "mine"
        def markdown(self, view): return ["## Mine", "", ...]
        def json(self, view): return {"mine": ...}

    SECTIONS.register(Mine(), after="cost")

``SECTIONS``, the built-in sections and those entry points are in ``sections``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from peftser.benchmark.report.board import Board
from peftser.benchmark.report.paired import DEFAULT_BASELINE, PairedStats, variants_of


@dataclass
class View:
    """What every section reads: the board, the comparisons with the baseline, the plots written
    beside the markdown, the grids' footnotes and the header's sentence on the expected cells."""

    board: Board
    paired: PairedStats | None = None
    baseline: str = DEFAULT_BASELINE
    plots: Collection[str] = field(default_factory=set)
    footnotes: Sequence[str] = ()
    expected_rule: str | None = None

    @property
    def main(self) -> bool:
        """Whether the board has a method's default configuration (else it has only ablations)."""
        return bool(self.board.main_variants())

    @cached_property
    def missing_paired(self) -> str | None:
        """Why the "vs baseline" sections have no comparison, or None."""
        if self.paired is not None:
            return None
        if self.baseline in variants_of(self.board):
            return f"No paired comparison: the baseline {self.baseline!r} is the only method here."
        return f"No paired comparison: the baseline {self.baseline!r} has no records here (--baseline NAME picks another)."


class Section:
    """One part of the leaderboard. ``json_rank`` orders the sections' entries in leaderboard.json
    (its keys kept in the order they had before sections existed); the markdown follows the
    registration order."""

    name: str = ""
    json_rank: float = 100.0

    def markdown(self, view: View) -> list[str]:
        """Its lines of leaderboard.md (none when it has nothing to say)."""
        return []

    def json(self, view: View) -> dict[str, Any]:
        """Its entries of leaderboard.json."""
        return {}

    def plots(self, view: View, directory: Path) -> list[str]:
        """Draw its plots into ``directory``; the file names written."""
        return []


class Sections:
    """The registered sections, in the leaderboard's order."""

    def __init__(self) -> None:
        self._sections: list[Section] = []

    def register(self, section: Section, *, after: str | None = None) -> Section:
        """Add ``section`` at the end, or just after the section named ``after``."""
        if not isinstance(section, Section):
            raise TypeError(f"a leaderboard section must be a Section instance, got {type(section).__name__}")
        if not section.name or section.name in self.names():
            raise ValueError(f"leaderboard section name {section.name!r} is empty or already registered")
        at = len(self._sections) if after is None else self.names().index(self._known(after)) + 1
        self._sections.insert(at, section)
        return section

    def unregister(self, name: str) -> Section:
        """Remove the section ``name`` and return it."""
        return self._sections.pop(self.names().index(self._known(name)))

    @contextlib.contextmanager
    def temporary(self, section: Section, *, after: str | None = None) -> Iterator[Section]:
        """``section`` registered for the ``with`` block."""
        self.register(section, after=after)
        try:
            yield section
        finally:
            self.unregister(section.name)

    def _known(self, name: str) -> str:
        if name not in self.names():
            raise KeyError(f"unknown leaderboard section {name!r}; known: {', '.join(self.names())}")
        return name

    def names(self) -> list[str]:
        return [s.name for s in self._sections]

    def __iter__(self) -> Iterator[Section]:
        return iter(list(self._sections))
