"""The paper's corpora pooled, with the splits of the PEFT-SER authors' released models.

Each corpus module that may be pooled says which of its fold groups are dev and test in the
release split (``Corpus.pooled_split``); this task reads each such corpus with its own reader
(labels, genders and exclusions exactly as in its own task) and merges them, in their
``pooled_order`` (IEMOCAP, MSP-Improv, MSP-Podcast, CREMA-D), into one training, ``release``: dev and test the groups each corpus names, train everything else
its reader keeps.

Which session, split or actor an utterance belongs to is what its corpus reader parsed from the
corpus' own label files (``group_of``), never a guess from the file name. The task tells each
utterance's source corpus (``source_of``), so a training's record also carries each corpus' test
metrics. ``synthetic_pooled_four`` pools the corpora's synthetic twins the same way: each twin
inherits its corpus' split rule, over its own groups.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

from peftser.downstream.audio import default_cache_dir
from peftser.downstream.task import Task, Training, Utterance
from peftser.downstream.tasks.folds import reference_seed
from peftser.downstream.tasks.synthetic import twin_of
from peftser.registry import TASKS

TRAINING = "release"


@dataclass(frozen=True)
class Source:
    """One pooled corpus: its reader and which of its groups are dev and test (the rest train)."""

    name: str  # the per-corpus task's name (what source_of returns)
    reader: type
    dev: tuple[str, ...]
    test: tuple[str, ...]

    @classmethod
    def of(cls, reader: type) -> Source:
        """The registered corpus class ``reader`` as its ``pooled_split`` places it."""
        return cls(reader.name, reader, *reader.pooled_split())


_DECLARED: dict[str, type] = {}  # task name -> a registered class that states its own pooled split


def _note_declared(name: str, entry) -> None:
    if isinstance(entry, type) and "pooled_split" in vars(entry):
        _DECLARED[name] = entry


TASKS.watch(_note_declared)


def pooled_corpora() -> tuple[type, ...]:
    """The registered corpora that state a pooled split, in their ``pooled_order`` (then by name)."""
    current = [cls for name, cls in _DECLARED.items() if name in TASKS and TASKS.get(name) is cls]
    # a class's own order only: a subclass that states a split of its own is another corpus
    return tuple(sorted(current, key=lambda cls: (vars(cls).get("pooled_order") or math.inf, cls.name)))


class _ReadWhenAsked:
    """A class attribute computed from the registry each time it is read: a corpus registered
    after this module is imported is pooled too."""

    def __init__(self, compute: Callable[[type], object]):
        self.compute = compute

    def __get__(self, instance, owner: type):
        return self.compute(owner)


def _poolable_options(reader: type) -> dict[str, tuple[str, ...]]:
    """The reader's options that keep its label set (a pooled task has one)."""
    return {name: values for name, values in getattr(reader, "option_choices", {}).items()
            if all(reader.classes_for({name: v}) == reader.classes_for({}) for v in values)}


def _and(items: list[str]) -> str:
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else "".join(items)


def _describe(groups: tuple[str, ...]) -> str:
    return f"{groups[0]}-{groups[-1]}" if len(groups) > 2 and all(g.isdigit() for g in groups) else ", ".join(groups)


