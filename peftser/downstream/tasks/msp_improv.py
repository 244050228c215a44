"""MSP-Improv: six sessions of one actress and one actor each, leave-one-session-out."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import ClassVar

from peftser.downstream.task import CorpusInfo, Utterance
from peftser.downstream.tasks.attributes import Attributes
from peftser.downstream.tasks.corpus import Corpus, parse_error, read_lines
from peftser.downstream.tasks.folds import FoldPlan, kfold_plans
from peftser.downstream.tasks.twin import Twin
from peftser.registry import TASKS

# Consensus codes; O (other) and X (no agreement) are excluded, as any other code.
LABELS = {"N": "neutral", "H": "happy", "S": "sad", "A": "angry"}
# "UTD-IMPROV-S01A-F01-P-FM01.avi": sentence S01A, speaker F01 (session 1), scenario P.
_NAME = re.compile(r"UTD-IMPROV-(?P<sentence>S\w+)-(?P<speaker>(?P<gender>[FM])(?P<number>\d+))-(?P<kind>[PRST])-\w+\.avi")
_LINE_SHAPE = "'UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:..; V:..; D:..; N:..;'"
# The release spells the consensus file "Evalution.txt"; accept the corrected name too.
LABEL_FILES = ("Evalution.txt", "Evaluation.txt")
RATED = {"A": "arousal", "V": "valence", "D": "dominance"}  # the consensus line's attribute fields


def write_twin(out, recordings) -> None:
    """The synthetic twin's Evalution.txt and Audio/session<k>/<sentence>/<P|R|S|T>/MSP-IMPROV-*.wav."""
    codes = {label: code for code, label in LABELS.items()}
    lines = []
    for rec in recordings:
        code = codes[rec.emotion]
        sentence, kind = f"S{rec.index % 15 + 1:02d}{code}", "PRST"[rec.index % 4]
        stem = f"IMPROV-{sentence}-{rec.speaker}-{kind}-{'FM' if rec.gender == 'female' else 'MF'}{rec.index:02d}"
        out.wav(f"Audio/session{int(rec.speaker[1:])}/{sentence}/{kind}/MSP-{stem}.wav", rec.wave)
        arousal, valence, dominance = rec.rated(1.0, 5.0)
        lines.append(f"UTD-{stem}.avi; {code}; A:{arousal}; V:{valence}; D:{dominance}; N:5;\n"
                     f"{rec.emotion.capitalize()}; A:3.000000; V:3.000000; D:3.000000;\n\n")
    out.text("Evalution.txt", "".join(lines))


@TASKS.register("msp_improv")
class MspImprov(Corpus):
    """MSP-IMPROV: neutral, happy, sad, angry consensus labels; 6 session folds."""

    info = CorpusInfo(
        "MSP-IMPROV", "improvised and read dyadic scenes by 12 actors (6 women, 6 men) in 6 sessions", "en",
        licence="released by the MSP lab (UT Dallas) for academic research under its licence agreement",
        citation="Busso et al., MSP-IMPROV: An acted corpus of dyadic interactions to study emotion perception, "
                 "IEEE Transactions on Affective Computing, 2017", paper_order=2,
    )

    training_names = ("fold1", "fold2", "fold3", "fold4", "fold5", "fold6")
    default_dir = "MSP-IMPROV"
    layout: ClassVar[str] = (
        "the MSP-IMPROV layout: Evalution.txt (or Evaluation.txt) and "
        "Audio/session<k>/<sentence>/<P|R|S|T>/MSP-IMPROV-<sentence>-<speaker>-<P|R|S|T>-<id>.wav"
    )
    expected_total = 7798
    expected_counts = {"neutral": 3477, "happy": 2644, "sad": 885, "angry": 792}
    sessions: ClassVar[tuple[str, ...]] = ("session1", "session2", "session3", "session4", "session5", "session6")
    # Its synthetic twin: 6 sessions x (one actress, one actor), 26 clips each.
    twin = Twin(
        tuple((f"{g}{k:02d}", "female" if g == "F" else "male") for k in range(1, 7) for g in "FM"), 26, write_twin,
        legacy=("Audio/session*/S*/[PRST]/MSP-IMPROV-S*.wav", "Evalution.txt"),
    )

    pooled_order = 2  # its place in pooled_four's utterance order

    @classmethod
    def pooled_split(cls) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Session 4 dev, session 5 test."""
        return ("session4",), ("session5",)

    def label_file(self) -> Path:
        """The consensus label file, under either of its two names."""
        found = [self.root / n for n in LABEL_FILES if (self.root / n).is_file()]
        return found[0] if found else self.root / LABEL_FILES[0]

    def required_paths(self) -> list[Path]:
        return [self.label_file(), self.root / "Audio"]

    def read_labels(self) -> list[tuple[Utterance, str]]:
        label_file = self.label_file()
        codes: dict[str, tuple[str, int, list[str]]] = {}
        for number, line in read_lines(label_file):
            if not line.startswith("UTD-"):  # per-rater lines and blank lines
                continue
            fields = [f.strip() for f in line.split(";")]
            if len(fields) < 2 or not fields[1] or not _NAME.fullmatch(fields[0]):
                raise parse_error(label_file, number, line, _LINE_SHAPE)
            previous = codes.get(fields[0])
            if previous is not None and previous[0] != fields[1]:
                # The reference code keeps the last line of a repeated file name; say so.
                warnings.warn(f"{label_file}:{number}: {fields[0]} relabelled {previous[0]} -> {fields[1]} "
                              f"(line {previous[1]}); the last label is used", stacklevel=2)
            codes[fields[0]] = (fields[1], number, fields[2:])
        pairs = []
        for name in sorted(codes):
            utterance = self._utterance(label_file, name, *codes[name])
            if utterance is not None:
                pairs.append(utterance)
        return pairs

    def fold_plans(self) -> list[FoldPlan]:
        return kfold_plans(self.sessions, len(self.sessions))

    def _utterance(self, label_file: Path, name: str, code: str, number: int, rest: list[str]) -> tuple[Utterance, str] | None:
        # "A:2.6; V:3.4; D:2.8; N:3.0": arousal, valence, dominance and naturalness means (1-5).
        fields = (f.split(":", 1) for f in rest if ":" in f)
        ratings = {RATED[k.strip()]: v.strip() for k, v in fields if k.strip() in RATED}
        target = self.target(f"{label_file}:{number}", code, LABELS.get(code), ratings)
        if target is None:
            return None
        parts = _NAME.fullmatch(name)
        session = f"session{int(parts['number'])}"  # the speaker's number is the session
        if session not in self.sessions:
            raise ValueError(f"{label_file}:{number}: speaker {parts['speaker']} is not in sessions 1-{len(self.sessions)}")
        key = "MSP-IMPROV" + name[len("UTD-IMPROV") : -len(".avi")]
        wav = self.root / "Audio" / session / parts["sentence"] / parts["kind"] / f"{key}.wav"
        gender = "female" if parts["gender"] == "F" else "male"
        return Utterance(key, wav, parts["speaker"], gender, **target), session


@TASKS.register("msp_improv_dims")
class MspImprovDims(Attributes, MspImprov):
    """MSP-Improv's consensus A:, V:, D: means (1-5); 6 session folds."""

    scale = (1.0, 5.0)
