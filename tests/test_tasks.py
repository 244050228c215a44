"""The four corpus readers on fixture trees in the real layouts, and their folds."""

from __future__ import annotations

import re

import numpy as np
import pytest
from corpus_fixtures import (
    build_crema_d,
    build_iemocap,
    build_msp_improv,
    build_msp_podcast,
    break_some_audio,
    load_quietly,
)
from sklearn.model_selection import KFold

from peftser.downstream.audio import AudioError, load_audio
from peftser.downstream.tasks import make_task
from peftser.downstream.tasks.folds import kfold_plans
from peftser.registry import TASKS, load_builtins


pytestmark = pytest.mark.usefixtures("cache")  # each test has a cache of its own (conftest)


def reference_plan(groups, n_folds):
    """The reference split scripts: KFold(shuffle=False), then train_index[-len//5:] for dev."""
    plans = []
    for train_index, test_index in KFold(n_splits=n_folds, shuffle=False).split(groups):
        train_index, dev_index = train_index[: -len(train_index) // 5], train_index[-len(train_index) // 5 :]
        plans.append(({groups[i] for i in train_index}, {groups[i] for i in dev_index}, {groups[i] for i in test_index}))
    return plans


def assert_matches(task, expected):
    utterances = load_quietly(task)
    found = {u.key: (u.label, u.gender, u.speaker, task.group_of(u)) for u in utterances}
    assert found == expected.kept
    excluded = {k.removeprefix("excluded: "): n for k, n in task.skipped.items() if k.startswith("excluded: ")}
    assert excluded == expected.excluded
    assert all(u.path.is_file() for u in utterances)


def assert_speaker_independent(task):
    for training in task.trainings():
        train = {u.speaker for u in training.train}
        assert not train & {u.speaker for u in training.dev}
        assert not train & {u.speaker for u in training.test}
        assert not {u.speaker for u in training.dev} & {u.speaker for u in training.test}
        assert len(training.train) + len(training.dev) + len(training.test) == len(task.utterances)


def assert_reference_folds(task, groups):
    for training, (train, dev, test) in zip(task.trainings(), reference_plan(groups, len(task.trainings())), strict=True):
        assert {task.group_of(u) for u in training.train} == train
        assert {task.group_of(u) for u in training.dev} == dev
        assert {task.group_of(u) for u in training.test} == test


# -- registry ----------------------------------------------------------------------------------


def test_all_tasks_are_registered_with_19_trainings_each_family():
    load_builtins()
    real = ["iemocap", "msp_improv", "crema_d", "msp_podcast"]
    for family in (real, [f"synthetic_{n}" for n in real]):
        assert sum(len(TASKS.get(n).training_names) for n in family) == 19
    assert TASKS.get("msp_podcast").training_names == ("seed1", "seed2", "seed3")
    assert TASKS.get("msp_improv").training_names == tuple(f"fold{k}" for k in range(1, 7))


def test_fold_rule_matches_the_reference_scripts():
    sessions = [f"Session{k}" for k in range(1, 6)]
    actors = [str(a) for a in range(1001, 1092)]
    for groups in (sessions, actors, [f"session{k}" for k in range(1, 7)]):
        n_folds = 5 if len(groups) != 6 else 6
        for plan, (train, dev, test) in zip(kfold_plans(groups, n_folds), reference_plan(groups, n_folds), strict=True):
            assert (set(plan.train), set(plan.dev), set(plan.test)) == (train, dev, test)
    crema = kfold_plans(actors, 5)
    assert [len(p.test) for p in crema] == [19, 18, 18, 18, 18]
    for plan in crema:  # dev = the last 15 actors of the training part
        rest = [a for a in actors if a not in plan.test]
        assert plan.dev == tuple(rest[-15:]) and plan.train == tuple(rest[:-15])
    assert [p.seed for p in crema] == [8, 16, 24, 32, 40]
    iemocap = kfold_plans(sessions, 5)
    assert [(p.test, p.dev) for p in iemocap] == [
        (("Session1",), ("Session5",)),
        (("Session2",), ("Session5",)),
        (("Session3",), ("Session5",)),
        (("Session4",), ("Session5",)),
        (("Session5",), ("Session4",)),
    ]


# -- IEMOCAP -----------------------------------------------------------------------------------


def test_iemocap_labels_genders_speakers(tmp_path):
    expected = build_iemocap(tmp_path / "IEMOCAP_full_release")
    task = make_task("iemocap", data_root=tmp_path)
    assert_matches(task, expected)
    by_key = {u.key: u for u in task.utterances}
    # exc is merged into happy; the gender is the ID's last part, not the dialog's lead.
    assert by_key["Ses01F_impro01_M013"].label == "happy"
    assert by_key["Ses01F_impro01_M013"].gender == "male"
    assert by_key["Ses01F_impro01_M013"].speaker == "Ses01M"
    assert by_key["Ses03M_script01_1_F005"].gender == "female"
    assert task.skipped == {"excluded: label 'fru'": 5, "excluded: label 'xxx'": 5, "excluded: label 'oth'": 5}


def test_iemocap_folds(tmp_path):
    build_iemocap(tmp_path / "IEMOCAP_full_release")
    task = make_task("iemocap", data_root=tmp_path)
    load_quietly(task)
    assert [t.name for t in task.trainings()] == list(task.training_names)
    assert [t.seed for t in task.trainings()] == [8, 16, 24, 32, 40]
    assert_reference_folds(task, [f"Session{k}" for k in range(1, 6)])
    assert_speaker_independent(task)
    fold2 = task.training("fold2")
    assert {u.speaker for u in fold2.test} == {"Ses02F", "Ses02M"}
    assert {u.speaker for u in fold2.dev} == {"Ses05F", "Ses05M"}


def test_iemocap_audio_loads_as_16k_mono(tmp_path):
    build_iemocap(tmp_path / "IEMOCAP_full_release")
    task = make_task("iemocap", data_root=tmp_path)
    for utt in load_quietly(task)[:4]:
        wave = load_audio(utt.path)
        assert wave.dtype == np.float32 and wave.ndim == 1
        assert len(wave) == pytest.approx(0.06 * 16000, abs=2)


def test_count_differing_from_the_release_warns_with_both_numbers(tmp_path):
    build_iemocap(tmp_path / "IEMOCAP_full_release")
    with pytest.warns(UserWarning, match=r"kept 35 utterances .* expected 5531"):
        make_task("iemocap", data_root=tmp_path).utterances


def test_bad_label_line_names_file_and_line(tmp_path):
    root = tmp_path / "IEMOCAP_full_release"
    build_iemocap(root)
    label_file = root / "Session2" / "dialog" / "EmoEvaluation" / "Ses02F_impro01.txt"
    lines = label_file.read_text().splitlines(keepends=True)
    lines.insert(3, "[1.0 - 2.0]\tSes02F_impro01_F099 neu\n")  # a space instead of tabs
    label_file.write_text("".join(lines))
    with pytest.raises(ValueError, match=rf"{label_file}:4: cannot parse label line"):
        make_task("iemocap", data_root=tmp_path).utterances


def test_missing_corpus_root_names_path_and_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"IEMOCAP_full_release does not exist; expected the IEMOCAP layout"):
        make_task("iemocap", data_root=tmp_path)
    with pytest.raises(ValueError, match="--data-root"):
        make_task("crema_d")
    (tmp_path / "MSP-PODCAST").mkdir()
    with pytest.raises(FileNotFoundError, match=r"labels_concensus.csv is missing .* Audios/<FileName>"):
        make_task("msp_podcast", data_root=tmp_path).utterances


