"""Corpora beyond the paper's four: a manifest with no Python, EmoBox's published folds, their own label sets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

import peftser
from peftser.benchmark.cell import Cell
from peftser.benchmark.evaluation import Evaluation
from peftser.benchmark.metrics import metrics_from_predictions
from peftser.benchmark.report.evaluations import Evaluations
from peftser.cli import main
from peftser.downstream.tasks import make_task
from peftser.downstream.tasks.manifest import register_task_file
from peftser.downstream.tasks.rows import RowError
from peftser.registry import TASKS
from tests.corpus_fixtures import write_wav

SIX = ["neutral", "happy", "sad", "angry", "fear", "disgust"]
FOUR = ["neutral", "happy", "sad", "angry"]
QUICK = {"epochs": 2, "batch_size": 8, "head_hidden": 16, "max_seconds": 0.5, "augment": False}


pytestmark = pytest.mark.usefixtures("task_files")


def task_file(folder: Path, name: str, rows: list[dict], *, fmt: str = "csv", **fields) -> Path:
    """A manifest of ``rows`` and its YAML in ``folder``; audio under ``folder/audio``."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / f"{name}.{fmt}"
    if fmt == "csv":
        header = list(dict.fromkeys(k for r in rows for k in r))
        with open(manifest, "w", newline="") as handle:
            writer = csv.DictWriter(handle, header)
            writer.writeheader()
            writer.writerows(rows)
    else:
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"task": name, "manifest": manifest.name, "audio_root": "audio", "classes": SIX, **fields}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def corpus_rows(folder: Path, speakers: int = 6, per_speaker: int = 6, fold_of=None) -> list[dict]:
    """Rows of a small six-class corpus whose audio is written under ``folder/audio``."""
    rows = []
    for s in range(speakers):
        for i in range(per_speaker):
            rel = f"spk{s}/clip{i}.wav"
            write_wav(folder / "audio" / rel, seed=s * 100 + i, seconds=0.05)
            row = {"path": rel, "label": SIX[(s + i) % 6], "speaker": f"spk{s}", "gender": "f" if s % 2 else "m"}
            if fold_of is not None:
                row["fold"] = fold_of(s)
            rows.append(row)
    return rows


# -- the manifest route: checks before any work ---------------------------------------------------

