"""Emotional attributes (arousal, valence, dominance) as regression tasks, read from each corpus' own ratings.

An attribute task is its categorical sibling's reader and trainings with another target: the
corpus' mean ratings of one to three named dimensions, on the corpus' own scale (IEMOCAP and
MSP-Improv 1-5, MSP-Podcast 1-7). Every rated utterance is kept, whatever its category; one
without a rating of a chosen dimension is counted and skipped. A rating outside the scale, or one
that is not a number (NaN included), stops the reading with its file and line. Training sees the
ratings scaled to [0, 1] (``to_unit``); predictions are reported back on the corpus' scale
(``from_unit``); see docs/protocol.md, section 4b.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from importlib import import_module
from typing import ClassVar, Sequence

DIMENSIONS: tuple[str, ...] = ("arousal", "valence", "dominance")
NO_RATING = "no rating"  # skip reason (with the dimension) of an utterance whose file gives none


@lru_cache(maxsize=None)
def is_attribute_task(name: str) -> bool:
    """Whether a registered task has continuous targets (an unknown name is not one)."""
    import_module("peftser.downstream.tasks")  # the built-in tasks only: no encoder, so no torch
    from peftser.registry import TASKS

    return name in TASKS and getattr(TASKS.get(name), "kind", "categorical") == "attributes"


def chosen_dimensions(cls: type, options: dict) -> tuple[str, ...]:
    """The dimensions the ``dims`` task argument names (comma-separated, in the corpus' order), or all
    of the task's; a ValueError naming the task for a dimension it does not have."""
    value = options.get("dims")
    if value is None or value == "":
        return tuple(cls.dimensions)
    names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value)]
    unknown = [n for n in names if n not in cls.dimensions]
    if unknown or not names or len(set(names)) != len(names):
        what = f"has no dimension {unknown[0]!r}" if unknown else f"dims={value!r} must name each dimension once"
        raise ValueError(f"task {cls.name!r} {what}; its dimensions: {', '.join(cls.dimensions)}")
    return tuple(d for d in cls.dimensions if d in names)


def parse_rating(text: str, scale: tuple[float, float], where: str, dim: str, what: str = "the scale") -> float:
    """One rating as a number within ``scale``, or a ValueError naming ``where``, the dimension and the value."""
    low, high = scale
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {dim} rating {text!r} is not a number ({what} is {low:g}-{high:g})") from None
    if math.isnan(value) or not low <= value <= high:
        raise ValueError(f"{where}: {dim} rating {text!r} is outside {what} {low:g}-{high:g}")
    return value


class Attributes:
    """Mixin turning a corpus reader (a ``Corpus`` subclass) into its attribute task.

    Put it before the reader: ``class IemocapDims(Attributes, Iemocap)``. The task's ``classes``
    are its dimensions' names (the head's outputs, one per dimension) and ``kind`` is "attributes".
    """

    kind: ClassVar[str] = "attributes"
    dimensions: ClassVar[tuple[str, ...]] = DIMENSIONS  # the corpus' rated dimensions
    scale: ClassVar[tuple[float, float]] = (1.0, 5.0)  # the corpus' rating scale, both ends included
    expected_total = None  # the paper reports no attribute counts
    expected_counts: ClassVar[dict[str, int]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        info = getattr(cls, "info", None)
        if info is not None and info.paper_order:
            # The corpus' facts are its reader's, but as an attribute task it is not one of the
            # paper's four categorical columns (the leaderboard would order and average it there).
            cls.info = replace(info, paper_order=None)

    @classmethod
    def classes_for(cls, options: dict) -> tuple[str, ...]:
        return chosen_dimensions(cls, options)

    @classmethod
    def check_options(cls, options: dict) -> None:
        chosen_dimensions(cls, options)
        super().check_options({k: v for k, v in options.items() if k != "dims"})

    def target(self, where: str, code: str, label: str | None, ratings: dict[str, str]) -> dict | None:
        """Kept by its ratings of the chosen dimensions, whatever its category (``label`` becomes
        its class when it has one of the four, else "")."""
        values = []
        for dim in self.classes:
            text = (ratings.get(dim) or "").strip()
            if not text:
                self.skipped[f"{NO_RATING}: {dim}"] = self.skipped.get(f"{NO_RATING}: {dim}", 0) + 1
                return None
            values.append(self.rating(where, dim, text))
        return {"label": label or "", "ratings": tuple(values)}

    def rating(self, where: str, dim: str, text: str) -> float:
        """One rating as a number on the corpus' scale, or a ValueError naming file, line and value."""
        return parse_rating(text, self.scale, where, dim, f"the {self.name} scale")


class RatedRows(Attributes):
    """Mixin for a corpus of rows (``rows.RowCorpus``) whose rows carry every dimension's rating:
    the utterances keep the chosen dimensions', in the task's order (a manifest's numeric columns)."""

    def read_labels(self):
        index = [self.dimensions.index(d) for d in self.classes]
        return [(replace(u, ratings=tuple(u.ratings[i] for i in index)), group) for u, group in super().read_labels()]


def to_unit(ratings: Sequence[float], scale: tuple[float, float]) -> tuple[float, ...]:
    """Ratings on a corpus' scale mapped to [0, 1], the range every attribute head trains on."""
    low, high = scale
    return tuple((r - low) / (high - low) for r in ratings)


def from_unit(values: Sequence[float], scale: tuple[float, float]) -> tuple[float, ...]:
    """Head outputs in [0, 1] units back on the corpus' scale (not clipped: a CCC needs the raw value)."""
    low, high = scale
    return tuple(low + v * (high - low) for v in values)
