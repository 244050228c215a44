"""Every metric of the benchmark, over a task's ordered class list (default the paper's four), in percent.

Recognition: UAR (macro recall), accuracy and macro F1, with scikit-learn's macro averaging (the
reference evaluation code calls ``recall_score(average="macro")``). Fairness by gender, lower is
fairer: the formulas of holisticai's ``multiclass_statistical_parity`` (stored as
``demographic_parity``) and ``multiclass_equality_of_opp``, which the reference code calls, and the
reference's own ``demographic_parity`` function (stored as ``reference_demographic_parity``), a
different quantity; its training script calls none of them, so which one gave Table VI is not
known. All are written out on the per-gender confusion tensor so that no extra dependency is
needed and their edge cases are explicit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from peftser.downstream.task import EMOTIONS, GENDERS, UNKNOWN_GENDER

NUM_CLASSES = len(EMOTIONS)


def _as_indices(values: Any, name: str, num_classes: int) -> np.ndarray:
    """Class indices as a 1-D int array, or a clear error naming the argument."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of class indices, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    bad = np.flatnonzero((array < 0) | (array >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{name}[{i}] is {array[i]}, outside the class indices 0..{num_classes - 1}")
    return array.astype(np.int64)


def _as_gender_indices(genders: Sequence[str]) -> np.ndarray:
    """Genders ("female"/"male") as indices into GENDERS."""
    indices = []
    for i, gender in enumerate(genders):
        if gender not in GENDERS:
            raise ValueError(f"genders[{i}] is {gender!r}; expected one of {', '.join(GENDERS)}")
        indices.append(GENDERS.index(gender))
    return np.asarray(indices, dtype=np.int64)


def _pair(labels: Any, preds: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated labels and predictions of equal, non-zero length."""
    y = _as_indices(labels, "labels", num_classes)
    p = _as_indices(preds, "preds", num_classes)
    if len(y) != len(p):
        raise ValueError(f"labels and preds differ in length ({len(y)} vs {len(p)})")
    if len(y) == 0:
        raise ValueError("no utterances: labels and preds are empty")
    return y, p


def confusion_matrix(labels: Any, preds: Any, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts [true class, predicted class] (scikit-learn's orientation)."""
    y, p = _pair(labels, preds, num_classes)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y, p), 1)
    return matrix


