"""MSP-Podcast 1.8: the official Train / Validation / Test1 split, trained with three seeds."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import ClassVar

from peftser.downstream.task import CorpusInfo, Utterance
from peftser.downstream.tasks.attributes import Attributes
from peftser.downstream.tasks.corpus import Corpus, parse_error, read_csv_rows
from peftser.downstream.tasks.folds import FoldPlan, fixed_split_plans
from peftser.downstream.tasks.twin import Twin, alternating
from peftser.registry import TASKS

# EmoClass codes; U, F, D, C, O, X (surprise, fear, disgust, contempt, other, no agreement) excluded.
LABELS = {"N": "neutral", "H": "happy", "S": "sad", "A": "angry"}
SPLITS = ("Train", "Validation", "Test1")  # Test2 is not used by the paper
# The release spells the file "labels_concensus.csv"; accept the corrected name too.
LABEL_FILES = ("labels_concensus.csv", "labels_consensus.csv")
COLUMNS = ("FileName", "EmoClass", "SpkrID", "Gender", "Split_Set")
NUL_NAME = "bad path: a NUL byte in the FileName"
RATED = {"EmoAct": "arousal", "EmoVal": "valence", "EmoDom": "dominance"}  # attribute columns, means of 1-7
# The synthetic twin's speakers 1-28 are Train, 29-36 Validation, 37-48 Test1.
_TWIN_SPLITS = ((28, "Train"), (36, "Validation"), (48, "Test1"))


def write_twin(out, recordings) -> None:
    """The synthetic twin's Labels/labels_concensus.csv and Audios/MSP-PODCAST_<podcast>_<segment>.wav."""
    codes = {label: code for code, label in LABELS.items()}
    rows = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"]
    for rec in recordings:
        name = f"MSP-PODCAST_{int(rec.speaker):04d}_{rec.index + 1:04d}.wav"
        out.wav(f"Audios/{name}", rec.wave)
        arousal, valence, dominance = rec.rated(1.0, 7.0)
        split = next(split for last, split in _TWIN_SPLITS if int(rec.speaker) <= last)
        rows.append(f"{name},{codes[rec.emotion]},{arousal},{valence},{dominance},{rec.speaker},{rec.gender.capitalize()},{split}\n")
    out.text("Labels/labels_concensus.csv", "".join(rows))


@TASKS.register("msp_podcast")
class MspPodcast(Corpus):
    """MSP-Podcast release 1.8: neutral, happy, sad, angry; Train/Validation/Test1 x 3 seeds."""

    info = CorpusInfo(
        "MSP-Podcast", "natural speech cut from podcasts, many speakers (release 1.8)", "en",
        licence="released by the MSP lab (UT Dallas) for academic research under its licence agreement",
        citation="Lotfian and Busso, Building naturalistic emotionally balanced speech corpus by retrieving emotional "
                 "speech from existing podcast recordings, IEEE Transactions on Affective Computing, 2019", paper_order=4,
    )

    training_names = ("seed1", "seed2", "seed3")
    default_dir = "MSP-PODCAST"
    layout: ClassVar[str] = (
        "the MSP-Podcast layout: Labels/labels_concensus.csv (FileName, EmoClass, SpkrID, Gender, "
        "Split_Set, ...) and Audios/<FileName>"
    )
    expected_total = 37924  # release 1.8
    expected_counts = {"neutral": 20986, "happy": 12060, "sad": 2166, "angry": 2712}
    # Its synthetic twin: 48 speakers, 7 clips each, in a fixed speaker-independent split.
    twin = Twin(alternating([str(s) for s in range(1, 49)]), 7, write_twin,
                legacy=("Audios/MSP-PODCAST_*_*.wav", "Labels/labels_concensus.csv"))

    pooled_order = 3  # its place in pooled_four's utterance order

    @classmethod
    def pooled_split(cls) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Validation dev, Test1 test."""
        return ("Validation",), ("Test1",)

    def label_file(self) -> Path:
        """The consensus label file, under either of its two names."""
        found = [self.root / "Labels" / n for n in LABEL_FILES if (self.root / "Labels" / n).is_file()]
        return found[0] if found else self.root / "Labels" / LABEL_FILES[0]

    def required_paths(self) -> list[Path]:
        return [self.label_file(), self.root / "Audios"]

    def read_labels(self) -> list[tuple[Utterance, str]]:
        path = self.label_file()
        pairs, nul_lines = [], []
        for number, row in read_csv_rows(path, COLUMNS):
            if not row["FileName"]:
                raise parse_error(path, number, str(row), "a FileName such as MSP-PODCAST_0001_0008.wav")
            if "\0" in row["FileName"]:  # no file can have that name; the row alone is skipped
                if self.strict:
                    raise parse_error(path, number, repr(row["FileName"]), "a FileName without a NUL byte")
                nul_lines.append(number)
            elif row["Split_Set"] not in SPLITS:
                self.exclude(f"split {row['Split_Set']!r}")
            elif (target := self.target(f"{path}:{number}", row["EmoClass"], LABELS.get(row["EmoClass"]), _ratings(row))) is None:
                pass  # counted by target()
            elif "unknown" in row["SpkrID"].lower() or "unknown" in row["Gender"].lower():
                self.exclude("unknown speaker or gender")
            else:
                pairs.append((self._utterance(path, number, row, target), row["Split_Set"]))
        self._count_nul_names(path, nul_lines)
        return pairs

    def _count_nul_names(self, path: Path, lines: list[int]) -> None:
        if not lines:
            return
        self.skipped[NUL_NAME] = len(lines)
        warnings.warn(f"{self.name}: skipped {len(lines)} row(s) of {path} whose FileName holds a NUL byte "
                      f"(line(s) {', '.join(map(str, lines[:5]))}); strict mode (--strict) makes this an error", stacklevel=3)

    def fold_plans(self) -> list[FoldPlan]:
        return fixed_split_plans(["Train"], ["Validation"], ["Test1"], n_seeds=len(self.training_names))

    def _utterance(self, path: Path, number: int, row: dict[str, str], target: dict) -> Utterance:
        gender = row["Gender"].lower()
        if gender not in ("female", "male"):
            raise parse_error(path, number, str(row), "Gender Female, Male or Unknown")
        key = Path(row["FileName"]).stem
        return Utterance(key, self.root / "Audios" / row["FileName"], row["SpkrID"], gender, **target)


def _ratings(row: dict[str, str]) -> dict[str, str]:
    """The row's attribute means (1-7) by dimension; a column the file lacks gives none."""
    return {dim: row[column] for column, dim in RATED.items() if column in row}


@TASKS.register("msp_podcast_dims")
class MspPodcastDims(Attributes, MspPodcast):
    """MSP-Podcast's EmoAct, EmoVal, EmoDom means (1-7); Train/Validation/Test1 x 3 seeds."""

    scale = (1.0, 7.0)