def test_task_root_overrides_the_data_root(tmp_path):
    expected = build_msp_improv(tmp_path / "my copy")
    task = make_task("msp_improv", data_root=tmp_path / "nowhere", root=tmp_path / "my copy")
    assert {u.key for u in load_quietly(task)} == set(expected.kept)


@pytest.mark.filterwarnings("ignore:.*expected 5531")
def test_bad_audio_is_skipped_counted_and_warned(tmp_path):
    root = tmp_path / "IEMOCAP_full_release"
    build_iemocap(root)
    break_some_audio(root)
    task = make_task("iemocap", data_root=tmp_path)
    with pytest.warns(UserWarning) as caught:
        utterances = task.utterances
    messages = [str(w.message) for w in caught]
    assert any(re.search(r"skipped 2 utterance\(s\) with unusable audio", m) for m in messages)
    assert any(re.search(r"kept 1 utterance\(s\) with flawed audio \(1 silent\)", m) for m in messages)
    assert len(utterances) == 33  # the silent clip is kept: the reference scores it
    assert "Ses01M_script01_1_M006" in {u.key for u in utterances}
    assert {k: n for k, n in task.skipped.items() if k.startswith("bad audio")} == {
        "bad audio: missing": 1,
        "bad audio: empty": 1,
    }
    assert {e.path.name for e in task.bad_audio} == {"Ses01F_impro01_F000.wav", "Ses01F_impro01_F001.wav"}
    assert [e.path.name for e in task.flawed_audio] == ["Ses01M_script01_1_M006.wav"]


