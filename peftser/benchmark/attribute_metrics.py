"""The metrics of an attribute task, per dimension, on the corpus' own rating scale.

CCC (concordance correlation coefficient, Lin 1989; the measure the MSP-Podcast challenges rank
attribute systems by), Pearson's r and RMSE, plus the mean CCC over the dimensions, the model
selection and leaderboard figure. Fairness by gender: the absolute gap between female and male
speakers' CCC and RMSE per dimension (lower is fairer). Population moments throughout, as the
challenges compute CCC; written out here (a few lines of numpy) so that a record's numbers
recompute from its stored predictions with nothing but numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from peftser.downstream.task import GENDERS


def ccc(truth: Sequence[float], pred: Sequence[float]) -> float:
    """2 cov / (var_t + var_p + (mean_t - mean_p)^2) with population moments; NaN when both are constant and equal."""
    t, p = np.asarray(truth, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    denominator = t.var() + p.var() + (t.mean() - p.mean()) ** 2
    return float(2.0 * np.mean((t - t.mean()) * (p - p.mean())) / denominator) if denominator > 0 else math.nan


def pearson(truth: Sequence[float], pred: Sequence[float]) -> float:
    """Pearson's correlation; NaN when either side is constant."""
    t, p = np.asarray(truth, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    spread = t.std() * p.std()
    return float(np.mean((t - t.mean()) * (p - p.mean())) / spread) if spread > 0 else math.nan


def rmse(truth: Sequence[float], pred: Sequence[float]) -> float:
    """Root mean squared error, in the ratings' units."""
    t, p = np.asarray(truth, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def _finite_or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _gap(values: dict[str, float]) -> float | None:
    if any(g not in values or math.isnan(values[g]) for g in GENDERS):
        return None
    return abs(values[GENDERS[0]] - values[GENDERS[1]])


def attribute_metrics(truth: Any, pred: Any, genders: Sequence[str], dimensions: Sequence[str]) -> dict[str, Any]:
    """Every metric of one evaluation: ``truth`` and ``pred`` [N, D] on the corpus' scale, in the
    order of ``dimensions``; per-dimension dicts ``ccc``, ``r``, ``rmse``, ``ccc_gap``, ``rmse_gap``,
    and ``mean_ccc`` (undefined values are None, with a note)."""
    t, p = np.asarray(truth, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    if t.ndim != 2 or t.shape != p.shape or t.shape[1] != len(dimensions):
        raise ValueError(f"ratings {t.shape} and predictions {p.shape} must both be [utterances, {len(dimensions)}]")
    if not len(t):
        raise ValueError("no utterances: ratings and predictions are empty")
    if not np.isfinite(p).all():
        raise ValueError("predictions hold NaN or infinite values")
    genders = np.asarray(genders)
    out: dict[str, Any] = {key: {} for key in ("ccc", "r", "rmse", "ccc_gap", "rmse_gap")}
    notes = []
    for d, dim in enumerate(dimensions):
        out["ccc"][dim] = _finite_or_none(ccc(t[:, d], p[:, d]))
        out["r"][dim] = _finite_or_none(pearson(t[:, d], p[:, d]))
        out["rmse"][dim] = rmse(t[:, d], p[:, d])
        by_gender = {g: (ccc(t[genders == g, d], p[genders == g, d]), rmse(t[genders == g, d], p[genders == g, d]))
                     for g in GENDERS if np.any(genders == g)}
        out["ccc_gap"][dim] = _gap({g: v[0] for g, v in by_gender.items()})
        out["rmse_gap"][dim] = _gap({g: v[1] for g, v in by_gender.items()})
        if out["ccc"][dim] is None:
            notes.append(f"{dim}: ratings and predictions are constant and equal, so CCC is undefined")
    missing = [g for g in GENDERS if not np.any(genders == g)]
    if missing:
        notes.append(f"no utterances from {' or '.join(missing)} speakers: the gender gaps are undefined")
    cccs = [v for v in out["ccc"].values() if v is not None]
    out["mean_ccc"] = float(np.mean(cccs)) if len(cccs) == len(dimensions) else None
    out["n"] = int(len(t))
    out["notes"] = notes
    return out


def ratings_of(predictions: Sequence[dict[str, Any]], dimensions: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(ratings [N, D], predictions [N, D], genders) of a record's stored predictions
    ({"key", "ratings": {dim: value}, "pred": {dim: value}, "gender"})."""
    truth, pred = [], []
    for i, entry in enumerate(predictions):
        for field in ("ratings", "pred"):
            values = entry.get(field)
            if not isinstance(values, dict) or any(not isinstance(values.get(d), (int, float)) for d in dimensions):
                raise ValueError(f"predictions[{i}] (key {entry.get('key')!r}): {field} must give a number for each of "
                                 f"{', '.join(dimensions)}, got {values!r}")
        truth.append([entry["ratings"][d] for d in dimensions])
        pred.append([entry["pred"][d] for d in dimensions])
    return np.asarray(truth), np.asarray(pred), [entry.get("gender") for entry in predictions]


def attribute_metrics_from_predictions(predictions: Sequence[dict[str, Any]], dimensions: Sequence[str]) -> dict[str, Any]:
    """``attribute_metrics`` recomputed from a record's stored predictions."""
    return attribute_metrics(*ratings_of(predictions, dimensions), dimensions)
