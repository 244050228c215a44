"""A corpus given as rows, not as a release layout: what the manifest and EmoBox routes share.

Both routes read their metadata when the task is registered (a small text file, no audio), so
that every check that needs no audio runs before any work starts: duplicate keys, labels, a
speaker on both sides of a training, folds that overlap or leave utterances out. A training is
then a plan over keys (``KeyPlan``), not over speaker groups: EmoBox's published folds list
their utterances one by one. Audio is screened when the task is loaded, as for every corpus.
"""

from __future__ import annotations

import csv
import json
import math
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from peftser.downstream.task import GENDERS, UNKNOWN_GENDER, Training, Utterance
from peftser.downstream.tasks.corpus import Corpus
from peftser.downstream.tasks.folds import FoldPlan

_GENDER_WORDS = {"f": "female", "female": "female", "w": "female", "woman": "female",
                 "m": "male", "male": "male", "man": "male", "": UNKNOWN_GENDER, UNKNOWN_GENDER: UNKNOWN_GENDER}


@dataclass(frozen=True)
class Row:
    """One utterance as its metadata file lists it; ``where`` is ``file:line`` for messages."""

    key: str
    path: str  # relative to the task's audio root
    label: str  # a class name (after the label map)
    speaker: str
    gender: str
    segment: tuple[float, float] | None
    where: str
    ratings: tuple[float, ...] = ()  # an attribute task's values, in its dimensions' order


@dataclass(frozen=True)
class KeyPlan:
    """One training as the keys of its train, dev and test sides."""

    name: str
    seed: int
    train: frozenset[str]
    dev: frozenset[str]
    test: frozenset[str]


class RowError(ValueError):
    """Metadata that cannot be used; the message is one line naming the file (and line) and what is wrong."""


def gender_of(value: object, where: str) -> str:
    """``female``, ``male`` or ``unknown`` from the usual spellings; anything else is an error."""
    word = str(value if value is not None else "").strip().lower()
    if word not in _GENDER_WORDS:
        raise RowError(f"{where}: gender {value!r} is not one of {', '.join((*GENDERS, UNKNOWN_GENDER))} (or f/m, empty)")
    return _GENDER_WORDS[word]


def segment_of(start: object, end: object, where: str) -> tuple[float, float] | None:
    """(start, end) seconds of a segment, None when neither is given."""
    if start in (None, "") and end in (None, ""):
        return None
    try:
        span = float(start), float(end)
    except (TypeError, ValueError):
        raise RowError(f"{where}: start/end {start!r}/{end!r} are not both numbers of seconds") from None
    if not (math.isfinite(span[0]) and math.isfinite(span[1]) and 0 <= span[0] < span[1]):
        raise RowError(f"{where}: segment {span[0]}-{span[1]} s is not a span (0 <= start < end)")
    return span


def check_unique(rows: list[Row]) -> None:
    """Each key once: a key is how records, folds and the cache tell utterances apart."""
    first: dict[str, str] = {}
    for row in rows:
        if row.key in first:
            raise RowError(f"{row.where}: key {row.key!r} is listed again (first at {first[row.key]})")
        first[row.key] = row.where


def plans_from_groups(rows: list[Row], group_of: dict[str, str], plans: list[FoldPlan]) -> list[KeyPlan]:
    """Key plans from group plans (folds over speakers, folds or official splits)."""
    out = []
    for plan in plans:
        sides = {side: frozenset(r.key for r in rows if group_of[r.key] in set(getattr(plan, side)))
                 for side in ("train", "dev", "test")}
        out.append(KeyPlan(plan.name, plan.seed, sides["train"], sides["dev"], sides["test"]))
    return out


def check_plans(source: str, rows: list[Row], plans: list[KeyPlan], *, speakers_known: bool = True,
                cross_validated: bool = True) -> None:
    """Refuse trainings that leak or lose utterances, before anything is trained.

    Within one training no key is on two sides, and no speaker on the training (train or dev) and
    the test side; across a cross-validation every utterance is tested exactly once (folds that
    overlap or leave utterances out).
    """
    speaker = {r.key: r.speaker for r in rows}
    known = set(speaker)
    for plan in plans:
        for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
            both = getattr(plan, a) & getattr(plan, b)
            if both:
                raise RowError(f"{source}: {plan.name} lists {len(both)} utterance(s) in both {a} and {b}, e.g. {sorted(both)[0]!r}")
        unknown = (plan.train | plan.dev | plan.test) - known
        if unknown:
            raise RowError(f"{source}: {plan.name} names {len(unknown)} utterance(s) that no row lists, e.g. {sorted(unknown)[0]!r}")
        for side in ("train", "dev", "test"):
            if not getattr(plan, side):
                raise RowError(f"{source}: {plan.name} has no {side} utterances")
        if speakers_known:
            leaked = {speaker[k] for k in plan.train | plan.dev} & {speaker[k] for k in plan.test}
            if leaked:
                name = sorted(leaked)[0]
                raise RowError(f"{source}: speaker {name!r} is on both the training and test side of {plan.name} "
                               f"({len(leaked)} speaker(s) in all): its test set is not speaker-independent")
    if cross_validated and len(plans) > 1:
        tested = Counter(k for plan in plans for k in plan.test)
        twice = sorted(k for k, n in tested.items() if n > 1)
        if twice:
            raise RowError(f"{source}: the folds overlap: {len(twice)} utterance(s) are tested in more than one fold, e.g. {twice[0]!r}")
        never = sorted(known - set(tested))
        if never:
            raise RowError(f"{source}: the folds leave {len(never)} utterance(s) out of every test set, e.g. {never[0]!r}")