def test_strict_mode_makes_bad_audio_an_error(tmp_path):
    root = tmp_path / "IEMOCAP_full_release"
    build_iemocap(root)
    break_some_audio(root)
    with pytest.raises(AudioError, match=r"Ses01F_impro01_F000.wav: audio file is missing"):
        make_task("iemocap", data_root=tmp_path, strict=True).utterances


# -- MSP-IMPROV --------------------------------------------------------------------------------


@pytest.mark.parametrize("label_file", ["Evalution.txt", "Evaluation.txt"])
def test_msp_improv_labels_and_sessions(tmp_path, label_file):
    expected = build_msp_improv(tmp_path / "MSP-IMPROV", label_file=label_file)
    task = make_task("msp_improv", data_root=tmp_path)
    assert_matches(task, expected)
    assert task.skipped == {"excluded: label 'O'": 6, "excluded: label 'X'": 6}
    by_key = {u.key: u for u in task.utterances}
    utt = by_key["MSP-IMPROV-S01A-F03-P-FM00"]
    assert (utt.label, utt.gender, utt.speaker, task.group_of(utt)) == ("angry", "female", "F03", "session3")
    assert utt.path == tmp_path / "MSP-IMPROV" / "Audio" / "session3" / "S01A" / "P" / "MSP-IMPROV-S01A-F03-P-FM00.wav"


def test_msp_improv_folds(tmp_path):
    build_msp_improv(tmp_path / "MSP-IMPROV")
    task = make_task("msp_improv", data_root=tmp_path)
    load_quietly(task)
    assert [t.seed for t in task.trainings()] == [8, 16, 24, 32, 40, 48]
    assert_reference_folds(task, [f"session{k}" for k in range(1, 7)])
    assert_speaker_independent(task)
    assert {u.speaker for u in task.training("fold6").dev} == {"F05", "M05"}


def test_msp_improv_bad_line(tmp_path):
    root = tmp_path / "MSP-IMPROV"
    build_msp_improv(root)
    (root / "Evalution.txt").write_text((root / "Evalution.txt").read_text() + "UTD-IMPROV-garbled line\n")
    with pytest.raises(ValueError, match=r"Evalution.txt:\d+: cannot parse label line 'UTD-IMPROV-garbled line'"):
        make_task("msp_improv", data_root=tmp_path).utterances


# -- CREMA-D -----------------------------------------------------------------------------------


@pytest.mark.parametrize("label_source", ["multimodal_vote", "voice_vote", "filename"])
def test_crema_d_label_sources(tmp_path, label_source):
    expected = build_crema_d(tmp_path / "CREMA-D", label_source=label_source)
    options = {} if label_source == "multimodal_vote" else {"label_source": label_source}
    task = make_task("crema_d", data_root=tmp_path, **options)
    assert_matches(task, expected)
    assert "1076_MTI_SAD_XX" not in {u.key for u in task.utterances}
    assert task.skipped["excluded: known bad clip 1076_MTI_SAD_XX (no signal)"] == 1
    assert not any(k.startswith("bad audio") for k in task.skipped)


def test_crema_d_default_drops_ties_and_uses_multimodal_votes(tmp_path):
    build_crema_d(tmp_path / "CREMA-D")
    task = make_task("crema_d", data_root=tmp_path)
    by_key = {u.key: u for u in load_quietly(task)}
    assert "1010_IEO_ANG_HI" not in by_key  # MultiModalVote "A:H"
    assert "1015_IEO_NEU_XX" not in by_key  # MultiModalVote "F"
    assert task.skipped["excluded: tie vote"] == 9
    assert task.skipped["excluded: label 'F'"] == 9
    # Intended neutral (file name), perceived sad (MultiModalVote): the vote wins.
    assert by_key["1002_DFA_NEU_XX"].label == "sad"
    assert by_key["1002_DFA_NEU_XX"].gender == "female" and by_key["1002_DFA_NEU_XX"].speaker == "1002"
    assert by_key["1001_DFA_FEA_HI"].gender == "male"  # fear intended, happy perceived: kept


