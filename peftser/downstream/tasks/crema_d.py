"""CREMA-D: 91 actors reading 12 sentences, 5 folds over the actors (docs/protocol.md, "Corpora and the 19 trainings")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from peftser.downstream.task import CorpusInfo, Utterance
from peftser.downstream.tasks.corpus import Corpus, parse_error, read_csv_rows, visible_files
from peftser.downstream.tasks.folds import FoldPlan, kfold_plans
from peftser.downstream.tasks.twin import Twin, alternating
from peftser.registry import TASKS

# Perceived-emotion votes of summaryTable.csv; F (fear), D (disgust) and ties ("A:H") are excluded.
VOTES = {"N": "neutral", "H": "happy", "S": "sad", "A": "angry"}
# The intended emotion in the file name; DIS and FEA are excluded.
INTENDED = {"NEU": "neutral", "HAP": "happy", "SAD": "sad", "ANG": "angry"}
# CREMA-D's own six classes (``classes=native``): fear and disgust kept, in this order.
NATIVE = ("neutral", "happy", "sad", "angry", "fear", "disgust")
NATIVE_VOTES = {**VOTES, "F": "fear", "D": "disgust"}
NATIVE_INTENDED = {**INTENDED, "FEA": "fear", "DIS": "disgust"}
VOTE_COLUMNS = {"multimodal_vote": "MultiModalVote", "voice_vote": "VoiceVote"}
# The reference code skips this clip: it has no signal.
KNOWN_BAD = ("1076_MTI_SAD_XX",)
_NAME = re.compile(r"(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>[A-Z]{2})")
_NAME_SHAPE = "<actor>_<sentence>_<emotion>_<level>, e.g. 1001_DFA_ANG_XX"
# The synthetic twin: 40 actors (1001-1040), 8 clips each, folded by the same rule.
_TWIN_ACTORS = tuple(str(a) for a in range(1001, 1041))
_TWIN_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")


def write_twin(out, recordings) -> None:
    """The synthetic twin's AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav, VideoDemographics.csv, summaryTable.csv."""
    votes = {label: code for code, label in VOTES.items()}
    intended = {label: code for code, label in INTENDED.items()}
    table = [",FileName,VoiceVote,VoiceLevel,FaceVote,FaceLevel,MultiModalVote,MultiModalLevel\n"]
    actors: dict[str, str] = {}
    for number, rec in enumerate(recordings, start=1):
        code = votes[rec.emotion]
        level = "XX" if rec.emotion == "neutral" else ("LO", "MD", "HI")[rec.index % 3]
        name = f"{rec.speaker}_{_TWIN_SENTENCES[rec.index % len(_TWIN_SENTENCES)]}_{intended[rec.emotion]}_{level}"
        out.wav(f"AudioWAV/{name}.wav", rec.wave)
        table.append(f"{number},{name},{code},60,{code},60,{code},60\n")
        actors[rec.speaker] = rec.gender
    out.text("processedResults/summaryTable.csv", "".join(table))
    demographics = ["ActorID,Age,Sex,Race,Ethnicity\n"]
    demographics += [f"{a},40,{g.capitalize()},Unknown,Unknown\n" for a, g in sorted(actors.items())]
    out.text("VideoDemographics.csv", "".join(demographics))