def speaker_dev(train: list[str], speaker: dict[str, str]) -> frozenset[str]:
    """The dev set drawn from the training side's speakers: the last ceil(n/5) of them in order,
    the recipe of the paper's fold corpora (peftser.downstream.tasks.folds)."""
    speakers = sorted({speaker[k] for k in train}, key=natural_key)
    dev = set(speakers[-math.ceil(len(speakers) / 5):]) if len(speakers) > 1 else set()
    return frozenset(k for k in train if speaker[k] in dev)


def natural_key(text: str) -> tuple:
    """"spk2" before "spk10": digit runs compare as numbers (the order folds are formed in)."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


class RowCorpus(Corpus):
    """A corpus whose rows and trainings were read and checked when it was registered.

    Subclasses are made by the manifest and EmoBox routes (one class per registered file) with
    ``rows``, ``plans``, ``bad_rows`` (rows counted and skipped: label outside the classes, empty
    speaker), ``audio_root`` and ``source_deviations`` (what the record must say).
    """

    rows: ClassVar[tuple[Row, ...]] = ()
    plans: ClassVar[tuple[KeyPlan, ...]] = ()
    bad_rows: ClassVar[tuple[tuple[str, str], ...]] = ()  # (reason, where)
    audio_root: ClassVar[Path | None] = None
    source: ClassVar[str] = ""  # the file the task was registered from
    source_deviations: ClassVar[tuple[str, ...]] = ()

    @property
    def deviations(self) -> tuple[str, ...]:
        """What the record of a training on this corpus must say of how its trainings were formed."""
        return self.source_deviations

    def required_paths(self) -> list[Path]:
        return []

    def read_labels(self) -> list[tuple[Utterance, str]]:
        if self.bad_rows:
            reason, where = self.bad_rows[0]
            if self.strict:
                raise ValueError(f"{where}: {reason} (strict mode)")
            for reason, _ in self.bad_rows:
                self.skipped[reason] = self.skipped.get(reason, 0) + 1
            warnings.warn(f"{self.name}: skipped {len(self.bad_rows)} row(s) of {self.source}, e.g. {where}: {reason}; "
                          "strict mode (--strict) makes this an error", stacklevel=3)
        return [(Utterance(r.key, self.root / r.path, r.speaker, r.gender, r.label, r.segment, r.ratings), r.key)
                for r in self.rows]

    def fold_plans(self) -> list[FoldPlan]:
        return []  # trainings are key plans (``trainings``)

    def trainings(self) -> list[Training]:
        if self._trainings is None:
            by_key = {u.key: u for u in self.utterances}  # the kept ones: unusable audio is skipped
            self._trainings = []
            for plan in self.plans:
                sides = [tuple(by_key[k] for k in sorted(getattr(plan, side)) if k in by_key) for side in ("train", "dev", "test")]
                for side, members in zip(("train", "dev", "test"), sides):
                    if not members:
                        raise ValueError(f"{self.name} {plan.name}: the {side} split has no usable utterances under {self.root}")
                self._trainings.append(Training(plan.name, *sides, plan.seed))
        return self._trainings


def relative(path: Path, value: Any) -> Path:
    """A path from the YAML, relative to the YAML's folder unless absolute."""
    return (path.parent / Path(str(value)).expanduser()).resolve()


def read_manifest(path: Path, columns: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(``file:line``, row with the harness' column names) of a CSV or JSONL manifest."""
    rename = {v: k for k, v in columns.items()}
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise RowError(f"{path}:{number}: not a JSON object ({err.msg})") from None
                if not isinstance(row, dict):
                    raise RowError(f"{path}:{number}: not a JSON object")
                rows.append((f"{path}:{number}", {rename.get(k, k): v for k, v in row.items()}))
        return rows
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = []
            for row in reader:
                if None in row or any(v is None for v in row.values()):
                    raise RowError(f"{path}:{reader.line_num}: the row has {'more' if None in row else 'fewer'} fields than the header")
                rows.append((f"{path}:{reader.line_num}", {rename.get(k, k): (v or "").strip() for k, v in row.items()}))
            return rows
    except (UnicodeDecodeError, csv.Error) as err:
        raise RowError(f"{path}: cannot be parsed as CSV ({err})") from None