@TASKS.register("pooled_four")
class PooledFour(Task):
    """The paper's corpora pooled; one training, the authors' release split."""

    name = "pooled_four"
    training_names = (TRAINING,)
    default_dir = ""  # --data-root itself holds the corpus folders
    sources: ClassVar[tuple[Source, ...]] = _ReadWhenAsked(lambda cls: cls.pooled_sources())
    layout: ClassVar[str] = _ReadWhenAsked(lambda cls: (
        f"the pooled corpora, each in its own folder and layout: {_and([f'{cls.folder_name(s)}/' for s in cls.sources])} "
        "(see the per-corpus tasks)"))
    # The pooled readers' options that keep their label set; each goes to the readers that have it.
    option_choices: ClassVar[dict[str, tuple[str, ...]]] = _ReadWhenAsked(
        lambda cls: {k: v for s in cls.sources for k, v in _poolable_options(s.reader).items()})

    def __init__(self, root: str | Path, *, strict: bool = False, **options):
        super().__init__(root, strict=strict, **options)
        self.sources = type(self).sources  # fixed for this instance's life
        self.check_options(options)
        self.readers = {s.name: self._reader(s, options) for s in self.sources}
        self._check_folders()
        self.bad_audio: list = []
        self._source: dict[str, str] = {}
        self._trainings: list[Training] | None = None

    @classmethod
    def check_options(cls, options: dict) -> None:
        """A ValueError for an option this task does not have (each goes to the readers that have it)."""
        for name, value in options.items():
            if name not in cls.option_choices:
                raise ValueError(f"task {cls.name!r} has no option {name!r} (its options: {', '.join(cls.option_choices)})")
            if value not in cls.option_choices[name]:
                raise ValueError(f"task {cls.name!r}: option {name}={value!r} must be one of {', '.join(cls.option_choices[name])}")

    @classmethod
    def pooled_sources(cls) -> tuple[Source, ...]:
        """The registered corpora that state a pooled split, in their ``pooled_order``."""
        return tuple(Source.of(reader) for reader in pooled_corpora())

    @staticmethod
    def folder_name(source: Source) -> str:
        """The folder of ``source``'s corpus under the root."""
        return source.reader.default_dir or source.reader.name

    def folder(self, source: Source) -> Path:
        """Where ``source``'s corpus is read from."""
        return self.root / self.folder_name(source)

    def _reader(self, source: Source, options: dict):
        mine = {name: value for name, value in options.items() if name in getattr(source.reader, "option_choices", {})}
        return source.reader(self.folder(source), strict=self.strict, **mine)

    def _check_folders(self) -> None:
        missing = [f"{self.folder(s)} ({s.name})" for s in self.sources if not self.folder(s).is_dir()]
        if missing:
            raise FileNotFoundError(
                f"task {self.name!r}: {len(missing)} of the {len(self.sources)} corpus folders not found under "
                f"{self.root}: {'; '.join(missing)}; expected {self.layout}"
            )

    def expected(self) -> tuple[int | None, dict[str, int]]:
        """The sum of the four releases' kept totals and class counts (None if one is unknown)."""
        totals = [reader.expected() for reader in self.readers.values()]
        if any(total is None for total, _ in totals):
            return None, {}
        counts: dict[str, int] = {}
        for _, per_class in totals:
            for label, n in per_class.items():
                counts[label] = counts.get(label, 0) + n
        return sum(total for total, _ in totals), counts

    def load(self) -> list[Utterance]:
        self.skipped.clear()
        self.bad_audio.clear()
        self._source.clear()
        self._trainings = None
        kept = []
        for source in self.sources:
            reader = self.readers[source.name]
            for utt in reader.utterances:
                if utt.key in self._source:
                    raise ValueError(f"{self.name}: utterance key {utt.key} is in both {self._source[utt.key]} and {source.name}")
                self._source[utt.key] = source.name
                kept.append(utt)
            for reason, n in reader.skipped.items():
                self.skipped[f"{reason} ({source.name})"] = n
            self.bad_audio += reader.bad_audio
        return kept

    def source_of(self, utterance: Utterance) -> str:
        """The corpus (its task name) a loaded utterance comes from."""
        if not self._source:
            self.utterances  # noqa: B018 (loads the corpora)
        return self._source[utterance.key]

    def role_of(self, utterance: Utterance) -> str:
        """train, dev or test in the release split, from the group its corpus reader gave it."""
        source = next(s for s in self.sources if s.name == self.source_of(utterance))
        group = self.readers[source.name].group_of(utterance)
        return "test" if group in source.test else "dev" if group in source.dev else "train"

    def trainings(self) -> list[Training]:
        if self._trainings is None:
            splits: dict[str, list[Utterance]] = {"train": [], "dev": [], "test": []}
            for utt in self.utterances:
                splits[self.role_of(utt)].append(utt)
            for source in self.sources:
                mine = {role: sum(self.source_of(u) == source.name for u in members) for role, members in splits.items()}
                for role in ("dev", "test"):
                    if not mine[role]:
                        groups = getattr(source, role)
                        warnings.warn(f"{self.name}: no kept {source.name} utterances from {_describe(groups)} for {role} "
                                      f"under {self.folder(source)}", stacklevel=2)
            for role, members in splits.items():
                if not members:
                    raise ValueError(f"{self.name} {TRAINING}: the {role} split is empty under {self.root}")
            self._trainings = [Training(TRAINING, *(tuple(splits[r]) for r in ("train", "dev", "test")), reference_seed(1))]
        return self._trainings


@TASKS.register("synthetic_pooled_four")
class SyntheticPooledFour(PooledFour):
    """The pooled corpora's synthetic twins pooled by the same split rules (a fold rule over the
    twin's own groups), generated on first use like each of them."""

    name = "synthetic_pooled_four"
    generated: ClassVar[bool] = True
    layout: ClassVar[str] = "the synthetic corpora, each in a folder named after its task"

    @classmethod
    def pooled_sources(cls) -> tuple[Source, ...]:
        """The twins of the pooled corpora that have one, named by their own tasks (synthetic_<name>),
        so that per-corpus results never pass for the real corpora's."""
        return tuple(Source.of(twin) for source in PooledFour.pooled_sources() if (twin := twin_of(source.reader)))

    def __init__(self, root: str | Path | None = None, *, strict: bool = False, **options):
        # The synthetic corpora's own default folders: <cache>/synthetic/<task>.
        super().__init__(default_cache_dir() / "synthetic" if root is None else root, strict=strict, **options)

    def _check_folders(self) -> None:
        pass  # generated on first use
