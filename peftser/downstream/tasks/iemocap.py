"""IEMOCAP: five sessions of dyadic acting, leave-one-session-out (docs/protocol.md, "Corpora and the 19 trainings")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from peftser.downstream.task import CorpusInfo, Utterance
from peftser.downstream.tasks.corpus import Corpus, parse_error, read_lines, visible_files
from peftser.downstream.tasks.folds import FoldPlan, kfold_plans
from peftser.registry import TASKS

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
