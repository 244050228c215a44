"""``synthetic_emobox``: a synthetic corpus in EmoBox's published layout, read by the EmoBox route.

Six classes (the paper's four, fear and disgust), 12 speakers in 3 speaker-independent folds of
4, 12 clips per speaker (two of each class) written at 48 kHz, every other speaker in stereo, and
the first two clips of each speaker in one longer file listed as two segments
(``start_time``/``end_time``). Its metadata names no speaker, as EmoBox's does; the task reads the
speaker from the key (``speaker_pattern``), so dev sets are speaker-independent. Each row adds a
``gender`` field (EmoBox's have none), so that the fairness metrics have something to measure.

The metadata is a pure function of the shape and is written when the task is first looked up
(milliseconds); the audio is synthesised on first load, into a scratch folder renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np
import soundfile
import soxr
from filelock import FileLock

from peftser.downstream.tasks.emobox import emobox_task
from peftser.downstream.tasks.synthetic.lifecycle import SEED, default_root
from peftser.downstream.tasks.synthetic.voice import make_voice, synthesize
from peftser.files import write_text_atomic
from peftser.sample_rate import SAMPLE_RATE

NAME = "synthetic_emobox"
VERSION = 1  # bump when the shape or the audio changes
CLASSES = ("neutral", "happy", "sad", "angry", "fear", "disgust")
CODES = {"N": "neutral", "H": "happy", "S": "sad", "A": "angry", "F": "fear", "D": "disgust"}
SPEAKERS = tuple((f"{i:02d}", "female" if i % 2 else "male") for i in range(1, 13))
FOLDS = 3
PER_SPEAKER = 12
CLIP_SECONDS = 2.0  # each clip cut or padded to this, so segment times are known without audio
RATE = 48000
_AUDIO = "downloads/synthetic_emobox"
_DONE = "audio.json"


def _emotion(s: int, i: int) -> str:
    return CLASSES[(i + s) % len(CLASSES)]


def _rows(s: int, speaker: str) -> list[dict]:
    rows = []
    for i in range(PER_SPEAKER):
        row = {"key": f"{NAME}-{speaker}-{i:02d}", "dataset": NAME, "type": "raw", "sample_rate": RATE, "task": "category",
               "emo": next(c for c, name in CODES.items() if name == _emotion(s, i)), "channel": 1 + s % 2,
               "length": CLIP_SECONDS, "gender": SPEAKERS[s][1]}  # gender: beyond EmoBox's fields, read when present
        if i < 2:  # the first two clips share one file
            row.update(wav=f"{_AUDIO}/{speaker}/{speaker}_long.wav", start_time=i * CLIP_SECONDS, end_time=(i + 1) * CLIP_SECONDS)
        else:
            row.update(wav=f"{_AUDIO}/{speaker}/{speaker}_{i:02d}.wav")
        rows.append(row)
    return rows


def write_metadata(root: Path) -> Path:
    """EmoBox's data/<dataset>/ folder: label_map.json and fold_<k>/ train and test files."""
    folder = root / "data" / NAME
    per_fold = len(SPEAKERS) // FOLDS
    rows = {speaker: _rows(s, speaker) for s, (speaker, _) in enumerate(SPEAKERS)}
    for k in range(1, FOLDS + 1):
        test = {speaker for speaker, _ in SPEAKERS[(k - 1) * per_fold : k * per_fold]}
        for side, members in (("train", [s for s, _ in SPEAKERS if s not in test]), ("test", sorted(test))):
            text = "".join(json.dumps(r) + "\n" for s in members for r in rows[s])
            path = folder / f"fold_{k}" / f"{NAME}_{side}_fold_{k}.jsonl"
            if not path.exists() or path.read_text() != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomic(path, text)
    label_map = json.dumps(CODES, indent=1)
    if not (folder / "label_map.json").exists():
        write_text_atomic(folder / "label_map.json", label_map)
    return folder


def _clip(s: int, i: int, voice) -> np.ndarray:
    wave = synthesize(np.random.default_rng([SEED, zlib.crc32(NAME.encode()), s, i + 1]), voice, _emotion(s, i))
    n = int(CLIP_SECONDS * SAMPLE_RATE)
    return np.pad(wave[:n], (0, max(0, n - len(wave))))


def write_audio(root: Path) -> None:
    """Every file the metadata names, at 48 kHz (stereo for every other speaker); once per version."""
    done = root / _DONE
    if done.exists() and json.loads(done.read_text()).get("version") == VERSION:
        return
    with FileLock(str(root / "audio.lock")):
        if done.exists() and json.loads(done.read_text()).get("version") == VERSION:
            return
        target = root / _AUDIO
        scratch = target.with_name(f"{target.name}.partial-{os.getpid()}")
        shutil.rmtree(scratch, ignore_errors=True)
        for s, (speaker, gender) in enumerate(SPEAKERS):
            voice = make_voice(np.random.default_rng([SEED, zlib.crc32(NAME.encode()), s]), gender)
            waves = [_clip(s, i, voice) for i in range(PER_SPEAKER)]
            files = {f"{speaker}_long.wav": np.concatenate(waves[:2])}
            files.update({f"{speaker}_{i:02d}.wav": waves[i] for i in range(2, PER_SPEAKER)})
            (scratch / speaker).mkdir(parents=True, exist_ok=True)
            for name, wave in files.items():
                up = soxr.resample(wave, SAMPLE_RATE, RATE).astype(np.float32)
                data = np.stack([up, 0.8 * up], axis=1) if s % 2 else up
                soundfile.write(scratch / speaker / name, data, RATE, subtype="PCM_16")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(scratch, target)
        write_text_atomic(done, json.dumps({"task": NAME, "version": VERSION, "seed": SEED}) + "\n")


def _task_class(root: Path) -> type:
    folder = write_metadata(root)
    spec = {"task": NAME, "emobox": str(folder), "audio_root": str(root), "speaker_pattern": rf"^{NAME}-(\d+)-",
            "description": __doc__.split("\n\n")[0]}
    base = emobox_task(spec, root / f"{NAME}.yaml")

    class SyntheticEmoBox(base):
        generated = True  # needs no --data-root: its corpus is made on first use

        def __init__(self, root_: str | Path | None = None, *, strict: bool = False, **options):
            super().__init__(default_root(NAME) if root_ is None else root_, strict=strict, **options)

        def load(self):
            write_metadata(self.root)
            write_audio(self.root)
            return super().load()

    return SyntheticEmoBox


# The rows and folds are read from the metadata as any EmoBox folder's are (where it is written
# first does not matter: instances read their audio under the cache of their own time).
SyntheticEmoBox = _task_class(default_root(NAME))
