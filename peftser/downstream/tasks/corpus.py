"""What every corpus reader shares: layout check, label-file reading, audio screening, trainings.

A corpus subclass says where its files are (``required_paths``), turns its label files into
``(utterance, group)`` pairs (``read_labels``), and plans its trainings over the groups
(``fold_plans``). This base class does the rest the same way for all of them: it counts what the
protocol excludes and what has unusable audio (``skipped``, by reason), keeps the clips that are
flawed but can be scored (``flawed_audio``: all zeros, NaN, too short; the reference keeps them,
and training skips them), warns when the kept total differs from the release the paper used, and
builds speaker-independent trainings.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Iterator, Sequence

from tqdm import tqdm

from peftser.downstream.audio import AudioError, audio_problem
from peftser.downstream.task import Task, Training, Utterance
from peftser.downstream.tasks.folds import FoldPlan

if TYPE_CHECKING:
    from peftser.downstream.tasks.twin import Twin

EXCLUDED = "excluded: "  # prefix of skip reasons that are the protocol's choice
BAD_AUDIO = "bad audio: "  # prefix of skip reasons that are broken files
OUTSIDE = "bad path: outside the corpus folder"  # a label names audio beyond the corpus root


class Corpus(Task):
    """A corpus read from its release layout; subclasses describe the layout and label format."""

    layout: ClassVar[str] = ""  # the expected layout, for error messages
    expected_total: ClassVar[int | None] = None  # kept utterances in the release the paper used
    expected_counts: ClassVar[dict[str, int]] = {}  # the same, per class
    option_choices: ClassVar[dict[str, tuple[str, ...]]] = {}  # option -> allowed values, default first
    twin: ClassVar[Twin | None] = None  # its synthetic twin, registered as synthetic_<name> (tasks/twin.py)

    def __init__(self, root: str | Path, *, strict: bool = False, **options):
        super().__init__(root, strict=strict, **options)
        self._check_options()
        self.bad_audio: list[AudioError] = []  # every skipped file, with what is wrong with it
        self.flawed_audio: list[AudioError] = []  # kept files that dev and test score repaired, training skips
        self._groups: dict[str, str] = {}
        self._trainings: list[Training] | None = None

    # -- what a corpus subclass provides -------------------------------------------------------

    def required_paths(self) -> list[Path]:
        """Files and folders that must exist under the root."""
        raise NotImplementedError

    def read_labels(self) -> list[tuple[Utterance, str]]:
        """Every utterance the protocol keeps, with its fold group; exclusions go to ``exclude``."""
        raise NotImplementedError

    def fold_plans(self) -> list[FoldPlan]:
        """The trainings as groups of train, dev and test."""
        raise NotImplementedError

    # Where its utterances come in pooled_four (which sets the batches' shuffle): the order the
    # paper's four have always been pooled in, kept so that a pooled training reruns identically.
    pooled_order: ClassVar[int | None] = None

    @classmethod
    def pooled_split(cls) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """Its (dev, test) fold groups when pooled with the other corpora in one release split
        (``pooled_four``; the rest train), or None: it is not pooled. Only a class that states it
        itself is pooled, not its attribute task or its twin, which inherit it."""
        return None

    # -- shared machinery ----------------------------------------------------------------------

    def option(self, name: str) -> str:
        """An option's value, or its default."""
        return self.options.get(name, self.option_choices[name][0])

    def expected(self) -> tuple[int | None, dict[str, int]]:
        """The release's kept total and per-class counts under the current options."""
        return self.expected_total, self.expected_counts

    def target(self, where: str, code: str, label: str | None, ratings: dict[str, str]) -> dict | None:
        """The target fields of an utterance whose label file gives category ``code`` (``label``: its
        class, None outside the task's) and ``ratings`` (dimension -> text as written; a corpus
        without ratings gives none); None when the protocol leaves it out (counted). ``where`` is
        its file and line, for errors. A categorical task keeps it by its class; an attribute task
        (``tasks.attributes``) by its ratings."""
        if label is None:
            self.exclude(f"label {code!r}")
            return None
        return {"label": label}

    def exclude(self, reason: str) -> None:
        """Count one utterance the protocol leaves out (e.g. a class outside the four)."""
        self.skipped[EXCLUDED + reason] = self.skipped.get(EXCLUDED + reason, 0) + 1

    def load(self) -> list[Utterance]:
        self.skipped.clear()
        self.bad_audio.clear()
        self.flawed_audio.clear()
        self._trainings = None
        self._check_layout()
        pairs = self._inside_root(self.read_labels())
        keys = Counter(utt.key for utt, _ in pairs)
        repeated = sorted(k for k, n in keys.items() if n > 1)
        if repeated:
            raise ValueError(f"{self.name}: utterance key(s) listed more than once under {self.root}: {repeated[:5]}")
        self._groups = {utt.key: group for utt, group in pairs}
        kept = sorted(self._screen_audio([utt for utt, _ in pairs]), key=lambda u: u.key)
        self._warn_unexpected_total(len(kept))
        return kept

    def group_of(self, utterance: Utterance) -> str:
        """The fold group (session, actor or official split) of a loaded utterance."""
        return self._groups[utterance.key]

    def trainings(self) -> list[Training]:
        """The corpus' trainings, built once from the fold plans over the kept utterances."""
        if self._trainings is None:
            self._trainings = [self._training(plan) for plan in self.fold_plans()]
        return self._trainings

    def _check_options(self) -> None:
        self.check_options(self.options)

    @classmethod
    def check_options(cls, options: dict) -> None:
        """A ValueError for an option this task does not have, or a value it does not allow."""
        for name, value in options.items():
            if name not in cls.option_choices:
                known = ", ".join(cls.option_choices) or "none"
                raise ValueError(f"task {cls.name!r} has no option {name!r} (its options: {known})")
            if value not in cls.option_choices[name]:
                allowed = ", ".join(cls.option_choices[name])
                raise ValueError(f"task {cls.name!r}: option {name}={value!r} must be one of {allowed}")

    def _check_layout(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.name}: corpus folder {self.root} does not exist; expected {self.layout}")
        for path in self.required_paths():
            if not path.exists():
                raise FileNotFoundError(
                    f"{self.name}: {path} is missing under corpus folder {self.root}; expected {self.layout}"
                )

    def _inside_root(self, pairs: list[tuple[Utterance, str]]) -> list[tuple[Utterance, str]]:
        """Drop (and count) utterances whose audio path leads outside the corpus folder, before any is read.

        The test is on the path as written (``..`` and absolute paths), not on where symbolic
        links lead: a corpus assembled from links by its owner stays usable.
        """
        root = os.path.abspath(self.root)
        kept, outside = [], []
        for utt, group in pairs:
            path = os.path.abspath(utt.path)  # normalises ".." without touching the disk
            if os.path.commonpath([root, path]) == root:
                kept.append((utt, group))
            elif self.strict:
                raise ValueError(f"{self.name}: utterance {utt.key} names audio {utt.path}, outside the corpus folder {self.root}")
            else:
                outside.append(utt)
        if outside:
            self.skipped[OUTSIDE] = len(outside)
            warnings.warn(
                f"{self.name}: skipped {len(outside)} utterance(s) whose audio path leads outside the corpus folder "
                f"{self.root}, e.g. {outside[0].key} -> {outside[0].path}; strict mode (--strict) makes this an error",
                stacklevel=3,
            )
        return kept

    def _screen_audio(self, utterances: list[Utterance]) -> list[Utterance]:
        # The first look at a file decodes it into the audio cache; later runs only stat it.
        kept = []
        progress = tqdm(utterances, desc=f"{self.name}: checking audio", unit="file", disable=None, leave=False)
        for utt in progress:
            problem = audio_problem(utt.path, segment=utt.segment)
            if problem is None:
                kept.append(utt)
            elif self.strict:
                raise problem
            elif problem.repairable:
                kept.append(utt)
                self.flawed_audio.append(problem)
            else:
                self.bad_audio.append(problem)
                self.skipped[BAD_AUDIO + problem.kind] = self.skipped.get(BAD_AUDIO + problem.kind, 0) + 1
        if self.bad_audio:
            kinds = ", ".join(f"{n} {kind}" for kind, n in Counter(e.kind for e in self.bad_audio).items())
            warnings.warn(
                f"{self.name}: skipped {len(self.bad_audio)} utterance(s) with unusable audio ({kinds}), "
                f"e.g. {self.bad_audio[0]}; strict mode (--strict) makes this an error",
                stacklevel=2,
            )
        if self.flawed_audio:
            kinds = ", ".join(f"{n} {kind}" for kind, n in Counter(e.kind for e in self.flawed_audio).items())
            warnings.warn(
                f"{self.name}: kept {len(self.flawed_audio)} utterance(s) with flawed audio ({kinds}), "
                f"e.g. {self.flawed_audio[0]}: dev and test score them (made finite, padded to 25 ms), "
                "training skips them; strict mode (--strict) makes this an error",
                stacklevel=2,
            )
        return kept

    def _warn_unexpected_total(self, total: int) -> None:
        expected, _ = self.expected()
        if expected is not None and total != expected:
            warnings.warn(
                f"{self.name}: kept {total} utterances under {self.root}, expected {expected}; "
                f"check the corpus release (skipped: {self.skipped or 'none'})",
                stacklevel=2,
            )

    def _training(self, plan: FoldPlan) -> Training:
        roles = {"train": set(plan.train), "dev": set(plan.dev), "test": set(plan.test)}
        splits: dict[str, list[Utterance]] = {role: [] for role in roles}
        for utt in self.utterances:
            group = self.group_of(utt)
            role = next((r for r, groups in roles.items() if group in groups), None)
            if role is None:
                raise ValueError(f"{self.name} {plan.name}: utterance {utt.key} (group {group}) is in no split")
            splits[role].append(utt)
        for role, members in splits.items():
            if not members:
                raise ValueError(
                    f"{self.name} {plan.name}: the {role} split is empty "
                    f"(no kept utterances from {', '.join(sorted(roles[role]))} under {self.root})"
                )
        self._warn_shared_speakers(plan.name, splits)
        return Training(plan.name, tuple(splits["train"]), tuple(splits["dev"]), tuple(splits["test"]), plan.seed)

    def _warn_shared_speakers(self, name: str, splits: dict[str, list[Utterance]]) -> None:
        # Folds over speaker groups cannot overlap; an official split (MSP-Podcast) could.
        train = {u.speaker for u in splits["train"]}
        for role in ("dev", "test"):
            shared = train & {u.speaker for u in splits[role]}
            if shared:
                warnings.warn(
                    f"{self.name} {name}: {len(shared)} {role} speaker(s) also in train, e.g. {sorted(shared)[:3]}",
                    stacklevel=4,
                )


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without newline) of a text label file."""
    # Rater comments may hold stray bytes; the fields parsed are ASCII, so do not fail on them.
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip("\r\n")


def read_csv_rows(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV label file whose header must hold the ``required`` columns."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; the header has {header}")
        for row in reader:
            if any(row.get(c) is None for c in required):
                raise ValueError(f"{path}:{reader.line_num}: row has fewer fields than the header")
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def parse_error(path: Path, number: int, line: str, expected: str) -> ValueError:
    """The error for a label line that does not parse: file, line number, line, expected shape."""
    return ValueError(f"{path}:{number}: cannot parse label line {line!r}; expected {expected}")


def visible_files(folder: Path, pattern: str) -> list[Path]:
    """``folder.glob(pattern)`` sorted, without hidden files (macOS '._*' copies are not data)."""
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith("."))