def confusion_tensor(labels: Any, preds: Any, genders: Sequence[str], num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts [gender (GENDERS order), true class, predicted class]."""
    y, p = _pair(labels, preds, num_classes)
    g = _as_gender_indices(genders)
    if len(g) != len(y):
        raise ValueError(f"genders and labels differ in length ({len(g)} vs {len(y)})")
    tensor = np.zeros((len(GENDERS), num_classes, num_classes), dtype=np.int64)
    np.add.at(tensor, (g, y, p), 1)
    return tensor


def _averaged_classes(matrix: np.ndarray) -> np.ndarray:
    """Classes that occur as a label or a prediction: the ones scikit-learn's macro average uses."""
    return (matrix.sum(axis=1) + matrix.sum(axis=0)) > 0


def _uar(matrix: np.ndarray) -> float:
    support = matrix.sum(axis=1)
    recall = np.divide(np.diag(matrix), support, out=np.zeros(len(matrix)), where=support > 0)
    return 100.0 * float(recall[_averaged_classes(matrix)].mean())


def _accuracy(matrix: np.ndarray) -> float:
    return 100.0 * float(np.trace(matrix) / matrix.sum())


def _macro_f1(matrix: np.ndarray) -> float:
    # F1 = 2TP / (2TP + FP + FN); the denominator is zero only for classes that are never
    # a label nor a prediction, and those are left out of the average.
    tp = np.diag(matrix)
    denominator = matrix.sum(axis=0) + matrix.sum(axis=1)
    f1 = np.divide(2 * tp, denominator, out=np.zeros(len(matrix)), where=denominator > 0)
    return 100.0 * float(f1[_averaged_classes(matrix)].mean())


def uar(labels: Any, preds: Any, num_classes: int = NUM_CLASSES) -> float:
    """Unweighted average recall in percent.

    Averaged, like scikit-learn's ``recall_score(average="macro")``, over the classes that occur as
    a label or as a prediction: a class that is predicted but never a label counts as recall 0, a
    class that is neither is left out.
    """
    return _uar(confusion_matrix(labels, preds, num_classes))


def accuracy(labels: Any, preds: Any, num_classes: int = NUM_CLASSES) -> float:
    """Weighted accuracy (fraction of correct predictions) in percent."""
    return _accuracy(confusion_matrix(labels, preds, num_classes))


def macro_f1(labels: Any, preds: Any, num_classes: int = NUM_CLASSES) -> float:
    """Macro F1 in percent, averaged over the same classes as ``uar`` (scikit-learn's macro F1)."""
    return _macro_f1(confusion_matrix(labels, preds, num_classes))


def _demographic_parity(tensor: np.ndarray) -> float:
    per_gender = tensor.sum(axis=1)  # [gender, predicted class]
    totals = per_gender.sum(axis=1, keepdims=True)
    if np.any(totals == 0):
        return math.nan
    rates = per_gender / totals
    return 100.0 * float(np.abs(rates[0] - rates[1]).sum() / 2)


def _equality_of_odds(tensor: np.ndarray) -> float:
    if np.any(tensor.sum(axis=(1, 2)) == 0):
        return math.nan
    num_classes = tensor.shape[1]
    support = tensor.sum(axis=2, keepdims=True)  # [gender, true class, 1]
    # holisticai adds 1e-32 to every count before normalising: invisible for any observed count,
    # but for a true class with no utterance in a group it turns 0/0 into 1/C for every prediction.
    uniform = np.full(tensor.shape, 1.0 / num_classes)
    rates = np.divide(tensor, support, out=uniform, where=support > 0)
    return 100.0 * float(np.abs(rates[0] - rates[1]).sum() / (2 * num_classes))


def _reference_demographic_parity(tensor: np.ndarray) -> float:
    totals = tensor.sum(axis=(1, 2))  # utterances per gender
    if np.any(totals == 0):
        return math.nan
    present = tensor.sum(axis=(0, 2)) > 0  # the reference loops over np.unique(y_true)
    hits = np.diagonal(tensor, axis1=1, axis2=2)[:, present]  # [gender, class]: true = pred = c
    rates = hits / totals[:, None]
    return 100.0 * float(np.abs(rates[0] - rates[1]).max())


def demographic_parity(labels: Any, preds: Any, genders: Sequence[str]) -> float:
    """Statistical parity in percent: 1/2 sum_c |P(pred=c | female) - P(pred=c | male)|.

    holisticai's ``multiclass_statistical_parity`` for two groups (its "mean" and "max" aggregations
    agree for one pair). Labels are only checked, not used. NaN when one gender has no utterance:
    holisticai would see a single group and return 0 under the reference's "max" aggregation,
    which would read as perfectly fair.
    """
    return _demographic_parity(confusion_tensor(labels, preds, genders))


def equality_of_odds(labels: Any, preds: Any, genders: Sequence[str]) -> float:
    """Equality of odds in percent: 1/(2C) sum_y sum_c |P(pred=c | y, female) - P(pred=c | y, male)|.

    holisticai's ``multiclass_equality_of_opp`` for two groups, with C the task's classes (4 for the paper's;
    holisticai infers C from the classes seen, which differs only when a class is neither a label
    nor a prediction anywhere). A true class y with no utterance from one gender is handled as
    holisticai's 1e-32 offset handles it: that gender's row P(pred=c | y, g) becomes uniform (1/C
    for every c) and is compared with the other gender's row; a class absent for both genders
    contributes 0. NaN when one gender has no utterance at all (see ``demographic_parity``).
    """
    return _equality_of_odds(confusion_tensor(labels, preds, genders))


def reference_demographic_parity(labels: Any, preds: Any, genders: Sequence[str]) -> float:
    """The reference evaluation code's own ``demographic_parity``, in percent:
    max_c |P(pred=c and true=c | male) - P(pred=c and true=c | female)| over the classes that occur
    as a label. Each rate divides the gender's correct predictions of class c by all of that
    gender's utterances. Not holisticai's statistical parity (``demographic_parity`` here), though
    the reference names it so. NaN when one gender has no utterance (the reference divides by 0).
    """
    return _reference_demographic_parity(confusion_tensor(labels, preds, genders))


def _notes(tensor: np.ndarray, classes: Sequence[str], matrix: np.ndarray) -> list[str]:
    """What a reader must know to interpret the numbers: absent genders and classes."""
    notes = []
    per_gender = tensor.sum(axis=(1, 2))
    support = tensor.sum(axis=2)  # [gender, true class]
    predicted = matrix.sum(axis=0) > 0  # every utterance, those of no stated gender too
    class_support = matrix.sum(axis=1)
    for gender, count in zip(GENDERS, per_gender):
        if count == 0:
            notes.append(
                f"no utterances from {gender} speakers: demographic parity (both) and equality of odds are undefined"
            )
    for c, emotion in enumerate(classes):
        if class_support[c] == 0:
            if predicted[c]:
                notes.append(
                    f"no '{emotion}' utterances, yet '{emotion}' was predicted: UAR and macro F1 count"
                    " its recall and F1 as 0 (scikit-learn's macro average)"
                )
            else:
                notes.append(
                    f"no '{emotion}' utterances and none predicted: UAR and macro F1 average the other classes"
                )
        elif np.all(per_gender > 0):
            for g, gender in enumerate(GENDERS):
                if support[g, c] == 0:
                    notes.append(
                        f"no '{emotion}' utterances from {gender} speakers: equality of odds compares"
                        f" a uniform guess (1/{len(classes)} per class) for them, as holisticai does"
                    )
    return notes


def _finite_or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def compute_metrics(labels: Any, preds: Any, genders: Sequence[str], classes: Sequence[str] = EMOTIONS) -> dict[str, Any]:
    """All metrics of one evaluation over ``classes`` (label index = position), as stored in a run
    record (undefined fairness is None)."""
    matrix = confusion_matrix(labels, preds, len(classes))
    # Utterances whose corpus names no gender count in every metric but the fairness ones.
    known = [i for i, g in enumerate(genders) if g != UNKNOWN_GENDER]
    if len(known) == len(genders):
        tensor = confusion_tensor(labels, preds, genders, len(classes))
    else:
        y, p = _pair(labels, preds, len(classes))
        tensor = np.zeros((len(GENDERS), len(classes), len(classes)), dtype=np.int64)
        if known:
            tensor = confusion_tensor(y[known], p[known], [genders[i] for i in known], len(classes))
    return {
        "uar": _uar(matrix),
        "acc": _accuracy(matrix),
        "macro_f1": _macro_f1(matrix),
        "demographic_parity": _finite_or_none(_demographic_parity(tensor)),
        "reference_demographic_parity": _finite_or_none(_reference_demographic_parity(tensor)),
        "equality_of_odds": _finite_or_none(_equality_of_odds(tensor)),
        "confusion": matrix.tolist(),
        "n": int(matrix.sum()),
        "notes": _notes(tensor, classes, matrix),
    }


def prediction_indices(predictions: Sequence[dict[str, Any]], classes: Sequence[str] = EMOTIONS) -> tuple[np.ndarray, np.ndarray]:
    """(labels, preds) as indices into ``classes`` of a record's predictions (class names)."""
    classes = list(classes)
    labels, preds = [], []
    for i, entry in enumerate(predictions):
        for field in ("label", "pred"):
            if entry.get(field) not in classes:
                raise ValueError(f"predictions[{i}] (key {entry.get('key')!r}): {field} is {entry.get(field)!r}; "
                                 f"expected one of {', '.join(classes)}")
        labels.append(classes.index(entry["label"]))
        preds.append(classes.index(entry["pred"]))
    return np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)


