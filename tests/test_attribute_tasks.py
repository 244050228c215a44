"""Attribute tasks: each corpus' own ratings read on its own scale from fixture trees in the real
layouts, unrated utterances counted, bad ratings and dimension names refused, synthetic twins."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from corpus_fixtures import build_iemocap, build_msp_improv, build_msp_podcast

from peftser.downstream.tasks import make_task, task_classes


pytestmark = pytest.mark.usefixtures("cache")


def utterances(task):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return task.utterances


def test_iemocap_dims_keeps_every_rated_turn_with_its_valence_arousal_dominance(tmp_path):
    expected = build_iemocap(tmp_path / "iemocap")  # every line is [V 2.5, A 3.0, D 2.5]
    task = make_task("iemocap_dims", root=tmp_path / "iemocap")
    kept = utterances(task)
    # All 50 turns, the 15 whose category is outside the four (xxx, fru, oth) too.
    assert len(kept) == 50 and len(expected.kept) == 35
    assert task.classes == ("arousal", "valence", "dominance")
    assert {u.ratings for u in kept} == {(3.0, 2.5, 2.5)}
    assert {u.label for u in kept if u.key in expected.kept} == {"neutral", "happy", "sad", "angry"}
    assert not task.skipped
    # The same five session folds as the categorical task.
    categorical = make_task("iemocap", root=tmp_path / "iemocap")
    utterances(categorical)
    for mine, theirs in zip(task.trainings(), categorical.trainings()):
        assert mine.name == theirs.name and mine.seed == theirs.seed
        assert {u.speaker for u in mine.test} == {u.speaker for u in theirs.test}


def test_msp_improv_dims_reads_the_consensus_lines_a_v_d(tmp_path):
    build_msp_improv(tmp_path / "improv")  # consensus A:2.8; V:3.4; D:2.8 on every line
    task = make_task("msp_improv_dims", root=tmp_path / "improv", dims="valence")
    kept = utterances(task)
    assert len(kept) == 42 and task.classes == ("valence",)
    assert {u.ratings for u in kept} == {(3.4,)}
    assert [t.name for t in task.trainings()] == [f"fold{k}" for k in range(1, 7)]


def test_msp_podcast_dims_reads_emoact_emoval_emodom_on_its_1_to_7_scale(tmp_path):
    build_msp_podcast(tmp_path / "podcast")  # EmoAct 4.2, EmoVal 3.8, EmoDom 4.0
    task = make_task("msp_podcast_dims", root=tmp_path / "podcast", dims="dominance,arousal")
    kept = utterances(task)
    # 19 rows: Test2 (2) and unknown speakers (3) left out; the U, X and C rows are rated, so kept.
    assert len(kept) == 14
    assert task.classes == ("arousal", "dominance") and task.scale == (1.0, 7.0)
    assert {u.ratings for u in kept} == {(4.2, 4.0)}
    assert task.skipped == {"excluded: split 'Test2'": 2, "excluded: unknown speaker or gender": 3}


def _append_iemocap_line(root, ratings: str, utt: str = "Ses01F_impro01_F099"):
    label_file = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    with open(label_file, "a") as handle:
        handle.write(f"[30.0000 - 31.0000]\t{utt}\tneu\t[{ratings}]\n\n")
    return label_file


def test_an_unrated_turn_is_counted_and_skipped(tmp_path):
    build_iemocap(tmp_path / "iemocap")
    _append_iemocap_line(tmp_path / "iemocap", ", , ")
    task = make_task("iemocap_dims", root=tmp_path / "iemocap")
    assert len(utterances(task)) == 50
    assert task.skipped == {"no rating: arousal": 1}


@pytest.mark.parametrize("ratings, what", [("2.5, 5.5, 2.5", "outside the iemocap_dims scale 1-5"),
                                           ("2.5, nan, 2.5", "outside the iemocap_dims scale 1-5"),
                                           ("2.5, high, 2.5", "is not a number")])
def test_a_rating_off_the_scale_or_not_a_number_stops_reading_with_file_and_line(tmp_path, ratings, what):
    build_iemocap(tmp_path / "iemocap")
    label_file = _append_iemocap_line(tmp_path / "iemocap", ratings)
    line = len(label_file.read_text().splitlines()) - 1
    with pytest.raises(ValueError, match=re.escape(f"{label_file}:{line}: arousal rating")) as error:
        utterances(make_task("iemocap_dims", root=tmp_path / "iemocap"))
    assert what in str(error.value) and "\n" not in str(error.value)


def test_a_podcast_rating_of_6_is_on_its_scale_and_of_7_5_is_not(tmp_path):
    build_msp_podcast(tmp_path / "podcast")
    labels = tmp_path / "podcast" / "Labels" / "labels_concensus.csv"
    labels.write_text(labels.read_text().replace(",4.2,", ",6.0,", 1))
    assert max(u.ratings[0] for u in utterances(make_task("msp_podcast_dims", root=tmp_path / "podcast"))) == 6.0
    labels.write_text(labels.read_text().replace(",6.0,", ",7.5,", 1))
    with pytest.raises(ValueError, match=r"labels_concensus.csv:2: arousal rating '7.5' is outside the msp_podcast_dims scale 1-7"):
        utterances(make_task("msp_podcast_dims", root=tmp_path / "podcast"))


def test_a_dimension_the_task_does_not_have_is_refused_before_any_data_is_read(tmp_path):
    with pytest.raises(ValueError, match="task 'iemocap_dims' has no dimension 'happiness'; its dimensions: arousal, valence, dominance"):
        task_classes("iemocap_dims", {"dims": "arousal,happiness"})
    with pytest.raises(ValueError, match="has no dimension 'energy'"):
        make_task("msp_podcast_dims", root=tmp_path, dims="energy")


def test_synthetic_twins_rate_arousal_by_loudness_and_keep_the_categorical_corpus():
    dims = make_task("synthetic_iemocap_dims")
    categorical = make_task("synthetic_iemocap")
    assert dims.root == categorical.root  # one generated corpus, read two ways
    rated, labelled = utterances(dims), utterances(categorical)
    assert [(u.key, u.label, u.path) for u in rated] == [(u.key, u.label, u.path) for u in labelled]
    ratings = np.array([u.ratings for u in rated])
    assert ratings.min() >= 1.0 and ratings.max() <= 5.0 and ratings.std(axis=0).min() > 0.5
    by_class = {c: ratings[[u.label == c for u in rated]].mean(axis=0) for c in ("neutral", "happy", "sad", "angry")}
    arousal, valence = 0, 1
    assert by_class["angry"][arousal] > by_class["neutral"][arousal] > by_class["sad"][arousal]
    assert by_class["happy"][valence] > by_class["neutral"][valence] > by_class["sad"][valence]


def _grid(tmp_path, text: str):
    from peftser.benchmark.grids import load_grid

    path = tmp_path / "g.yaml"
    path.write_text(text)
    return load_grid(path)


def test_a_grid_naming_a_missing_dimension_or_pairing_an_attribute_task_with_a_categorical_one_is_refused(tmp_path):
    from peftser.benchmark.grids import GridError

    head = "upstreams: [demo_whisper_tiny]\nmethods: [downstream]\n"
    grid = _grid(tmp_path, head + "tasks: [{task: synthetic_iemocap_dims, args: {dims: 'valence'}}]\n")
    assert [c.task_args for c in grid.cells()][0] == {"dims": "valence"}
    with pytest.raises(GridError, match="task 'synthetic_iemocap_dims' has no dimension 'pleasure'"):
        _grid(tmp_path, head + "tasks: [{task: synthetic_iemocap_dims, args: {dims: 'pleasure'}}]\n")
    # Transfer pairs are formed within one kind: one attribute and one categorical task make none.
    with pytest.raises(GridError, match="needs at least two corpora of one kind"):
        _grid(tmp_path, head + "tasks: [synthetic_iemocap_dims, synthetic_iemocap]\nevaluate: {cross_corpus: true}\n")


def test_the_manifest_of_an_attribute_task_lists_each_rating_and_summarises_each_dimension(tmp_path):
    import csv

    from peftser.downstream.manifest import write_manifest

    build_msp_podcast(tmp_path / "podcast")
    task = make_task("msp_podcast_dims", root=tmp_path / "podcast")
    utterances(task)
    text = write_manifest(task, tmp_path / "m.csv")
    rows = list(csv.DictReader(open(tmp_path / "m.csv")))
    assert len(rows) == 14 and {(r["arousal"], r["valence"], r["dominance"]) for r in rows} == {("4.2", "3.8", "4")}
    assert re.search(r"\| arousal\s+\|\s+14 \|\s+4.200 \|\s+0.000 \|\s+4.200 \|\s+4.200 \| 1-7", text)