def test_crema_d_actor_folds(tmp_path):
    build_crema_d(tmp_path / "CREMA-D")
    task = make_task("crema_d", data_root=tmp_path)
    load_quietly(task)
    assert_reference_folds(task, [str(a) for a in range(1001, 1092)])
    assert_speaker_independent(task)
    fold1 = task.training("fold1")
    assert {u.speaker for u in fold1.test} == {str(a) for a in range(1001, 1020)}
    assert {u.speaker for u in fold1.dev} == {str(a) for a in range(1077, 1092)}


def test_crema_d_rejects_an_unknown_option_value(tmp_path):
    build_crema_d(tmp_path / "CREMA-D")
    with pytest.raises(ValueError, match=r"label_source='face_vote' must be one of multimodal_vote, voice_vote, filename"):
        make_task("crema_d", data_root=tmp_path, label_source="face_vote")
    with pytest.raises(ValueError, match=r"has no option 'labels'"):
        make_task("crema_d", data_root=tmp_path, labels="filename")


def test_crema_d_actor_missing_from_demographics(tmp_path):
    root = tmp_path / "CREMA-D"
    build_crema_d(root)
    demographics = root / "VideoDemographics.csv"
    demographics.write_text("".join(line for line in demographics.open() if not line.startswith("1050,")))
    with pytest.raises(ValueError, match=r"VideoDemographics.csv: no row for actor 1050"):
        make_task("crema_d", data_root=tmp_path).utterances


# -- MSP-Podcast -------------------------------------------------------------------------------


def test_msp_podcast_labels_and_official_split(tmp_path):
    expected = build_msp_podcast(tmp_path / "MSP-PODCAST")
    task = make_task("msp_podcast", data_root=tmp_path)
    assert_matches(task, expected)
    assert task.skipped == {
        "excluded: split 'Test2'": 2,
        "excluded: label 'U'": 1,
        "excluded: label 'X'": 1,
        "excluded: label 'C'": 1,
        "excluded: unknown speaker or gender": 3,
    }
    trainings = task.trainings()
    assert [(t.name, t.seed) for t in trainings] == [("seed1", 8), ("seed2", 16), ("seed3", 24)]
    for t in trainings:  # the same split every time
        assert {task.group_of(u) for u in t.train} == {"Train"}
        assert {task.group_of(u) for u in t.dev} == {"Validation"}
        assert {task.group_of(u) for u in t.test} == {"Test1"}
        assert t.test == trainings[0].test and t.train == trainings[0].train
    assert_speaker_independent(task)


def test_msp_podcast_bad_gender_names_file_and_line(tmp_path):
    root = tmp_path / "MSP-PODCAST"
    build_msp_podcast(root)
    labels = root / "Labels" / "labels_concensus.csv"
    labels.write_text(labels.read_text() + "MSP-PODCAST_0099_0001.wav,N,4,4,4,12,F,Train\n")
    with pytest.raises(ValueError, match=r"labels_concensus.csv:21: cannot parse"):
        make_task("msp_podcast", data_root=tmp_path).utterances


def test_msp_podcast_missing_column(tmp_path):
    root = tmp_path / "MSP-PODCAST"
    build_msp_podcast(root)
    labels = root / "Labels" / "labels_concensus.csv"
    labels.write_text(labels.read_text().replace("Split_Set", "Partition"))
    with pytest.raises(ValueError, match=r"labels_concensus.csv: missing column\(s\) \['Split_Set'\]"):
        make_task("msp_podcast", data_root=tmp_path).utterances


def test_crema_d_native_classes_keep_fear_and_disgust(tmp_path):
    """``classes=native`` gives CREMA-D's six classes, in order, without reading data; fear votes are kept."""
    from peftser.downstream.tasks import task_classes

    assert task_classes("crema_d", {"classes": "native"}) == ("neutral", "happy", "sad", "angry", "fear", "disgust")
    assert task_classes("crema_d") == ("neutral", "happy", "sad", "angry")
    build_crema_d(tmp_path / "CREMA-D")
    task = make_task("crema_d", data_root=tmp_path, classes="native")
    by_key = {u.key: u for u in load_quietly(task)}
    assert sum(u.label == "fear" for u in by_key.values()) == 9  # MultiModalVote "F", excluded by the paper's four
    assert "excluded: label 'F'" not in task.skipped and task.skipped["excluded: tie vote"] == 9
    intended = make_task("crema_d", data_root=tmp_path, classes="native", label_source="filename")
    assert {u.label for u in load_quietly(intended)} == set(task.classes)