def record_classes(record: dict[str, Any]) -> tuple[str, ...]:
    """The classes a record (or artifact config) was scored over; one written before records named
    them was scored over the paper's four."""
    return tuple(record.get("classes") or EMOTIONS)


def metrics_from_predictions(predictions: Sequence[dict[str, Any]], classes: Sequence[str] = EMOTIONS) -> dict[str, Any]:
    """``compute_metrics`` from a record's predictions ({"key", "label", "pred", "gender"}, class names)."""
    labels, preds = prediction_indices(predictions, classes)
    for i, entry in enumerate(predictions):
        if entry.get("gender") not in (*GENDERS, UNKNOWN_GENDER):
            raise ValueError(f"predictions[{i}] (key {entry.get('key')!r}): gender is {entry.get('gender')!r}; "
                             f"expected one of {', '.join((*GENDERS, UNKNOWN_GENDER))}")
    return compute_metrics(labels, preds, [entry["gender"] for entry in predictions], classes)


def metrics_by_group(labels: Sequence[int], preds: Sequence[int], genders: Sequence[str], groups: Sequence[str],
                     classes: Sequence[str] = EMOTIONS) -> dict[str, dict[str, Any]]:
    """``compute_metrics`` of each group's utterances (e.g. each source corpus of a pooled task),
    in the order the groups first appear."""
    if not len(labels) == len(preds) == len(genders) == len(groups):
        raise ValueError(f"labels, preds, genders and groups differ in length ({len(labels)}, {len(preds)}, {len(genders)}, {len(groups)})")
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    return {
        group: compute_metrics([labels[i] for i in idx], [preds[i] for i in idx], [genders[i] for i in idx], classes)
        for group, idx in members.items()
    }
