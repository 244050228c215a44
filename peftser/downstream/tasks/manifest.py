"""Your own corpus with no Python: a manifest of utterances (CSV or JSONL) and a small YAML.

The YAML (all paths relative to the YAML's folder)::

    task: my_corpus                 # the registry name
    manifest: utterances.csv        # .csv or .jsonl, one utterance per row
    audio_root: audio               # the folder the manifest's paths are relative to
    classes: [neutral, happy, sad, angry]     # ordered; the head's outputs
    label_map: {neu: neutral, hap: happy}     # optional: the manifest's codes -> classes
    columns: {path: file, label: emotion}     # optional: the manifest's own column names
    folds: 5                        # speaker folds, when the manifest has no split or fold column

For an attribute task, ``dimensions: [arousal, valence]`` and ``scale: [1, 7]`` replace
``classes``: each dimension is a numeric column (renamed with ``columns:`` too); an empty rating
is counted and skipped, one outside the scale (or not a number) refused with its line.

Manifest columns: ``path``, ``label``, ``speaker``; optional ``key`` (default: the path, with the
segment), ``gender``, ``start`` and ``end`` (seconds: a segment of a longer file), and ``split``
(train/dev/test) or ``fold`` (the fold whose test set holds the row). Trainings: the split column
(one training per seed, ``seeds: N``), else one per fold value with the paper's rule for the dev
set (the last ceil(n/5) folds of the training part), else speaker-independent K folds over the
speakers in order, built by the recipe of the paper's fold corpora.

A YAML with ``emobox:`` instead of ``manifest:`` reads EmoBox's published folds
(peftser.downstream.tasks.emobox). Files are registered with ``--task-file`` or a folder given to
``--plugin``; both travel to worker processes in ``$PEFTSER_TASK_FILES``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from peftser.downstream.tasks.attributes import RatedRows, parse_rating
from peftser.downstream.tasks.folds import fixed_split_plans, kfold_plans
from peftser.downstream.tasks.rows import (
    Row, RowCorpus, RowError, check_plans, check_unique, gender_of, natural_key, plans_from_groups, read_manifest,
    relative, segment_of,
)
from peftser.registry import TASKS

TASK_FILES_ENV = "PEFTSER_TASK_FILES"  # os.pathsep-separated task YAMLs or folders of them
_KEYS = ("task", "description", "manifest", "emobox", "audio_root", "classes", "label_map", "columns", "folds", "seeds",
         "speaker_pattern", "dimensions", "scale")
_COLUMNS = ("key", "path", "label", "speaker", "gender", "start", "end", "split", "fold")
_REGISTERED: dict[str, tuple[int, type]] = {}  # resolved YAML path -> (mtime, its class)


def register_task_files(value: str) -> list[type]:
    """Register every task YAML named in ``value`` (files, or folders of ``*.yaml``), once each."""
    classes = []
    for entry in filter(None, value.split(os.pathsep)):
        path = Path(entry).expanduser()
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
        classes += [register_task_file(f) for f in files]
    return classes


def register_task_file(path: str | Path) -> type:
    """Read, check and register the task a YAML describes; its class (the same one when unchanged)."""
    path = Path(path)
    if not path.is_file():
        raise RowError(f"task file {path} does not exist")
    resolved = str(path.resolve())
    mtime = path.stat().st_mtime_ns
    if resolved in _REGISTERED and _REGISTERED[resolved][0] == mtime:
        return _REGISTERED[resolved][1]
    spec = read_spec(path)
    if "emobox" in spec:
        from peftser.downstream.tasks.emobox import emobox_task

        cls = emobox_task(spec, path)
    else:
        cls = manifest_task(spec, path)
    TASKS.register(spec["task"], cls, overwrite=resolved in _REGISTERED)
    _REGISTERED[resolved] = (mtime, cls)
    return cls


def read_spec(path: Path) -> dict[str, Any]:
    """The YAML as a checked mapping; a one-line error naming the file and the field otherwise."""
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise RowError(f"{path}{line}: not valid YAML ({getattr(err, 'problem', None) or err})") from None
    if not isinstance(spec, dict):
        raise RowError(f"{path}: a task file is a mapping (task, manifest, audio_root, classes, ...)")
    unknown = [k for k in spec if k not in _KEYS]
    if unknown:
        raise RowError(f"{path}: unknown field {unknown[0]!r}; a task file has {', '.join(_KEYS)}")
    if not isinstance(spec.get("task"), str) or not spec["task"]:
        raise RowError(f"{path}: task must name the task (e.g. task: my_corpus)")
    if ("manifest" in spec) == ("emobox" in spec):
        raise RowError(f"{path}: give either manifest (a CSV or JSONL) or emobox (an EmoBox data/<dataset> folder)")
    if "audio_root" not in spec:
        raise RowError(f"{path}: audio_root must name the folder holding the audio")
    classes = spec.get("classes")
    if classes is not None and (not isinstance(classes, list) or len(classes) < 2 or len(set(map(str, classes))) != len(classes)):
        raise RowError(f"{path}: classes must be a list of two or more distinct names, got {classes!r}")
    for name in ("label_map", "columns"):
        if not isinstance(spec.get(name, {}), dict):
            raise RowError(f"{path}: {name} must be a mapping, got {spec[name]!r}")
    return spec


def check_label_map(path: Path, label_map: dict, classes: list[str], codes_seen: set[str] | None = None) -> dict[str, str]:
    """The label map, refused when it maps to a name outside the classes or names a code no row has."""
    label_map = {str(k): str(v) for k, v in label_map.items()}
    for code, name in label_map.items():
        if name not in classes:
            raise RowError(f"{path}: label_map maps {code!r} to {name!r}, which is not one of the classes ({', '.join(classes)})")
        if codes_seen is not None and code not in codes_seen:
            raise RowError(f"{path}: label_map names code {code!r}, which no row of the manifest has")
    return label_map


def manifest_task(spec: dict[str, Any], path: Path) -> type:
    """The task class of a manifest YAML: rows read and checked, trainings planned and checked."""
    manifest = relative(path, spec["manifest"])
    if not manifest.is_file():
        raise RowError(f"{path}: manifest {manifest} does not exist")
    rated = _dimensions(path, spec)  # an attribute task: (dimensions, scale); None for classes
    if spec.get("classes") is None and rated is None:
        raise RowError(f"{path}: classes must list the task's classes in order (or dimensions, with scale, for ratings)")
    classes = [str(c) for c in spec["classes"]] if rated is None else list(rated[0])
    columns = {str(k): str(v) for k, v in (spec.get("columns") or {}).items()}
    unknown = [k for k in columns if k not in _COLUMNS + tuple(classes if rated else ())]
    if unknown:
        raise RowError(f"{path}: columns names {unknown[0]!r}, not one of {', '.join(_COLUMNS)}")
    raw = read_manifest(manifest, columns)
    if not raw:
        raise RowError(f"{manifest}: no rows")
    for where, row in raw[:1]:
        missing = [c for c in ("path", "speaker", *(rated[0] if rated else ("label",))) if c not in row]
        if missing:
            raise RowError(f"{where}: no {missing[0]!r} column (the manifest has {', '.join(row)}); rename with columns:")
    label_map = {} if rated else check_label_map(path, spec.get("label_map") or {}, classes, {str(r.get("label", "")) for _, r in raw})
    rows, bad, groups = [], [], {}
    split = "split" if "split" in raw[0][1] else "fold" if "fold" in raw[0][1] else None
    for where, raw_row in raw:
        row, problem = _row(where, raw_row, classes, label_map, rated)
        if problem:
            bad.append((problem, where))
            continue
        value = str(raw_row.get(split, "")).strip() if split else row.speaker
        if split and not value:
            raise RowError(f"{where}: empty {split}: the {'split' if split == 'split' else 'folds'} leave this utterance out")
        if split == "split" and value not in ("train", "dev", "test"):
            raise RowError(f"{where}: split {value!r} is not train, dev or test")
        rows.append(row)
        groups[row.key] = value
    check_unique(rows)
    plans = _plans(path, spec, split, groups)
    key_plans = plans_from_groups(rows, groups, plans)
    check_plans(str(manifest), rows, key_plans, cross_validated=split != "split")
    return type(f"Manifest_{spec['task']}", (RatedRows, RowCorpus) if rated else (RowCorpus,), {
        **({"dimensions": tuple(classes), "scale": rated[1]} if rated else {}),
        "name": spec["task"],
        "__doc__": str(spec.get("description") or f"A corpus from the manifest {manifest.name}."),
        "classes": tuple(classes), "training_names": tuple(p.name for p in key_plans), "rows": tuple(rows),
        "plans": tuple(key_plans), "bad_rows": tuple(bad), "audio_root": relative(path, spec["audio_root"]),
        "source": str(path), "layout": f"the audio the manifest {manifest} names, under {spec['audio_root']}",
    })


def _dimensions(path: Path, spec: dict[str, Any]) -> tuple[tuple[str, ...], tuple[float, float]] | None:
    """A rated manifest's dimensions (its numeric columns) and their scale [low, high]; None without."""
    if "dimensions" not in spec:
        return None
    dims, scale = spec["dimensions"], spec.get("scale")
    if not isinstance(dims, list) or not 1 <= len(dims) <= 3 or len(set(map(str, dims))) != len(dims):
        raise RowError(f"{path}: dimensions must list one to three distinct names (e.g. [arousal, valence]), got {dims!r}")
    if "classes" in spec:
        raise RowError(f"{path}: give classes (categories) or dimensions (ratings), not both")
    if (not isinstance(scale, list) or len(scale) != 2 or not all(isinstance(v, (int, float)) for v in scale)
            or not scale[0] < scale[1]):
        raise RowError(f"{path}: scale must be [low, high] of the ratings (e.g. [1, 7]), got {scale!r}")
    return tuple(map(str, dims)), (float(scale[0]), float(scale[1]))


