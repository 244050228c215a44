"""Metrics against hand-computed cases, scikit-learn, and the holisticai fairness formulas."""

import json
import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from peftser.benchmark.metrics import (
    accuracy,
    compute_metrics,
    confusion_matrix,
    confusion_tensor,
    demographic_parity,
    equality_of_odds,
    macro_f1,
    metrics_from_predictions,
    reference_demographic_parity,
    uar,
)
from peftser.downstream.task import EMOTIONS

# Imbalanced labels, one class ("sad") never recognised.
LABELS = [0, 0, 0, 0, 1, 1, 2, 3]
PREDS = [0, 0, 0, 1, 1, 1, 0, 3]

# Two genders, same labels, different errors; "sad" and "angry" absent for both.
F_LABELS, F_PREDS = [0, 0, 1, 1], [0, 1, 1, 1]
M_LABELS, M_PREDS = [0, 0, 1, 1], [0, 0, 0, 1]


def by_gender(female: tuple[list, list], male: tuple[list, list]) -> tuple[list, list, list]:
    labels = female[0] + male[0]
    preds = female[1] + male[1]
    genders = ["female"] * len(female[0]) + ["male"] * len(male[0])
    return labels, preds, genders


def test_confusion_matrix_rows_are_true_classes():
    expected = [[3, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]
    assert confusion_matrix(LABELS, PREDS).tolist() == expected


def test_recognition_metrics_by_hand():
    # recalls 3/4, 2/2, 0/1, 1/1; F1 = 2TP / (2TP + FP + FN) = 6/8, 4/5, 0, 1.
    assert uar(LABELS, PREDS) == pytest.approx(100 * (0.75 + 1 + 0 + 1) / 4)
    assert accuracy(LABELS, PREDS) == pytest.approx(100 * 6 / 8)
    assert macro_f1(LABELS, PREDS) == pytest.approx(100 * (0.75 + 0.8 + 0 + 1) / 4)


@pytest.mark.parametrize("seed", range(20))
def test_recognition_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    labels = rng.integers(0, 4, n)
    preds = np.where(rng.random(n) < 0.5, labels, rng.integers(0, 4, n))
    if seed % 4 == 0:  # a class that is predicted but never a label
        keep = labels != 2
        labels, preds = labels[keep], preds[keep]
    if seed % 4 == 1:  # a class that is neither label nor prediction
        keep = (labels != 3) & (preds != 3)
        labels, preds = labels[keep], preds[keep]
    assert uar(labels, preds) == pytest.approx(100 * recall_score(labels, preds, average="macro", zero_division=0))
    assert macro_f1(labels, preds) == pytest.approx(100 * f1_score(labels, preds, average="macro", zero_division=0))
    assert accuracy(labels, preds) == pytest.approx(100 * accuracy_score(labels, preds))


def test_fairness_by_hand():
    labels, preds, genders = by_gender((F_LABELS, F_PREDS), (M_LABELS, M_PREDS))
    # P(pred | female) = (1/4, 3/4, 0, 0), P(pred | male) = (3/4, 1/4, 0, 0): 1/2 (1/2 + 1/2).
    assert demographic_parity(labels, preds, genders) == pytest.approx(50.0)
    # Rows P(pred | y, g): y=neutral (1/2, 1/2) vs (1, 0); y=happy (0, 1) vs (1/2, 1/2); sad and
    # angry absent for both (uniform vs uniform, 0). Sum of |differences| 2, over 2C = 8.
    assert equality_of_odds(labels, preds, genders) == pytest.approx(25.0)


def test_confusion_tensor_is_gender_true_pred():
    labels, preds, genders = by_gender((F_LABELS, F_PREDS), (M_LABELS, M_PREDS))
    tensor = confusion_tensor(labels, preds, genders)
    assert tensor.shape == (2, 4, 4)
    assert tensor[0, 0].tolist() == [1, 1, 0, 0]  # female neutral: one right, one as happy
    assert tensor[1, 1].tolist() == [1, 1, 0, 0]  # male happy: one as neutral, one right
    assert tensor.sum() == len(labels)


def test_class_missing_for_one_gender_counts_as_uniform_row_and_is_noted():
    labels, preds, genders = by_gender(([0, 1, 2], [0, 1, 2]), ([0, 1], [0, 0]))
    # Male has no "sad": holisticai's 1e-32 offset makes its row uniform (1/4 each) against the
    # female row (0, 0, 1, 0): 1/4 + 1/4 + 3/4 + 1/4 = 1.5. Happy: (0, 1) vs (1, 0) = 2.
    # Skipping the row instead would give 2/8 = 25 %.
    assert equality_of_odds(labels, preds, genders) == pytest.approx(100 * 3.5 / 8)
    # P(pred | female) = (1/3, 1/3, 1/3, 0), P(pred | male) = (1, 0, 0, 0).
    assert demographic_parity(labels, preds, genders) == pytest.approx(100 * 2 / 3)
    notes = compute_metrics(labels, preds, genders)["notes"]
    assert any("no 'sad' utterances from male speakers" in note for note in notes)
    assert not any("female" in note for note in notes)


def test_perfect_predictions_are_fair_when_genders_share_label_distribution():
    labels, preds, genders = by_gender(([0, 1, 2, 3], [0, 1, 2, 3]), ([3, 2, 1, 0], [3, 2, 1, 0]))
    metrics = compute_metrics(labels, preds, genders)
    assert metrics["uar"] == metrics["acc"] == metrics["macro_f1"] == 100.0
    assert metrics["demographic_parity"] == 0.0
    assert metrics["equality_of_odds"] == 0.0
    assert metrics["notes"] == []


def test_perfect_predictions_keep_demographic_parity_of_the_labels():
    # Equality of odds conditions on the true class, demographic parity does not.
    labels, preds, genders = by_gender(([0, 0, 0, 1], [0, 0, 0, 1]), ([1, 1, 1, 0], [1, 1, 1, 0]))
    assert equality_of_odds(labels, preds, genders) == 0.0
    assert demographic_parity(labels, preds, genders) == pytest.approx(50.0)


def _statistical_parity_written_out(labels, preds, genders):
    """holisticai's multiclass statistical parity for two groups: 1/2 sum_c |P(pred=c|f) - P(pred=c|m)|."""
    preds, genders = np.asarray(preds), np.asarray(genders)
    rate = {g: [np.mean(preds[genders == g] == c) for c in range(len(EMOTIONS))] for g in ("female", "male")}
    return 100 * 0.5 * sum(abs(f - m) for f, m in zip(rate["female"], rate["male"]))


def _reference_demographic_parity_written_out(labels, preds, genders):
    """The reference evaluation code's demographic_parity, line for line (classes = np.unique(y_true))."""
    y_true, y_pred, sensitive = np.asarray(labels), np.asarray(preds), np.asarray(genders)
    classes = np.unique(y_true)
    group1, group2 = np.zeros(len(classes)), np.zeros(len(classes))
    for i, c in enumerate(classes):
        group1[i] = np.sum(y_pred[np.logical_and(sensitive == "male", y_true == c)] == c)
        group2[i] = np.sum(y_pred[np.logical_and(sensitive == "female", y_true == c)] == c)
    return 100 * np.max(np.abs(group1 / np.sum(sensitive == "male") - group2 / np.sum(sensitive == "female")))


@pytest.mark.parametrize("seed", range(6))
def test_both_parity_metrics_equal_their_formulas_written_out(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 200))
    labels = rng.integers(0, 3 if seed % 2 else 4, n)  # odd seeds: a class never a label
    preds = np.where(rng.random(n) < 0.6, labels, rng.integers(0, 4, n))
    genders = list(rng.choice(["female", "male"], n, p=[0.3, 0.7]))
    genders[:2] = ["female", "male"]
    metrics = compute_metrics(labels, preds, genders)
    assert metrics["demographic_parity"] == pytest.approx(_statistical_parity_written_out(labels, preds, genders))
    assert metrics["reference_demographic_parity"] == pytest.approx(
        _reference_demographic_parity_written_out(labels, preds, genders)
    )
    assert reference_demographic_parity(labels, preds, genders) == pytest.approx(metrics["reference_demographic_parity"])