@TASKS.register("crema_d")
class CremaD(Corpus):
    """CREMA-D with MultiModalVote labels (or VoiceVote, or the intended emotion); 5 actor folds."""

    info = CorpusInfo(
        "CREMA-D", "12 sentences read by 91 actors (43 women, 48 men) of varied ages and ethnicities", "en",
        licence="Open Database License (ODbL) 1.0, contents under the Database Contents License",
        citation="Cao et al., CREMA-D: Crowd-sourced emotional multimodal actors dataset, "
                 "IEEE Transactions on Affective Computing, 2014", paper_order=3,
    )

    training_names = ("fold1", "fold2", "fold3", "fold4", "fold5")
    default_dir = "CREMA-D"
    layout: ClassVar[str] = (
        "the CREMA-D layout: AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav, "
        "VideoDemographics.csv and processedResults/summaryTable.csv"
    )
    expected_total = 4798  # with MultiModalVote labels
    expected_counts = {"neutral": 1972, "happy": 1219, "sad": 588, "angry": 1019}
    option_choices = {"label_source": ("multimodal_vote", "voice_vote", "filename"), "classes": ("paper", "native")}
    # The reference folds over actor ids 1001-1091 in order, whatever the files hold.
    actors: ClassVar[tuple[str, ...]] = tuple(str(a) for a in range(1001, 1092))
    n_folds: ClassVar[int] = 5
    twin = Twin(alternating(_TWIN_ACTORS), 8, write_twin, overrides={"actors": _TWIN_ACTORS},
                legacy=("AudioWAV/10*_*_*_*.wav", "processedResults/summaryTable.csv", "VideoDemographics.csv"))

    @classmethod
    def classes_for(cls, options: dict) -> tuple[str, ...]:
        """The paper's four, or with ``classes=native`` CREMA-D's six (fear and disgust kept)."""
        return NATIVE if options.get("classes") == "native" else tuple(cls.classes)

    def expected(self) -> tuple[int | None, dict[str, int]]:
        if self.option("label_source") == "multimodal_vote" and self.option("classes") == "paper":
            return self.expected_total, self.expected_counts
        return None, {}

    def required_paths(self) -> list[Path]:
        paths = [self.root / "AudioWAV", self.root / "VideoDemographics.csv"]
        if self.option("label_source") != "filename":
            paths.append(self.summary_table())
        return paths

    def summary_table(self) -> Path:
        """The crowd-sourced ratings, one row per clip."""
        return self.root / "processedResults" / "summaryTable.csv"

    def read_labels(self) -> list[tuple[Utterance, str]]:
        genders = self._read_genders()
        wavs = {p.stem: p for p in visible_files(self.root / "AudioWAV", "*.wav")}
        for stem, path in wavs.items():
            if not _NAME.fullmatch(stem):
                raise ValueError(f"{path}: file name is not {_NAME_SHAPE}")
        source = self.option("label_source")
        if source == "filename":
            codes = {stem: _NAME.fullmatch(stem)["emotion"] for stem in wavs}
        else:
            codes = self._read_votes(VOTE_COLUMNS[source])
        pairs = []
        # A rated clip without its file is kept here so that the audio check reports it missing.
        for stem in sorted(set(wavs) | set(codes)):
            utterance = self._utterance(stem, codes.get(stem), genders, wavs)
            if utterance is not None:
                pairs.append((utterance, utterance.speaker))
        return pairs

    def fold_plans(self) -> list[FoldPlan]:
        return kfold_plans(self.actors, self.n_folds)

    pooled_order = 4  # its place in pooled_four's utterance order

    @classmethod
    def pooled_split(cls) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The reference's last fold over ``actors``: the release's actors 1059-1073 dev, 1074-1091
        test (the twin's: the same rule over its own actors)."""
        last = kfold_plans(cls.actors, cls.n_folds)[-1]
        return last.dev, last.test

    def _utterance(
        self, stem: str, code: str | None, genders: dict[str, str], wavs: dict[str, Path]
    ) -> Utterance | None:
        actor = _NAME.fullmatch(stem)["actor"]
        label = self._label(code)
        if stem in KNOWN_BAD:
            self.exclude(f"known bad clip {stem} (no signal)")
        elif actor not in self.actors:
            self.exclude(f"actor outside {self.actors[0]}-{self.actors[-1]}")
        elif code is None:
            self.exclude(f"no row in {self.summary_table().name}")
        elif label is None:
            self.exclude(f"label {code!r}" if ":" not in code else "tie vote")
        elif actor not in genders:
            raise ValueError(f"{self.root / 'VideoDemographics.csv'}: no row for actor {actor} (clip {stem})")
        else:
            path = wavs.get(stem, self.root / "AudioWAV" / f"{stem}.wav")
            return Utterance(stem, path, actor, genders[actor], label)
        return None

    def _label(self, code: str | None) -> str | None:
        native = self.option("classes") == "native"
        if self.option("label_source") == "filename":
            table = NATIVE_INTENDED if native else INTENDED
        else:
            table = NATIVE_VOTES if native else VOTES
        return table.get(code or "")

    def _read_genders(self) -> dict[str, str]:
        path = self.root / "VideoDemographics.csv"
        genders = {}
        for number, row in read_csv_rows(path, ("ActorID", "Sex")):
            sex = row["Sex"].lower()
            if sex not in ("female", "male") or not row["ActorID"].isdigit():
                raise parse_error(path, number, f"{row['ActorID']},{row['Sex']}", "ActorID 1001-1091, Sex Female or Male")
            genders[row["ActorID"]] = sex
        return genders

    def _read_votes(self, column: str) -> dict[str, str]:
        path = self.summary_table()
        votes = {}
        for number, row in read_csv_rows(path, ("FileName", column)):
            if not _NAME.fullmatch(row["FileName"]):
                raise parse_error(path, number, row["FileName"], f"a FileName {_NAME_SHAPE}")
            votes[row["FileName"]] = row[column]
        return votes