def _ratings(where: str, row: dict[str, Any], rated) -> tuple[tuple[float, ...] | None, str | None]:
    """A row's ratings on the scale, or the reason it is skipped (an empty rating); a bad value is an error."""
    (dims, (low, high)), values = rated, []
    for dim in dims:
        text = str(row.get(dim, "")).strip()
        if not text:
            return None, f"no rating: {dim}"
        try:
            values.append(parse_rating(text, (low, high), where, dim))
        except ValueError as err:
            raise RowError(str(err)) from None
    return tuple(values), None


def _row(where: str, row: dict[str, Any], classes: list[str], label_map: dict[str, str],
         rated=None) -> tuple[Row | None, str | None]:
    """A Row, or the reason it is counted and skipped (label outside the classes, empty speaker,
    no rating)."""
    code = str(row.get("label", "")).strip()
    label = label_map.get(code, code)
    ratings, problem = _ratings(where, row, rated) if rated else ((), None)
    if problem:
        return None, problem
    if rated is None and label not in classes:
        return None, f"bad row: label {code!r} outside the classes"
    speaker = str(row.get("speaker", "")).strip()
    if not speaker:
        return None, "bad row: empty speaker"
    audio = str(row.get("path", "")).strip()
    if not audio:
        raise RowError(f"{where}: empty path")
    segment = segment_of(row.get("start"), row.get("end"), where)
    key = str(row.get("key") or "").strip() or (audio if segment is None else f"{audio}@{segment[0]:g}-{segment[1]:g}")
    return Row(key, audio, label, speaker, gender_of(row.get("gender"), where), segment, where, ratings), None


def _plans(path: Path, spec: dict[str, Any], split: str | None, groups: dict[str, str]):
    seeds = spec.get("seeds", 3 if split == "split" else None)
    if split == "split":
        if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
            raise RowError(f"{path}: seeds must be a whole number >= 1, got {seeds!r}")
        return fixed_split_plans(["train"], ["dev"], ["test"], seeds)
    values = sorted(set(groups.values()), key=natural_key)
    if split == "fold":
        if len(values) < 2:
            raise RowError(f"{path}: the fold column holds one fold ({values[0]!r}); cross-validation needs two or more")
        plans = kfold_plans(values, len(values))
        # Named after the fold values (fold1 tests the rows of fold 1), not only their rank.
        return [p.__class__(f"fold{v}" if v.isdigit() else f"fold_{v}", p.seed, p.train, p.dev, p.test)
                for p, v in zip(plans, values)]
    folds = spec.get("folds", 5)
    if not isinstance(folds, int) or isinstance(folds, bool) or not 2 <= folds <= len(values):
        raise RowError(f"{path}: folds must be a whole number from 2 to the {len(values)} speakers, got {folds!r}")
    return kfold_plans(values, folds)