def test_the_two_parity_metrics_differ():
    # Same predictions per gender, different correctness: statistical parity 0, the reference's 50.
    labels, preds, genders = [0, 1, 1, 0], [0, 1, 0, 1], ["female", "female", "male", "male"]
    assert demographic_parity(labels, preds, genders) == 0.0
    assert reference_demographic_parity(labels, preds, genders) == pytest.approx(50.0)


def test_one_gender_only_leaves_fairness_undefined_not_zero():
    labels, preds, genders = [0, 1, 2, 3], [0, 1, 1, 3], ["female"] * 4
    assert math.isnan(demographic_parity(labels, preds, genders))
    assert math.isnan(equality_of_odds(labels, preds, genders))
    metrics = compute_metrics(labels, preds, genders)
    assert metrics["demographic_parity"] is None and metrics["equality_of_odds"] is None
    assert metrics["reference_demographic_parity"] is None
    assert any("no utterances from male speakers" in note for note in metrics["notes"])
    json.dumps(metrics, allow_nan=False)  # a record stays strict JSON


def test_absent_class_is_noted():
    genders = ["female"] * 3 + ["male"] * 3
    metrics = compute_metrics([0, 1, 3, 0, 1, 3], [0, 1, 2, 0, 1, 3], genders)
    assert any(note.startswith("no 'sad' utterances, yet 'sad' was predicted") for note in metrics["notes"])
    metrics = compute_metrics([0, 1, 3, 0, 1, 3], [0, 1, 3, 0, 1, 3], genders)
    assert any(note.startswith("no 'sad' utterances and none predicted") for note in metrics["notes"])


