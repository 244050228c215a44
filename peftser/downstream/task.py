"""The task contract: a corpus as a list of utterances plus the trainings (folds/seeds) over it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from peftser.registry import UnknownNameError

# The paper's four classes, in this order everywhere (label index = position).
EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry")
GENDERS: tuple[str, ...] = ("female", "male")
UNKNOWN_GENDER = "unknown"  # a corpus that does not say (scored, left out of the fairness metrics)


@dataclass(frozen=True)
class Utterance:
    key: str  # unique within the corpus
    path: Path  # audio file as the corpus ships it (any rate, any channel count)
    speaker: str
    gender: str  # one of GENDERS, or UNKNOWN_GENDER
    label: str  # one of its task's classes
    segment: tuple[float, float] | None = None  # (start, end) seconds of a longer file, or the whole file
    ratings: tuple[float, ...] = ()  # an attribute task's dimensions, in its order, on the corpus' own scale


@dataclass(frozen=True)
class CorpusInfo:
    """What the reports say about a task's corpus, kept beside its reader: the cards' dataset name,
    speakers and language, its licence and citation, and its place among the paper's corpora."""

    title: str  # the dataset's name, as cards and datasets lists give it
    speakers: str = ""  # who speaks, in a phrase
    language: str | None = None  # ISO 639-1; None for no words
    licence: str = ""  # how its release is licensed, as its publisher states it
    citation: str = ""
    paper_order: int | None = None  # its column in the paper's tables (1-4); None: not one of the paper's
    twin_of: str | None = None  # the registered corpus a synthetic twin imitates


@dataclass(frozen=True)
class Training:
    """One of a task's speaker-independent trainings, e.g. ``fold3`` or ``seed2``."""

    name: str
    train: tuple[Utterance, ...]
    dev: tuple[Utterance, ...]
    test: tuple[Utterance, ...]
    seed: int


class Task:
    """A corpus read from its original layout, with its trainings.

    One subclass per corpus, registered with ``@TASKS.register(name)`` in its own module under
    ``peftser/downstream/tasks/`` (see docs/adding-a-corpus.md). Class attributes say what the
    orchestrator and the reports need without reading any data: the training names, where the
    corpus lives under ``--data-root``, and its ``CorpusInfo``. ``skipped`` counts utterances dropped for bad audio or labels,
    by reason, so that nothing vanishes silently.
    """

    name: ClassVar[str] = ""
    classes: ClassVar[tuple[str, ...]] = EMOTIONS  # its ordered label set (label index = position); the head's outputs
    training_names: ClassVar[tuple[str, ...]] = ()
    default_dir: ClassVar[str] = ""  # folder under --data-root
    info: ClassVar[CorpusInfo | None] = None  # what cards and the leaderboard say about the corpus
    kind: ClassVar[str] = "categorical"  # or "attributes": continuous ratings (tasks.attributes.Attributes)

    def __init__(self, root: str | Path, *, strict: bool = False, **options):
        self.root = Path(root)
        self.strict = strict
        self.options = options
        self.classes = type(self).classes_for(options)  # this instance's label set (an option may choose another)
        self.skipped: dict[str, int] = {}

    @classmethod
    def classes_for(cls, options: dict) -> tuple[str, ...]:
        """The ordered classes the task has with these task arguments, without reading any data.

        A corpus whose readers know its native label set lets a task argument select it (CREMA-D's
        ``classes=native``); by default the paper's four.
        """
        return tuple(cls.classes)

    @cached_property
    def utterances(self) -> list[Utterance]:
        return self.load()

    def load(self) -> list[Utterance]:
        """Read the corpus' labels and metadata into utterances (kept ones only)."""
        raise NotImplementedError

    def trainings(self) -> list[Training]:
        raise NotImplementedError

    @classmethod
    def check_training(cls, name: str) -> None:
        """An error listing the task's trainings when ``name`` is not one (no data is read)."""
        if name not in cls.training_names:
            raise UnknownNameError(f"task {cls.name!r} has no training {name!r}; it has {', '.join(cls.training_names)}")

    def training(self, name: str) -> Training:
        self.check_training(name)
        return next(t for t in self.trainings() if t.name == name)
