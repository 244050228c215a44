"""IEMOCAP: five sessions of dyadic acting, leave-one-session-out (docs/protocol.md, "Corpora and the 19 trainings")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from peftser.downstream.task import CorpusInfo, Utterance
from peftser.downstream.tasks.attributes import Attributes
from peftser.downstream.tasks.corpus import Corpus, parse_error, read_lines, visible_files
from peftser.downstream.tasks.folds import FoldPlan, kfold_plans
from peftser.downstream.tasks.twin import Twin
from peftser.registry import TASKS
from peftser.sample_rate import SAMPLE_RATE

# exc (excited) is merged into happy, as in the reference code; every other code is excluded.
LABELS = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}
# "[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]"
_LINE = re.compile(r"\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\t(?P<id>\S+)\t(?P<label>\S+)\t\[(?P<vad>.*)\]\s*")
# The bracket's three means, in its order: valence, activation (arousal), dominance, each 1-5.
RATED = ("valence", "arousal", "dominance")
# The speaker's gender is the first letter of the ID's last part (Ses01F_impro01_M013 -> M);
# the letter after the session number is the gender of whoever leads the dialog.
_ID = re.compile(r"(?P<session>Ses\d\d)[FM]_.+_(?P<gender>[FM])\d+")
_LINE_SHAPE = "'[start - end]<TAB>SesNN?_dialog_X000<TAB>label<TAB>[V, A, D]'"
# The codes the twin writes for each class, taken in turn where two give one class (hap, exc).
_TWIN_CODES = {label: tuple(c for c, mine in LABELS.items() if mine == label) for label in LABELS.values()}


def write_twin(out, recordings) -> None:
    """The synthetic twin's Session<k>/dialog/EmoEvaluation/<dialog>.txt and Session<k>/sentences/wav/<dialog>/<id>.wav."""
    dialogs: dict[tuple[str, str], list[str]] = {}
    for rec in recordings:
        session = int(rec.speaker[3:5])
        dialog = f"Ses{session:02d}{'FM'[rec.index % 2]}_impro01"  # both speakers act in both dialogs
        utt_id = f"{dialog}_{rec.speaker[-1]}{rec.index:03d}"
        out.wav(f"Session{session}/sentences/wav/{dialog}/{utt_id}.wav", rec.wave)
        start = 2.0 * rec.index
        code = _TWIN_CODES[rec.emotion][rec.index // 2 % len(_TWIN_CODES[rec.emotion])]
        arousal, valence, dominance = rec.rated(1.0, 5.0)
        block = (f"[{start:.4f} - {start + len(rec.wave) / SAMPLE_RATE:.4f}]\t{utt_id}\t{code}\t[{valence}, {arousal}, {dominance}]\n"
                 f"C-E1:\t{rec.emotion.capitalize()};\t()\nA-E1:\tval 3; act 3; dom  3;\t()\n\n")
        dialogs.setdefault((f"Session{session}", dialog), []).append(block)
    for (session, dialog), blocks in dialogs.items():
        header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        out.text(f"{session}/dialog/EmoEvaluation/{dialog}.txt", header + "".join(blocks))


@TASKS.register("iemocap")
class Iemocap(Corpus):
    """IEMOCAP full release: neutral, happy (+excited), sad, angry; 5 session folds."""

    info = CorpusInfo(
        "IEMOCAP", "acted dyadic sessions, scripted and improvised, by 10 actors (5 women, 5 men) in 5 sessions", "en",
        licence="released by USC SAIL for research under its licence agreement",
        citation="Busso et al., IEMOCAP: Interactive emotional dyadic motion capture database, "
                 "Language Resources and Evaluation, 2008", paper_order=1,
    )

    training_names = ("fold1", "fold2", "fold3", "fold4", "fold5")
    default_dir = "IEMOCAP_full_release"
    layout: ClassVar[str] = (
        "the IEMOCAP layout: Session1..Session5/dialog/EmoEvaluation/*.txt (labels) and "
        "Session1..Session5/sentences/wav/<dialog>/<utterance>.wav"
    )
    expected_total = 5531
    expected_counts = {"neutral": 1708, "happy": 1636, "sad": 1084, "angry": 1103}
    sessions: ClassVar[tuple[str, ...]] = ("Session1", "Session2", "Session3", "Session4", "Session5")
    # Its synthetic twin: 5 sessions x (one actress, one actor), 32 clips each.
    twin = Twin(
        tuple((f"Ses{k:02d}{g}", "female" if g == "F" else "male") for k in range(1, 6) for g in "FM"), 32, write_twin,
        legacy=("Session*/sentences/wav/Ses*_impro01/Ses*_impro01_*.wav", "Session*/dialog/EmoEvaluation/Ses*_impro01.txt"),
    )

    pooled_order = 1  # its place in pooled_four's utterance order

    @classmethod
    def pooled_split(cls) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Session 4 dev, Session 5 test."""
        return ("Session4",), ("Session5",)

    def required_paths(self) -> list[Path]:
        return [self.root / s / "dialog" / "EmoEvaluation" for s in self.sessions]

    def read_labels(self) -> list[tuple[Utterance, str]]:
        pairs = []
        for session in self.sessions:
            for label_file in visible_files(self.root / session / "dialog" / "EmoEvaluation", "*.txt"):
                pairs += [(utt, session) for utt in self._read_label_file(session, label_file)]
        return pairs

    def fold_plans(self) -> list[FoldPlan]:
        return kfold_plans(self.sessions, len(self.sessions))

    def _read_label_file(self, session: str, label_file: Path) -> list[Utterance]:
        utterances = []
        for number, line in read_lines(label_file):
            if not line.startswith("["):  # headers, blank lines and per-rater lines
                continue
            match = _LINE.fullmatch(line)
            ident = _ID.fullmatch(match["id"]) if match else None
            if ident is None:
                raise parse_error(label_file, number, line, _LINE_SHAPE)
            ratings = dict(zip(RATED, (v.strip() for v in match["vad"].split(","))))
            target = self.target(f"{label_file}:{number}", match["label"], LABELS.get(match["label"]), ratings)
            if target is None:
                continue
            utt_id = match["id"]
            gender = ident["gender"]
            wav = self.root / session / "sentences" / "wav" / utt_id.rsplit("_", 1)[0] / f"{utt_id}.wav"
            speaker = ident["session"] + gender
            utterances.append(Utterance(utt_id, wav, speaker, "female" if gender == "F" else "male", **target))
        return utterances


@TASKS.register("iemocap_dims")
class IemocapDims(Attributes, Iemocap):
    """IEMOCAP's EmoEvaluation means [V, A, D] (1-5) of every rated turn; 5 session folds."""

    scale = (1.0, 5.0)