def test_compute_metrics_record_fields():
    labels, preds, genders = by_gender((F_LABELS, F_PREDS), (M_LABELS, M_PREDS))
    metrics = compute_metrics(np.array(labels), np.array(preds), genders)
    fields = {"uar", "acc", "macro_f1", "demographic_parity", "equality_of_odds", "reference_demographic_parity",
              "confusion", "n", "notes"}
    assert set(metrics) == fields
    assert metrics["n"] == 8
    assert metrics["confusion"] == [[3, 1, 0, 0], [1, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert metrics["uar"] == pytest.approx(75.0)  # recall 3/4 for both classes present
    assert metrics["demographic_parity"] == pytest.approx(50.0)
    assert metrics["equality_of_odds"] == pytest.approx(25.0)
    # P(pred = true = c | g): neutral f 1/4, m 2/4; happy f 2/4, m 1/4: the largest gap is 1/4.
    assert metrics["reference_demographic_parity"] == pytest.approx(25.0)
    assert json.loads(json.dumps(metrics)) == metrics


def test_metrics_from_predictions_equals_compute_metrics():
    labels, preds, genders = by_gender(([0, 1, 2, 3, 3], [0, 1, 1, 3, 2]), ([0, 1, 2, 2], [0, 0, 2, 2]))
    predictions = [
        {"key": f"utt{i}", "label": EMOTIONS[y], "pred": EMOTIONS[p], "gender": g}
        for i, (y, p, g) in enumerate(zip(labels, preds, genders))
    ]
    assert metrics_from_predictions(predictions) == compute_metrics(labels, preds, genders)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"key": "u7", "label": "excited", "pred": "happy", "gender": "male"}, "u7.*label is 'excited'"),
        ({"key": "u7", "label": "happy", "pred": "calm", "gender": "male"}, "u7.*pred is 'calm'"),
        ({"key": "u7", "label": "happy", "pred": "happy", "gender": "M"}, "u7.*gender is 'M'"),
    ],
)
def test_metrics_from_predictions_names_the_bad_entry(entry, message):
    good = {"key": "u1", "label": "sad", "pred": "sad", "gender": "female"}
    with pytest.raises(ValueError, match=message):
        metrics_from_predictions([good, entry])


@pytest.mark.parametrize(
    ("labels", "preds", "genders", "error", "message"),
    [
        ([0, 1], [0], ["female", "male"], ValueError, "differ in length"),
        ([0, 4], [0, 1], ["female", "male"], ValueError, r"labels\[1\] is 4"),
        ([0.0, 1.0], [0, 1], ["female", "male"], TypeError, "labels must hold integer"),
        ([0, 1], [0, 1], ["female", "other"], ValueError, r"genders\[1\] is 'other'"),
        ([0, 1], [0, 1], ["female"], ValueError, "genders and labels differ"),
        ([], [], [], ValueError, "no utterances"),
    ],
)
def test_bad_input_is_a_clear_error(labels, preds, genders, error, message):
    with pytest.raises(error, match=message):
        compute_metrics(labels, preds, genders)
