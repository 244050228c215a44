"""The four corpora pooled, with the splits of the PEFT-SER authors' released models.

IEMOCAP, MSP-Improv, MSP-Podcast and CREMA-D are read by their own readers (labels, genders and
exclusions exactly as in the per-corpus tasks) and merged into one training, ``release``:

- dev: IEMOCAP Session 4, MSP-Improv session 4, MSP-Podcast Validation, CREMA-D actors 1059-1073;
- test: IEMOCAP Session 5, MSP-Improv session 5, MSP-Podcast Test1, CREMA-D actors 1074-1091;
- train: everything else (MSP-Podcast Test2 stays excluded, as in the per-corpus task).

Which session, split or actor an utterance belongs to is what its corpus reader parsed from the
corpus' own label files (``group_of``), never a guess from the file name. The task tells each
utterance's source corpus (``source_of``), so a training's record also carries each corpus' test
metrics. The CREMA-D ranges are the reference's fold5 over actors 1001-1091 (the last 18 actors
for test, the 15 before them for dev); ``synthetic_pooled_four`` pools the four synthetic corpora
with the same sessions and splits and that fold rule over its own actors.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from peftser.downstream.audio import default_cache_dir
from peftser.downstream.task import Task, Training, Utterance
from peftser.downstream.tasks.crema_d import CremaD
from peftser.downstream.tasks.folds import kfold_plans, reference_seed
from peftser.downstream.tasks.iemocap import Iemocap
from peftser.downstream.tasks.msp_improv import MspImprov
from peftser.downstream.tasks.msp_podcast import MspPodcast
from peftser.downstream.tasks.synthetic import SyntheticCremaD, SyntheticIemocap, SyntheticMspImprov, SyntheticMspPodcast
from peftser.registry import TASKS

TRAINING = "release"


@dataclass(frozen=True)
class Source:
    """One pooled corpus: its reader and which of its groups are dev and test (the rest train)."""

    name: str  # the per-corpus task's name (what source_of returns)
    reader: type
    dev: tuple[str, ...]
    test: tuple[str, ...]


def _actors(first: int, last: int) -> tuple[str, ...]:
    return tuple(str(a) for a in range(first, last + 1))


def _crema_release_fold(reader: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(dev, test) actors of the reference's last CREMA-D fold over ``reader``'s actors."""
    last = kfold_plans(reader.actors, reader.n_folds)[-1]
    return last.dev, last.test


SOURCES = (
    Source("iemocap", Iemocap, ("Session4",), ("Session5",)),
    Source("msp_improv", MspImprov, ("session4",), ("session5",)),
    Source("msp_podcast", MspPodcast, ("Validation",), ("Test1",)),
    Source("crema_d", CremaD, _actors(1059, 1073), _actors(1074, 1091)),
)


def _describe(groups: tuple[str, ...]) -> str:
    return f"{groups[0]}-{groups[-1]}" if len(groups) > 2 and all(g.isdigit() for g in groups) else ", ".join(groups)


@TASKS.register("pooled_four")
class PooledFour(Task):
    """IEMOCAP + MSP-Improv + MSP-Podcast + CREMA-D pooled; one training, the authors' release split."""

    name = "pooled_four"
    training_names = (TRAINING,)
    default_dir = ""  # --data-root itself holds the four corpus folders
    sources: ClassVar[tuple[Source, ...]] = SOURCES
    layout: ClassVar[str] = (
        "the four corpora, each in its own folder and layout: IEMOCAP_full_release/, MSP-IMPROV/, "
        "MSP-PODCAST/ and CREMA-D/ (see the per-corpus tasks)"
    )
    option_choices: ClassVar[dict[str, tuple[str, ...]]] = {"label_source": CremaD.option_choices["label_source"]}

    def __init__(self, root: str | Path, *, strict: bool = False, **options):
        super().__init__(root, strict=strict, **options)
        self.check_options(options)
        self.readers = {s.name: self._reader(s, options) for s in self.sources}
        self._check_folders()
        self.bad_audio: list = []
        self._source: dict[str, str] = {}
        self._trainings: list[Training] | None = None

    @classmethod
    def check_options(cls, options: dict) -> None:
        """A ValueError for an option this task does not have (label_source goes to CREMA-D's reader)."""
        for name, value in options.items():
            if name not in cls.option_choices:
                raise ValueError(f"task {cls.name!r} has no option {name!r} (its options: {', '.join(cls.option_choices)})")
            if value not in cls.option_choices[name]:
                raise ValueError(f"task {cls.name!r}: option {name}={value!r} must be one of {', '.join(cls.option_choices[name])}")

    def folder(self, source: Source) -> Path:
        """Where ``source``'s corpus is read from."""
        return self.root / (source.reader.default_dir or source.reader.name)

    def _reader(self, source: Source, options: dict):
        crema_options = options if source.reader.option_choices else {}
        return source.reader(self.folder(source), strict=self.strict, **crema_options)

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


_SYNTHETIC = {"iemocap": SyntheticIemocap, "msp_improv": SyntheticMspImprov, "msp_podcast": SyntheticMspPodcast,
              "crema_d": SyntheticCremaD}


@TASKS.register("synthetic_pooled_four")
class SyntheticPooledFour(PooledFour):
    """The four synthetic corpora pooled with the release split's sessions and splits (CREMA-D:
    the same fold rule over the synthetic actors), generated on first use like each of them."""

    name = "synthetic_pooled_four"
    generated: ClassVar[bool] = True
    # Named by their own tasks (synthetic_iemocap, ...), so per-corpus results never pass for the real corpora's.
    sources = tuple(
        Source(_SYNTHETIC[s.name].name, _SYNTHETIC[s.name],
               *(_crema_release_fold(_SYNTHETIC[s.name]) if s.name == "crema_d" else (s.dev, s.test)))
        for s in SOURCES
    )
    layout: ClassVar[str] = "the four synthetic corpora, each in a folder named after its task"

    def __init__(self, root: str | Path | None = None, *, strict: bool = False, **options):
        # The synthetic corpora's own default folders: <cache>/synthetic/<task>.
        super().__init__(default_cache_dir() / "synthetic" if root is None else root, strict=strict, **options)

    def _check_folders(self) -> None:
        pass  # generated on first use
