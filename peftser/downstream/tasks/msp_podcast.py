"""MSP-Podcast 1.8: the official Train / Validation / Test1 split, trained with three seeds."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from peftser.downstream.task import Utterance
from peftser.downstream.tasks.corpus import Corpus, parse_error, read_csv_rows
from peftser.downstream.tasks.folds import FoldPlan, fixed_split_plans
from peftser.registry import TASKS

# EmoClass codes; U, F, D, C, O, X (surprise, fear, disgust, contempt, other, no agreement) excluded.
LABELS = {"N": "neutral", "H": "happy", "S": "sad", "A": "angry"}
SPLITS = ("Train", "Validation", "Test1")  # Test2 is not used by the paper
# The release spells the file "labels_concensus.csv"; accept the corrected name too.
LABEL_FILES = ("labels_concensus.csv", "labels_consensus.csv")
COLUMNS = ("FileName", "EmoClass", "SpkrID", "Gender", "Split_Set")


@TASKS.register("msp_podcast")
class MspPodcast(Corpus):
    """MSP-Podcast release 1.8: neutral, happy, sad, angry; Train/Validation/Test1 x 3 seeds."""

    training_names = ("seed1", "seed2", "seed3")
    default_dir = "MSP-PODCAST"
    layout: ClassVar[str] = (
        "the MSP-Podcast layout: Labels/labels_concensus.csv (FileName, EmoClass, SpkrID, Gender, "
        "Split_Set, ...) and Audios/<FileName>"
    )
    expected_total = 37924  # release 1.8
    expected_counts = {"neutral": 20986, "happy": 12060, "sad": 2166, "angry": 2712}

    def label_file(self) -> Path:
        """The consensus label file, under either of its two names."""
        found = [self.root / "Labels" / n for n in LABEL_FILES if (self.root / "Labels" / n).is_file()]
        return found[0] if found else self.root / "Labels" / LABEL_FILES[0]

    def required_paths(self) -> list[Path]:
        return [self.label_file(), self.root / "Audios"]

    def read_labels(self) -> list[tuple[Utterance, str]]:
        path = self.label_file()
        pairs = []
        for number, row in read_csv_rows(path, COLUMNS):
            if not row["FileName"]:
                raise parse_error(path, number, str(row), "a FileName such as MSP-PODCAST_0001_0008.wav")
            if row["Split_Set"] not in SPLITS:
                self.exclude(f"split {row['Split_Set']!r}")
            elif row["EmoClass"] not in LABELS:
                self.exclude(f"label {row['EmoClass']!r}")
            elif "unknown" in row["SpkrID"].lower() or "unknown" in row["Gender"].lower():
                self.exclude("unknown speaker or gender")
            else:
                pairs.append((self._utterance(path, number, row), row["Split_Set"]))
        return pairs

    def fold_plans(self) -> list[FoldPlan]:
        return fixed_split_plans(["Train"], ["Validation"], ["Test1"], n_seeds=len(self.training_names))

    def _utterance(self, path: Path, number: int, row: dict[str, str]) -> Utterance:
        gender = row["Gender"].lower()
        if gender not in ("female", "male"):
            raise parse_error(path, number, str(row), "Gender Female, Male or Unknown")
        key = Path(row["FileName"]).stem
        return Utterance(key, self.root / "Audios" / row["FileName"], row["SpkrID"], gender, LABELS[row["EmoClass"]])
