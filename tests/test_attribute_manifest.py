"""A manifest task file with numeric columns: an attribute task with no Python."""

from __future__ import annotations

import csv
import warnings

import pytest
import yaml
from corpus_fixtures import write_wav

from peftser.downstream.tasks import make_task
from peftser.downstream.tasks.manifest import register_task_file
from peftser.downstream.tasks.rows import RowError


pytestmark = pytest.mark.usefixtures("task_files", "cache")


def rated_task(folder, rows, **fields):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "rated.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["path", "speaker", "gender", "act", "val"])
        writer.writeheader()
        writer.writerows(rows)
    spec = {"task": "my_rated", "manifest": "rated.csv", "audio_root": "audio", "dimensions": ["arousal", "valence"],
            "scale": [1, 7], "columns": {"arousal": "act", "valence": "val"}, "folds": 3, **fields}
    (folder / "rated.yaml").write_text(yaml.safe_dump(spec))
    return folder / "rated.yaml"


def rows(folder, n_speakers=6, per=3):
    out = []
    for s in range(n_speakers):
        for i in range(per):
            name = f"s{s}_{i}.wav"
            write_wav(folder / "audio" / name, seed=s * per + i)
            out.append({"path": name, "speaker": f"spk{s}", "gender": "fm"[s % 2], "act": f"{1 + s + i * 0.5:g}",
                        "val": f"{7 - s:g}"})
    return out


def test_numeric_columns_make_an_attribute_task_with_its_scale_and_dimension_choice(tmp_path):
    table = rows(tmp_path)
    table[0]["val"] = ""  # unrated: counted and skipped
    register_task_file(rated_task(tmp_path, table))
    task = make_task("my_rated", dims="valence")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = task.utterances
    assert task.kind == "attributes" and task.classes == ("valence",) and task.scale == (1.0, 7.0)
    assert len(kept) == 17 and task.skipped == {"no rating: valence": 1}
    assert {u.key: u.ratings for u in kept}["s2_1.wav"] == (5.0,)
    assert [t.name for t in task.trainings()] == ["fold1", "fold2", "fold3"]


@pytest.mark.parametrize("value, message", [("9", "arousal rating '9' is outside the scale 1-7"),
                                            ("nan", "arousal rating 'nan' is outside the scale 1-7"),
                                            ("loud", "arousal rating 'loud' is not a number")])
def test_a_bad_rating_is_refused_when_the_file_is_registered_with_its_line(tmp_path, value, message):
    table = rows(tmp_path)
    table[4]["act"] = value
    with pytest.raises(RowError, match=f"rated.csv:6: {message}"):
        register_task_file(rated_task(tmp_path, table))


def test_dimensions_need_a_scale(tmp_path):
    with pytest.raises(RowError, match=r"scale must be \[low, high\]"):
        register_task_file(rated_task(tmp_path, rows(tmp_path), scale=None))
