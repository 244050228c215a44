"""EmoBox's published folds, read as they are published (Ma et al., Interspeech 2024).

A task YAML names the dataset's metadata folder and the folder holding its audio::

    task: emobox_cafe
    emobox: EmoBox/data/cafe       # fold_<k>/cafe_{train,test}_fold_<k>.jsonl, label_map.json
    audio_root: /data/emobox       # each row's "wav" is relative to it
    speaker_pattern: '^cafe-(\\d+)-'   # optional: the speaker is this regex's first group on the key
    classes: [...]                 # optional: default, label_map.json's names in order

Each fold's train and test files are read as they are, with an optional ``_valid_fold_<k>.jsonl``
as its dev set; ``emo`` is mapped by ``label_map.json``; ``start_time``/``end_time`` make a
segment; any sample rate and channel count is decoded by the harness' own recipe (channel mean,
soxr to 16 kHz). EmoBox's rows name no speaker. Without a valid file the dev set is drawn from
the fold's training side: speaker-independently (the last fifth of its speakers, the recipe of
the paper's fold corpora) when a speaker can be had from a ``speaker`` field or
``speaker_pattern``, otherwise a seeded 20 % of its training utterances (EmoBox's own choice, not
speaker-independent); the record's deviations say which.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from peftser.downstream.tasks.folds import reference_seed
from peftser.downstream.tasks.rows import (
    KeyPlan, Row, RowCorpus, RowError, check_plans, check_unique, gender_of, read_manifest, relative, segment_of,
    speaker_dev,
)

DEV_FRACTION = 0.2  # EmoBox's own split of train into train and valid
DEV_SEED = 12  # the seed of EmoBox's split
_FOLD = re.compile(r"fold_(\d+)")
SPEAKER_DEV = ("EmoBox ships no valid file for {folds}: each fold's dev set is the last fifth of its training "
               "speakers in order (the recipe of the paper's fold corpora; speakers from {source}).")
RANDOM_DEV = ("EmoBox ships no valid file for {folds} and its rows name no speaker: each fold's dev set is a seeded "
              "20 % of its training utterances (seed 12, as EmoBox splits), so dev speakers are also training "
              "speakers; give speaker_pattern to draw it speaker-independently.")


def fold_files(folder: Path, dataset: str) -> dict[int, dict[str, Path]]:
    """fold number -> {"train", "test", optional "valid"} files of an EmoBox data/<dataset> folder."""
    folds = {}
    for sub in sorted(folder.glob("fold_*")):
        match = _FOLD.fullmatch(sub.name)
        if not match or not sub.is_dir():
            continue
        k = int(match.group(1))
        files = {side: sub / f"{dataset}_{side}_fold_{k}.jsonl" for side in ("train", "valid", "test")}
        for side in ("train", "test"):
            if not files[side].is_file():
                raise RowError(f"{sub}: {files[side].name} is missing; expected EmoBox's fold layout")
        folds[k] = {side: f for side, f in files.items() if f.is_file()}
    if not folds:
        raise RowError(f"{folder}: no fold_<k>/ folders; expected EmoBox's data/<dataset>/ layout")
    return dict(sorted(folds.items()))


def _label_map(folder: Path) -> dict[str, str]:
    path = folder / "label_map.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RowError(f"{folder}: label_map.json is missing; expected EmoBox's data/<dataset>/ layout") from None
    except json.JSONDecodeError as err:
        raise RowError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(data, dict) or not data:
        raise RowError(f"{path}: expected a mapping of emotion codes to names")
    return {str(k): str(v) for k, v in data.items()}


def emobox_task(spec: dict[str, Any], path: Path) -> type:
    """The task class of an EmoBox YAML: folds read and checked, dev sets formed, deviations named."""
    folder = relative(path, spec["emobox"])
    if not folder.is_dir():
        raise RowError(f"{path}: emobox folder {folder} does not exist")
    dataset = folder.name
    mapping = _label_map(folder)
    classes = [str(c) for c in spec["classes"]] if spec.get("classes") else list(dict.fromkeys(mapping.values()))
    # ``classes`` may order or subset the map's names (rows of other classes are counted and
    # skipped), but a class no code maps to could never be a label.
    unnamed = [c for c in classes if c not in mapping.values()]
    if unnamed:
        raise RowError(f"{folder / 'label_map.json'}: no code maps to class {unnamed[0]!r} of {path.name}'s classes "
                       f"(the map names {', '.join(dict.fromkeys(mapping.values()))})")
    pattern = _pattern(path, spec.get("speaker_pattern"))
    folds = fold_files(folder, dataset)
    rows: dict[str, Row] = {}
    bad: dict[str, tuple[str, str]] = {}
    sides: dict[int, dict[str, list[str]]] = {}
    for k, files in folds.items():
        sides[k] = {}
        for side, file in files.items():
            keys = []
            for where, raw in read_manifest(file, {}):
                row, problem = _row(where, raw, mapping, classes, pattern)
                key = str(raw.get("key", ""))
                if problem:
                    bad.setdefault(key, (problem, where))
                    continue
                known = rows.setdefault(row.key, row)
                if (known.path, known.label, known.segment) != (row.path, row.label, row.segment):
                    raise RowError(f"{where}: key {row.key!r} differs from its row at {known.where}")
                keys.append(row.key)
            if len(set(keys)) != len(keys):
                check_unique([rows[k_] for k_ in keys])  # names the repeated key
            sides[k][side] = keys
    all_rows = list(rows.values())
    speakers_known = all(r.speaker for r in all_rows)
    plans, deviations, random_dev = [], [], []
    for k, side in sides.items():
        train = sorted(side["train"])
        if "valid" in side:
            dev = frozenset(side["valid"])
        elif speakers_known:
            dev = speaker_dev(train, {r.key: r.speaker for r in all_rows})
        else:
            dev = _random_dev(train)
            random_dev.append(f"fold_{k}")
        plans.append(KeyPlan(f"fold{k}", reference_seed(k), frozenset(train) - dev, dev, frozenset(side["test"])))
    without_valid = [f"fold_{k}" for k, side in sides.items() if "valid" not in side]
    if without_valid:
        text = RANDOM_DEV if random_dev else SPEAKER_DEV
        source = "a speaker field" if pattern is None else f"speaker_pattern '{pattern.pattern}' on the key"
        deviations.append(text.format(folds=", ".join(without_valid), source=source))
    check_plans(str(folder), all_rows, plans, speakers_known=speakers_known)
    return type(f"EmoBox_{spec['task']}", (RowCorpus,), {
        "name": spec["task"],
        "__doc__": str(spec.get("description") or f"EmoBox's folds of {dataset}."),
        "classes": tuple(classes), "training_names": tuple(p.name for p in plans), "rows": tuple(all_rows),
        "plans": tuple(plans), "bad_rows": tuple(bad.values()), "audio_root": relative(path, spec["audio_root"]),
        "source": str(folder), "source_deviations": tuple(deviations),
        "layout": f"the audio EmoBox's {dataset} folds name, under {spec['audio_root']}",
    })


def _pattern(path: Path, value: Any) -> re.Pattern | None:
    if value is None:
        return None
    try:
        pattern = re.compile(str(value))
    except re.error as err:
        raise RowError(f"{path}: speaker_pattern {value!r} is not a regular expression ({err})") from None
    if pattern.groups < 1:
        raise RowError(f"{path}: speaker_pattern {value!r} needs a group, e.g. '^cafe-(\\d+)-', whose text is the speaker")
    return pattern


def _row(where: str, raw: dict[str, Any], mapping: dict[str, str], classes: list[str],
         pattern: re.Pattern | None) -> tuple[Row | None, str | None]:
    key, wav = str(raw.get("key", "")).strip(), str(raw.get("wav", "")).strip()
    if not key or not wav:
        raise RowError(f"{where}: a row needs its key and wav (EmoBox's fields)")
    code = str(raw.get("emo", ""))
    label = mapping.get(code)
    if label is None or label not in classes:
        return None, f"bad row: label {code!r} outside the classes"
    speaker = str(raw.get("speaker", "") or "").strip()
    if pattern is not None:
        match = pattern.search(key)
        if not match or not match.group(1):
            raise RowError(f"{where}: speaker_pattern {pattern.pattern!r} finds no speaker in key {key!r}")
        speaker = match.group(1)
    segment = segment_of(raw.get("start_time"), raw.get("end_time"), where)
    return Row(key, wav, label, speaker, gender_of(raw.get("gender"), where), segment, where), None


def _random_dev(train: list[str]) -> frozenset[str]:
    """A seeded 20 % of the training keys (sorted first, so the draw depends on nothing else)."""
    order = np.random.default_rng(DEV_SEED).permutation(len(train))
    return frozenset(train[i] for i in order[: math.ceil(DEV_FRACTION * len(train))])