def test_a_speaker_on_both_sides_of_a_training_is_refused_before_any_work_naming_the_speaker(tmp_path, capsys):
    rows = corpus_rows(tmp_path / "c", fold_of=lambda s: 1 + s % 3)
    rows[0]["fold"] = 2  # spk0 is tested in fold 1 and fold 2: trained on in both
    path = task_file(tmp_path / "c", "leaky", rows)
    results = tmp_path / "results"
    code = main(["--task-file", str(path), "--train", "demo_whisper_tiny", "downstream", "leaky", "fold1",
                 "--results", str(results)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "speaker 'spk0' is on both the training and test side of fold" in err
    assert not results.exists()


@pytest.mark.parametrize("edit,message", [
    (lambda rows, spec: rows.append(dict(rows[0])), "key 'spk0/clip0.wav' is listed again (first at"),
    (lambda rows, spec: spec.update(label_map={"xx": "neutral"}), "label_map names code 'xx', which no row"),
    (lambda rows, spec: spec.update(label_map={"neutral": "calm"}), "label_map maps 'neutral' to 'calm'"),
    (lambda rows, spec: rows[3].update(fold=""), "empty fold: the folds leave this utterance out"),
    (lambda rows, spec: rows[3].update(gender="x"), "gender 'x' is not one of"),
    (lambda rows, spec: rows[3].update(start="a", end="1"), "start/end 'a'/'1' are not both numbers"),
])
def test_bad_manifests_are_one_line_naming_file_and_what(tmp_path, edit, message):
    rows = corpus_rows(tmp_path / "c", fold_of=lambda s: 1 + s % 3)
    spec: dict = {}
    edit(rows, spec)
    path = task_file(tmp_path / "c", "bad", rows, **spec)
    with pytest.raises(RowError, match="bad") as err:
        register_task_file(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_an_unparsable_jsonl_manifest_names_its_line(tmp_path):
    rows = corpus_rows(tmp_path / "c")
    path = task_file(tmp_path / "c", "broken", rows, fmt="jsonl")
    manifest = tmp_path / "c" / "broken.jsonl"
    lines = manifest.read_text().splitlines()
    lines[4] = lines[4][:-3]
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(RowError, match=r"broken.jsonl:5: not a JSON object"):
        register_task_file(path)


def test_bad_rows_are_counted_and_skipped_unless_strict(tmp_path):
    rows = corpus_rows(tmp_path / "c")
    rows[1]["label"] = "bored"
    rows[2]["speaker"] = ""
    rows[3]["path"] = "spk0/gone.wav"
    register_task_file(task_file(tmp_path / "c", "gappy", rows))
    with pytest.warns(UserWarning):
        task = make_task("gappy")
        kept = task.utterances
    assert len(kept) == len(rows) - 3
    assert task.skipped == {"bad row: label 'bored' outside the classes": 1, "bad row: empty speaker": 1, "bad audio: missing": 1}
    with pytest.raises(ValueError, match="label 'bored' outside the classes"):
        make_task("gappy", strict=True).utterances


def test_speaker_folds_follow_the_paper_recipe_and_dev_comes_from_training_speakers(tmp_path):
    from peftser.downstream.tasks.folds import kfold_plans

    register_task_file(task_file(tmp_path / "c", "own", corpus_rows(tmp_path / "c", speakers=10), folds=5))
    task = make_task("own")
    plans = kfold_plans([f"spk{s}" for s in range(10)], 5)
    assert [t.name for t in task.trainings()] == [p.name for p in plans] == list(type(task).training_names)
    for training, plan in zip(task.trainings(), plans):
        for side in ("train", "dev", "test"):
            assert {u.speaker for u in getattr(training, side)} == set(getattr(plan, side))
        assert training.seed == plan.seed


def test_manifest_command_writes_the_trainings_of_a_task_file(tmp_path, capsys):
    path = task_file(tmp_path / "c", "listed", corpus_rows(tmp_path / "c", fold_of=lambda s: 1 + s % 3))
    out = tmp_path / "listed.csv"
    assert main(["--task-file", str(path), "--manifest", "listed", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| fear" in printed and "fold3" in printed
    header = out.read_text().splitlines()[0].split(",")
    assert header[-3:] == ["fold1", "fold2", "fold3"]


# -- the EmoBox route ----------------------------------------------------------------------------

def emobox_folder(root: Path, *, overlap: bool = False) -> Path:
    """An EmoBox data/<dataset> folder (no speaker field) of 6 speakers in 3 folds, audio under root/audio."""
    folder = root / "data" / "tiny"
    (folder).mkdir(parents=True)
    (folder / "label_map.json").write_text(json.dumps({"n": "neutral", "h": "happy", "s": "sad", "a": "angry", "f": "fear", "d": "disgust"}))
    rows = {}
    for s in range(6):
        for i in range(6):
            key = f"tiny-{s:02d}-{i}"
            write_wav(root / "audio" / f"{key}.wav", seed=s * 10 + i, seconds=0.05, rate=48000)
            rows[key] = {"key": key, "wav": f"{key}.wav", "emo": "nhsafd"[(s + i) % 6], "sample_rate": 48000, "channel": 1}
    for k in range(1, 4):
        test = [r for key, r in rows.items() if int(key.split("-")[1]) // 2 == k - 1]
        train = [r for r in rows.values() if r not in test]
        if overlap and k == 2:
            test = test + [rows["tiny-00-0"]]
            train = [r for r in train if r["key"] != "tiny-00-0"]
        (folder / f"fold_{k}").mkdir()
        for side, members in (("train", train), ("test", test)):
            (folder / f"fold_{k}" / f"tiny_{side}_fold_{k}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in members))
    return folder


def emobox_yaml(root: Path, **fields) -> Path:
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump({"task": "emobox_tiny", "emobox": "data/tiny", "audio_root": "audio", **fields}))
    return path


def test_emobox_without_speakers_draws_a_seeded_fifth_of_training_and_says_so(tmp_path):
    emobox_folder(tmp_path)
    path = emobox_yaml(tmp_path)
    cls = register_task_file(path)
    assert cls.classes == tuple(SIX) and cls.training_names == ("fold1", "fold2", "fold3")
    task = make_task("emobox_tiny")
    fold1 = task.training("fold1")
    assert (len(fold1.train), len(fold1.dev), len(fold1.test)) == (19, 5, 12)  # ceil(0.2 * 24) = 5
    assert "seeded 20 % of its training utterances" in task.deviations[0]
    assert register_task_file(path) is cls  # read and registered once


def test_emobox_with_a_speaker_pattern_draws_dev_speakers_from_training(tmp_path):
    emobox_folder(tmp_path)
    register_task_file(emobox_yaml(tmp_path, speaker_pattern=r"^tiny-(\d+)-"))
    task = make_task("emobox_tiny")
    for training in task.trainings():
        train, dev, test = ({u.speaker for u in getattr(training, s)} for s in ("train", "dev", "test"))
        assert len(dev) == 1 and not (dev & train) and not ((train | dev) & test)
    assert "last fifth of its training speakers" in task.deviations[0]


def test_emobox_folds_that_overlap_are_refused(tmp_path):
    emobox_folder(tmp_path, overlap=True)
    with pytest.raises(RowError, match="the folds overlap: 1 utterance"):
        register_task_file(emobox_yaml(tmp_path))


# -- trained and scored over their own classes (slow: trainings) ----------------------------------

def assert_recomputes(record, classes):
    assert record["classes"] == classes
    recomputed = metrics_from_predictions(record["predictions"], classes)
    for name in ("uar", "acc", "macro_f1", "confusion", "n"):
        assert recomputed[name] == record["test"][name]
    assert len(record["test"]["confusion"]) == len(classes)


@pytest.mark.slow
def test_a_cell_on_the_synthetic_emobox_corpus_is_scored_over_its_six_classes(tmp_path):
    from peftser.benchmark.run.training import run_cell

    cell = Cell("demo_whisper_tiny", "downstream", "synthetic_emobox", "fold1", train={**QUICK, "batch_size": 16})
    record = run_cell(cell, device="cpu", results_dir=tmp_path)
    assert_recomputes(record, SIX)
    assert {p["label"] for p in record["predictions"]} == set(SIX)
    assert any("dev set is the last fifth of its training speakers" in d for d in record["deviations"])
    artifact = tmp_path / record["artifact"]["path"]
    model = peftser.load(artifact, device="cpu")
    assert model.labels == tuple(SIX)
    clip = make_task("synthetic_emobox").training("fold1").test[5]
    prediction = model.predict(str(clip.path))
    assert set(prediction.probabilities) == set(SIX)
    assert "six classes (neutral, happy, sad, angry, fear, disgust)" in (artifact / "README.md").read_text()

    # Transfer to the four-class CREMA-D twin: scored on the four classes both name.
    from peftser.benchmark.run.evaluation import run_evaluation
    from peftser.benchmark.store import ResultStore

    ResultStore(tmp_path).save_record(record)
    condition = {"kind": "transfer", "test_task": "synthetic_crema_d", "task_args": {}, "max_utterances": 24}
    evaluation = run_evaluation(Evaluation(cell, condition), device="cpu", results_dir=tmp_path)
    result = evaluation["results"][0]
    assert result["classes"] == FOUR
    assert {p["pred"] for p in result["predictions"]} <= set(FOUR) and len(result["predictions"]) == 24
    assert metrics_from_predictions(result["predictions"], FOUR)["uar"] == result["test"]["uar"]
    board = Evaluations()
    board.add(evaluation)
    assert board.shared == {("synthetic_emobox", "synthetic_crema_d"): tuple(FOUR)}

    # The other way round: a four-class model scored only on the six-class corpus' shared-label utterances.
    back = Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1", train=QUICK)
    ResultStore(tmp_path).save_record(run_cell(back, device="cpu", results_dir=tmp_path))
    condition = {"kind": "transfer", "test_task": "synthetic_emobox", "task_args": {}, "max_utterances": None}
    result = run_evaluation(Evaluation(back, condition), device="cpu", results_dir=tmp_path)["results"][0]
    assert result["classes"] == FOUR and len(result["predictions"]) == 96  # 144 utterances, 48 fear or disgust
    assert {p["label"] for p in result["predictions"]} == set(FOUR)


@pytest.mark.slow
def test_a_cell_on_a_csv_manifest_with_its_own_folds_is_scored_over_its_classes(tmp_path):
    from peftser.benchmark.run.training import run_cell

    path = task_file(tmp_path / "c", "own_folds", corpus_rows(tmp_path / "c", speakers=6, per_speaker=8, fold_of=lambda s: 1 + s // 2))
    register_task_file(path)
    assert TASKS.get("own_folds").training_names == ("fold1", "fold2", "fold3")
    record = run_cell(Cell("demo_whisper_tiny", "downstream", "own_folds", "fold2", train=QUICK), device="cpu",
                      results_dir=tmp_path / "results")
    assert_recomputes(record, SIX)
    assert {p["key"].split("/")[0] for p in record["predictions"]} == {"spk2", "spk3"}  # fold 2's speakers


# -- the leaderboard never averages trainings over different label sets -------------------------

def test_the_board_keeps_trainings_over_another_label_set_in_a_group_of_their_own(tmp_path):
    from peftser.benchmark.report.board import FAMILY_TITLES, collect, families, load_records
    from tests.board_fixture import board_results

    records = load_records(board_results(tmp_path))
    first = records[0]
    six = {**first, "key": "0" * 16, "classes": SIX, "task_args": {"classes": "native"},
           "test": {**first["test"], "uar": 99.0}}
    board = collect([*records, six])
    group = (first["task"], first.get("variant") or first["method"], first["upstream"])
    own = (f"{first['task']} (6 classes)", *group[1:])
    assert [r.uar for r in board.runs[own]] == [99.0]
    assert 99.0 not in [r.uar for r in board.runs[group]] and len(board.runs[group]) == len([r for r in records if
                                                                                              (r["task"], r.get("variant") or r["method"], r["upstream"]) == group])
    found = families(["synthetic_emobox", own[0]])
    assert sorted(found.values()) == [[own[0]], ["synthetic_emobox"]]  # never one mean over both
    assert all(FAMILY_TITLES[f].startswith("Other corpora (") for f in found)


def test_emobox_classes_may_subset_the_label_map_and_the_other_rows_are_counted(tmp_path):
    emobox_folder(tmp_path)
    register_task_file(emobox_yaml(tmp_path, classes=FOUR))
    with pytest.warns(UserWarning, match="skipped 12 row"):
        task = make_task("emobox_tiny")
        assert {u.label for u in task.utterances} == set(FOUR) and len(task.utterances) == 24
    assert task.skipped == {"bad row: label 'f' outside the classes": 6, "bad row: label 'd' outside the classes": 6}
    with pytest.raises(RowError, match="no code maps to class 'calm'"):
        register_task_file(emobox_yaml(tmp_path, classes=[*FOUR, "calm"]))


def test_segments_of_one_file_are_utterances_of_their_own_read_and_cached_apart(tmp_path, capsys):
    from peftser.downstream.audio import load_audio

    rows = corpus_rows(tmp_path / "c")
    write_wav(tmp_path / "c" / "audio" / "long.wav", seed=7, seconds=0.5, rate=48000, channels=2)
    rows += [{"path": "long.wav", "label": "fear", "speaker": "spk0", "start": 0.0, "end": 0.1},
             {"path": "long.wav", "label": "sad", "speaker": "spk0", "start": 0.1, "end": 0.35}]
    path = task_file(tmp_path / "c", "segments", rows)
    out = tmp_path / "segments.csv"
    assert main(["--task-file", str(path), "--manifest", "segments", "--out", str(out)]) == 0
    written = {r["key"]: r for r in csv.DictReader(out.open())}
    assert (written["long.wav@0.1-0.35"]["start"], written["long.wav@0.1-0.35"]["end"]) == ("0.1", "0.35")
    task = make_task("segments")
    first, second = (next(u for u in task.utterances if u.key == k) for k in ("long.wav@0-0.1", "long.wav@0.1-0.35"))
    whole = load_audio(first.path)
    assert len(load_audio(first.path, segment=first.segment)) == 1600 and len(load_audio(second.path, segment=second.segment)) == 4000
    assert len(whole) == 8000  # the whole file stays its own entry
    # The segment is that span of the file (away from its edges, where resampling sees the cut).
    segment = load_audio(second.path, segment=second.segment)
    assert abs(segment[200:-200] - whole[1600 + 200:5600 - 200]).max() < 0.02
