"""A synthetic SER corpus, generated in numpy from a seed, so the harness runs with no corpus.

Each clip is a small source-filter speech synthesiser: a glottal pulse train (Rosenberg pulses)
at the speaker's F0 with a phrase intonation contour (declination plus pitch accents) and
aspiration noise, shaped per syllable by a cascade of vowel formant resonators scaled by the
speaker's vocal-tract length, with consonant noise bursts, pauses and background noise.
Speakers differ by gender (F0 and formant ranges), loudness, speaking rate, pitch range,
microphone colour and how strongly they express emotion. What it models is acted emotional
speech of short phrases (2-4 syllables, about a second) recorded at a fixed gain in a quiet room,
by actors who express emotions strongly (expressiveness 0.75-1): angry is loud, fast, high and
tense (short open phase, bright spectrum); happy is high with a wide pitch range; sad is slow,
low, quiet, narrow-ranged and breathy, with long pauses; neutral is the speaker's baseline.
Per-utterance variation keeps the classes overlapping. The cues are deliberately clearer than
in real corpora, so that a short demo schedule on tiny random-weight encoders learns something.

The four tasks are written to disk in the real corpora's layouts and label formats and read by
the real readers, so they share the real tasks' label parsing and fold rules.
"""

from __future__ import annotations

import glob
import fnmatch
import io
import json
import os
import shutil
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np
import soundfile
from filelock import FileLock
from scipy.signal import lfilter

from peftser.downstream.audio import SAMPLE_RATE, default_cache_dir
from peftser.downstream.task import EMOTIONS
from peftser.downstream.tasks.crema_d import CremaD
from peftser.downstream.tasks.iemocap import Iemocap
from peftser.downstream.tasks.msp_improv import MspImprov
from peftser.downstream.tasks.msp_podcast import MspPodcast
from peftser.files import write_text_atomic
from peftser.registry import TASKS

SEED = 0
# Bump whenever generated audio or layout changes: corpora of another version are regenerated.
GENERATOR_VERSION = 7
CLIP_QUANTUM_S = 0.25  # clip lengths are whole multiples of this
MARKER = "synthetic.json"

# ---------------------------------------------------------------------------------------------
# The voice model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    """A speaker's habitual voice."""

    f0: float  # Hz
    formant_scale: float  # shorter vocal tract -> higher formants
    level_db: float
    rate: float  # syllable-rate multiplier
    pitch_range: float  # semitones
    expressiveness: float  # 0..1: how much emotion moves this speaker's prosody
    colour: float  # first-order microphone/channel tilt


@dataclass(frozen=True)
class Prosody:
    """How an emotion moves prosody at full expressiveness, relative to the speaker's baseline."""

    f0_shift: float  # semitones
    range_scale: float
    rate_scale: float
    level_db: float
    open_quotient: float  # glottal open phase: low = tense and bright, high = lax and breathy
    breathiness: float
    pause_prob: float


PROSODY = {
    "neutral": Prosody(0.0, 0.7, 1.0, 0.0, 0.60, 0.05, 0.20),
    "happy": Prosody(5.0, 2.5, 1.15, 4.0, 0.50, 0.05, 0.10),
    "sad": Prosody(-3.0, 0.35, 0.6, -8.0, 0.78, 0.30, 0.60),
    "angry": Prosody(3.0, 1.3, 1.45, 10.0, 0.32, 0.02, 0.0),
}
# Adult male vowel formants F1-F3 (Peterson & Barney averages), Hz.
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480),
          (570, 840, 2410), (440, 1020, 2240), (660, 1720, 2410), (490, 1350, 1690))
BANDWIDTHS = (80.0, 100.0, 140.0, 200.0)
REFERENCE_RMS = 0.05  # speech level at 0 dB


def make_voice(rng: np.random.Generator, gender: str) -> Voice:
    """A random speaker of the given gender."""
    female = gender == "female"
    return Voice(
        f0=rng.uniform(175, 240) if female else rng.uniform(95, 140),
        formant_scale=rng.normal(1.17 if female else 1.0, 0.04),
        level_db=rng.normal(0.0, 1.5),
        rate=rng.normal(1.0, 0.1),
        pitch_range=rng.uniform(2.0, 3.5),
        expressiveness=rng.uniform(0.75, 1.0),
        colour=rng.uniform(-0.2, 0.4),
    )


def _resonator(freq: float, bandwidth: float) -> tuple[np.ndarray, np.ndarray]:
    """A two-pole resonance with unit gain at DC (a Klatt formant)."""
    r = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
    a = np.array([1.0, -2.0 * r * np.cos(2.0 * np.pi * freq / SAMPLE_RATE), r * r])
    return np.array([a.sum()]), a


def _cascade(freqs: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    b, a = np.ones(1), np.ones(1)
    for freq, bandwidth in zip(freqs, BANDWIDTHS):
        rb, ra = _resonator(min(freq, 0.45 * SAMPLE_RATE), bandwidth)
        b, a = np.convolve(b, rb), np.convolve(a, ra)
    return b, a


def _rosenberg(phase: np.ndarray, open_quotient: float) -> np.ndarray:
    """Glottal flow over one period (phase in [0, 1)): opening, closing, then closed."""
    rise, fall = 0.6 * open_quotient, 0.4 * open_quotient
    opening = 0.5 * (1.0 - np.cos(np.pi * phase / rise))
    closing = np.cos(np.pi * np.clip(phase - rise, 0.0, fall) / (2.0 * fall))
    return np.where(phase < rise, opening, np.where(phase < rise + fall, closing, 0.0))


@dataclass(frozen=True)
class _Utterance:
    f0: float
    pitch_range: float
    rate: float
    level_db: float
    open_quotient: float
    breathiness: float
    pause_prob: float


def _utterance_prosody(rng: np.random.Generator, voice: Voice, emotion: str) -> _Utterance:
    p, e = PROSODY[emotion], voice.expressiveness
    return _Utterance(
        f0=voice.f0 * 2.0 ** ((e * p.f0_shift + rng.normal(0.0, 0.8)) / 12.0),
        pitch_range=voice.pitch_range * (1.0 + e * (p.range_scale - 1.0)) * rng.lognormal(0.0, 0.25),
        rate=voice.rate * (1.0 + e * (p.rate_scale - 1.0)) * rng.normal(1.0, 0.08),
        level_db=voice.level_db + e * p.level_db + rng.normal(0.0, 1.5),
        open_quotient=float(np.clip(0.6 + e * (p.open_quotient - 0.6) + rng.normal(0.0, 0.03), 0.3, 0.8)),
        breathiness=p.breathiness * rng.lognormal(0.0, 0.3),
        pause_prob=p.pause_prob,
    )


def _seconds(x: float) -> int:
    return max(1, int(round(x * SAMPLE_RATE)))


def _timeline(rng: np.random.Generator, u: _Utterance) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
    """Length in samples, vowel spans and consonant spans: syllables, pauses, edge silences."""
    t = _seconds(rng.uniform(0.05, 0.15))
    vowels, consonants = [], []
    n_syllables = int(rng.integers(2, 5))
    for index in range(n_syllables):
        if rng.random() < 0.7:
            length = _seconds(rng.uniform(0.03, 0.07) / u.rate)
            consonants.append((t, t + length))
            t += length
        length = _seconds(rng.uniform(0.09, 0.2) / u.rate)
        vowels.append((t, t + length))
        t += length
        if index < n_syllables - 1 and rng.random() < u.pause_prob:
            t += _seconds(rng.uniform(0.06, 0.2) / u.rate)
    return t + _seconds(rng.uniform(0.05, 0.15)), vowels, consonants


def _envelope(length: int, attack: int, release: int) -> np.ndarray:
    env = np.ones(length)
    attack, release = min(attack, length // 2), min(release, length // 2)
    env[:attack] = np.linspace(0.0, 1.0, attack, endpoint=False)
    if release:
        env[length - release :] = np.linspace(1.0, 0.0, release)
    return env


def _pitch_contour(rng: np.random.Generator, u: _Utterance, n: int, vowels: list[tuple[int, int]]) -> np.ndarray:
    """F0 in Hz per sample: declination, one accent on some syllables, slow wobble."""
    semitones = np.linspace(0.3, -0.5, n) * u.pitch_range
    for start, end in vowels:
        if rng.random() < 0.5:
            width = end - start
            lo, hi = max(0, start - width // 2), min(n, end + width // 2)
            semitones[lo:hi] += rng.uniform(0.3, 1.0) * u.pitch_range * np.hanning(hi - lo)
    wobble = lfilter([0.002], [1.0, -0.998], rng.normal(0.0, 1.0, n))
    return u.f0 * 2.0 ** ((semitones + 3.0 * wobble) / 12.0)


def synthesize(rng: np.random.Generator, voice: Voice, emotion: str) -> np.ndarray:
    """One utterance of ``voice`` speaking with ``emotion``: float32 samples at 16 kHz."""
    u = _utterance_prosody(rng, voice, emotion)
    n, vowels, consonants = _timeline(rng, u)
    f0 = _pitch_contour(rng, u, n, vowels)
    flow = _rosenberg(np.cumsum(f0 / SAMPLE_RATE) % 1.0, u.open_quotient)
    source = np.diff(flow, prepend=0.0) + u.breathiness * flow * rng.normal(0.0, 1.0, n)
    speech = np.zeros(n + _seconds(0.05))
    for start, end in vowels:
        formants = VOWELS[int(rng.integers(len(VOWELS)))] + (3500.0,)
        b, a = _cascade(tuple(f * voice.formant_scale for f in formants))
        segment = source[start:end] * _envelope(end - start, _seconds(0.015), _seconds(0.03))
        # Filter with a tail so the resonances ring out instead of being cut.
        speech[start : end + _seconds(0.05)] += lfilter(b, a, np.pad(segment, (0, _seconds(0.05))))[: len(speech) - start]
    vowel_rms = np.sqrt(np.mean(speech**2)) + 1e-9
    for start, end in consonants:
        b, a = _resonator(rng.uniform(2500, 6000) * np.sqrt(voice.formant_scale), rng.uniform(1500, 2500))
        # Differenced noise: frication has little energy below the resonance.
        noise = np.diff(rng.normal(0.0, 1.0, end - start + 1))
        burst = lfilter(b, a, noise) * _envelope(end - start, _seconds(0.005), _seconds(0.02))
        burst_gain = (0.5 - 0.4 * u.open_quotient) * vowel_rms / (np.sqrt(np.mean(burst**2)) + 1e-9)
        speech[start:end] += burst_gain * burst
    speech = lfilter([1.0, -voice.colour], [1.0], speech[:n])
    speech *= REFERENCE_RMS * 10.0 ** (u.level_db / 20.0) / (np.sqrt(np.mean(speech**2)) + 1e-9)
    # Trailing silence up to a whole quarter second: clips then share a few lengths, so evaluation
    # (which batches only clips of equal length, never padding) runs in a few batches.
    total = -(-n // _seconds(CLIP_QUANTUM_S)) * _seconds(CLIP_QUANTUM_S)
    speech = np.pad(speech, (0, total - n))
    background = lfilter([1.0], [1.0, -0.95], rng.normal(0.0, 1.0, total))
    background *= REFERENCE_RMS * 10.0 ** (-rng.uniform(28.0, 35.0) / 20.0) / np.sqrt(np.mean(background**2))
    wave = speech + background
    peak = np.abs(wave).max()
    return (wave * (0.99 / peak if peak > 0.99 else 1.0)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Corpora in the real layouts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """One generated clip and who said it."""

    speaker: str
    gender: str
    index: int  # the clip's number within its speaker
    emotion: str
    wave: np.ndarray


@dataclass(frozen=True)
class Shape:
    """A synthetic corpus: its speakers (id, gender), clips per speaker and layout writer."""

    speakers: tuple[tuple[str, str], ...]
    per_speaker: int
    write: Callable[[CorpusFiles, list[Recording]], None]

    def emotion(self, speaker_index: int, clip_index: int) -> str:
        """Emotions rotate within and across speakers, so every class is (nearly) equally common."""
        return EMOTIONS[(clip_index + speaker_index) % len(EMOTIONS)]

    def total(self) -> int:
        """Clips in the corpus."""
        return len(self.speakers) * self.per_speaker

    def counts(self) -> dict[str, int]:
        """Clips per class."""
        counts = dict.fromkeys(EMOTIONS, 0)
        for s in range(len(self.speakers)):
            for i in range(self.per_speaker):
                counts[self.emotion(s, i)] += 1
        return counts


class CorpusFiles:
    """Where a layout writer puts a corpus' files: under ``root`` on disk, or, with no root, only
    in the list of paths (a dry run, which tells what the generator owns in a folder)."""

    def __init__(self, root: Path | None):
        self.root = root
        self.written: list[str] = []  # paths relative to the root, "/"-separated

    def wav(self, relative: str, wave: np.ndarray) -> None:
        if self.root is not None:
            # Encoded in memory: libsndfile's own file writer syncs to disk on close, ten times slower.
            buffer = io.BytesIO()
            soundfile.write(buffer, wave, SAMPLE_RATE, format="WAV", subtype="PCM_16")
            self._put(relative, buffer.getvalue())
        self.written.append(relative)

    def text(self, relative: str, text: str) -> None:
        if self.root is not None:
            self._put(relative, text.encode("utf-8"))
        self.written.append(relative)

    def _put(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


_CODES = {"neutral": "N", "happy": "H", "sad": "S", "angry": "A"}  # MSP and CREMA-D vote codes
_IEMOCAP_CODES = {"neutral": ("neu",), "happy": ("hap", "exc"), "sad": ("sad",), "angry": ("ang",)}


def write_iemocap(out: CorpusFiles, recordings: list[Recording]) -> None:
    """Session<k>/dialog/EmoEvaluation/<dialog>.txt and Session<k>/sentences/wav/<dialog>/<id>.wav."""
    dialogs: dict[tuple[str, str], list[str]] = {}
    for rec in recordings:
        session = int(rec.speaker[3:5])
        dialog = f"Ses{session:02d}{'FM'[rec.index % 2]}_impro01"  # both speakers act in both dialogs
        utt_id = f"{dialog}_{rec.speaker[-1]}{rec.index:03d}"
        out.wav(f"Session{session}/sentences/wav/{dialog}/{utt_id}.wav", rec.wave)
        start = 2.0 * rec.index
        code = _IEMOCAP_CODES[rec.emotion][rec.index // 2 % len(_IEMOCAP_CODES[rec.emotion])]
        block = (f"[{start:.4f} - {start + len(rec.wave) / SAMPLE_RATE:.4f}]\t{utt_id}\t{code}\t[2.5000, 2.5000, 2.5000]\n"
                 f"C-E1:\t{rec.emotion.capitalize()};\t()\nA-E1:\tval 3; act 3; dom  3;\t()\n\n")
        dialogs.setdefault((f"Session{session}", dialog), []).append(block)
    for (session, dialog), blocks in dialogs.items():
        header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        out.text(f"{session}/dialog/EmoEvaluation/{dialog}.txt", header + "".join(blocks))


def write_msp_improv(out: CorpusFiles, recordings: list[Recording]) -> None:
    """Evalution.txt and Audio/session<k>/<sentence>/<P|R|S|T>/MSP-IMPROV-*.wav."""
    lines = []
    for rec in recordings:
        code = _CODES[rec.emotion]
        sentence, kind = f"S{rec.index % 15 + 1:02d}{code}", "PRST"[rec.index % 4]
        stem = f"IMPROV-{sentence}-{rec.speaker}-{kind}-{'FM' if rec.gender == 'female' else 'MF'}{rec.index:02d}"
        out.wav(f"Audio/session{int(rec.speaker[1:])}/{sentence}/{kind}/MSP-{stem}.wav", rec.wave)
        lines.append(f"UTD-{stem}.avi; {code}; A:3.000000; V:3.000000; D:3.000000; N:5;\n"
                     f"{rec.emotion.capitalize()}; A:3.000000; V:3.000000; D:3.000000;\n\n")
    out.text("Evalution.txt", "".join(lines))


_CREMA_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")


def write_crema_d(out: CorpusFiles, recordings: list[Recording]) -> None:
    """AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav, VideoDemographics.csv, summaryTable.csv."""
    table = [",FileName,VoiceVote,VoiceLevel,FaceVote,FaceLevel,MultiModalVote,MultiModalLevel\n"]
    actors: dict[str, str] = {}
    for number, rec in enumerate(recordings, start=1):
        code = _CODES[rec.emotion]
        intended = {"neutral": "NEU", "happy": "HAP", "sad": "SAD", "angry": "ANG"}[rec.emotion]
        level = "XX" if rec.emotion == "neutral" else ("LO", "MD", "HI")[rec.index % 3]
        name = f"{rec.speaker}_{_CREMA_SENTENCES[rec.index % len(_CREMA_SENTENCES)]}_{intended}_{level}"
        out.wav(f"AudioWAV/{name}.wav", rec.wave)
        table.append(f"{number},{name},{code},60,{code},60,{code},60\n")
        actors[rec.speaker] = rec.gender
    out.text("processedResults/summaryTable.csv", "".join(table))
    demographics = ["ActorID,Age,Sex,Race,Ethnicity\n"]
    demographics += [f"{a},40,{g.capitalize()},Unknown,Unknown\n" for a, g in sorted(actors.items())]
    out.text("VideoDemographics.csv", "".join(demographics))


def write_msp_podcast(out: CorpusFiles, recordings: list[Recording]) -> None:
    """Labels/labels_concensus.csv and Audios/MSP-PODCAST_<podcast>_<segment>.wav."""
    rows = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"]
    for rec in recordings:
        code = _CODES[rec.emotion]
        name = f"MSP-PODCAST_{int(rec.speaker):04d}_{rec.index + 1:04d}.wav"
        out.wav(f"Audios/{name}", rec.wave)
        rows.append(f"{name},{code},4.0,4.0,4.0,{rec.speaker},{rec.gender.capitalize()},{_podcast_split(rec.speaker)}\n")
    out.text("Labels/labels_concensus.csv", "".join(rows))


def _alternating(ids: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((s, ("female", "male")[i % 2]) for i, s in enumerate(ids))


# Podcast speakers 1-28 are Train, 29-36 Validation, 37-48 Test1.
_PODCAST_SPLITS = ((28, "Train"), (36, "Validation"), (48, "Test1"))


def _podcast_split(speaker: str) -> str:
    return next(split for last, split in _PODCAST_SPLITS if int(speaker) <= last)


SHAPES: dict[str, Shape] = {
    # 5 sessions x (one actress, one actor), like IEMOCAP.
    "synthetic_iemocap": Shape(
        tuple((f"Ses{k:02d}{g}", "female" if g == "F" else "male") for k in range(1, 6) for g in "FM"), 32, write_iemocap
    ),
    # 6 sessions x (one actress, one actor), like MSP-IMPROV.
    "synthetic_msp_improv": Shape(
        tuple((f"{g}{k:02d}", "female" if g == "F" else "male") for k in range(1, 7) for g in "FM"), 26, write_msp_improv
    ),
    # 40 actors, the CREMA-D fold rule over actors 1001-1040.
    "synthetic_crema_d": Shape(_alternating([str(a) for a in range(1001, 1041)]), 8, write_crema_d),
    # A fixed speaker-independent Train/Validation/Test1 split, like MSP-Podcast.
    "synthetic_msp_podcast": Shape(_alternating([str(s) for s in range(1, 49)]), 7, write_msp_podcast),
}


def _recordings(name: str, seed: int, *, audio: bool = True) -> list[Recording]:
    """Every clip of ``name``; without ``audio``, placeholders with the same speakers and labels."""
    shape = SHAPES[name]
    stream = zlib.crc32(name.encode())  # independent random streams per task, speaker and clip
    recordings = []
    for s, (speaker, gender) in enumerate(shape.speakers):
        voice = make_voice(np.random.default_rng([seed, stream, s]), gender) if audio else None
        for i in range(shape.per_speaker):
            emotion = shape.emotion(s, i)
            wave = synthesize(np.random.default_rng([seed, stream, s, i + 1]), voice, emotion) if audio else np.zeros(1)
            recordings.append(Recording(speaker, gender, i, emotion, wave))
    return recordings


def generate(name: str, root: str | Path, *, seed: int = SEED) -> Path:
    """Write the synthetic corpus ``name`` into ``root``, a new or empty folder (deterministic in ``seed``).

    The marker written last lists every file written, so that the corpus can later be replaced
    without touching anything else in its folder.
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; the {name} generator writes only into a new or empty folder")
    root.mkdir(parents=True, exist_ok=True)
    out = CorpusFiles(root)
    recordings = _recordings(name, seed)
    SHAPES[name].write(out, recordings)
    marker = {"task": name, "version": GENERATOR_VERSION, "seed": seed, "utterances": len(recordings), "files": sorted(out.written)}
    (root / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return root


def planned_files(name: str) -> list[str]:
    """The files (relative paths) this generator version writes for ``name``, without writing them."""
    out = CorpusFiles(None)
    SHAPES[name].write(out, _recordings(name, SEED, audio=False))
    return sorted(out.written)


def _read_marker(root: Path) -> dict | None:
    try:
        marker = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _is_complete(root: Path, name: str, seed: int) -> bool:
    marker = _read_marker(root)
    return marker is not None and (marker.get("task"), marker.get("version"), marker.get("seed")) == (name, GENERATOR_VERSION, seed)


# What every generator version wrote for each task, as path patterns: the writers' layouts have
# kept their names while the number of clips changed, so a corpus of an older version whose
# marker predates the file list is still recognised file by file.
LAYOUTS = {
    "synthetic_iemocap": ("Session*/sentences/wav/Ses*_impro01/Ses*_impro01_*.wav", "Session*/dialog/EmoEvaluation/Ses*_impro01.txt"),
    "synthetic_msp_improv": ("Audio/session*/S*/[PRST]/MSP-IMPROV-S*.wav", "Evalution.txt"),
    "synthetic_crema_d": ("AudioWAV/10*_*_*_*.wav", "processedResults/summaryTable.csv", "VideoDemographics.csv"),
    "synthetic_msp_podcast": ("Audios/MSP-PODCAST_*_*.wav", "Labels/labels_concensus.csv"),
}


def _generated_files(marker: dict, present: set[str] = frozenset()) -> set[str] | None:
    """The files the marker's generator wrote (of those ``present``, for a marker without a file
    list), or None when that cannot be known."""
    if isinstance(marker.get("files"), list):
        return {*marker["files"], MARKER}
    if marker.get("version") == GENERATOR_VERSION and marker.get("task") in SHAPES:
        return {*planned_files(marker["task"]), MARKER}  # a marker written before markers listed files
    if marker.get("task") in LAYOUTS:  # an older version's corpus: its files by their layout
        patterns = LAYOUTS[marker["task"]]
        return {f for f in present if any(fnmatch.fnmatchcase(f, pattern) for pattern in patterns)} | {MARKER}
    return None


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def _what(marker: dict) -> str:
    return f"a generated {marker.get('task')} corpus (generator version {marker.get('version')}, seed {marker.get('seed')})"


def _check_replaceable(root: Path, name: str) -> dict | None:
    """The marker of the corpus that ``root`` holds, when it may be replaced by ``name``; a
    FileExistsError when it holds anything the generator did not write (the folder is not touched)."""
    if not root.exists():
        return None
    present = _files_under(root)
    marker = _read_marker(root)
    if marker is None:
        if present:
            examples = ", ".join(sorted(present)[:3])
            raise FileExistsError(f"{root} holds files that are not a generated {name} corpus (e.g. {examples}); "
                                  "it is left as it is: pick another root")
        return None
    owned = _generated_files(marker, present)
    if owned is None:
        raise FileExistsError(f"{root} holds {_what(marker)} that does not list its files; it is left as it is: "
                              f"delete it yourself or pick another root for {name}")
    foreign = sorted(present - owned)
    if foreign:
        raise FileExistsError(
            f"{root} holds {_what(marker)} and {len(foreign)} file(s) the generator did not write "
            f"(e.g. {', '.join(foreign[:3])}); it is left as it is: move those files or pick another root for {name}"
        )
    return marker


def _remove_generated(folder: Path) -> None:
    """Delete the generator's own files in ``folder``, then the folders they leave empty; never anything else."""
    marker = _read_marker(folder)
    owned = set() if marker is None else (_generated_files(marker, _files_under(folder)) or set())
    for relative in sorted(owned - {MARKER}):
        (folder / relative).unlink(missing_ok=True)
    (folder / MARKER).unlink(missing_ok=True)  # last: a half-cleaned folder still says what is the generator's
    for directory in sorted((p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink()), key=lambda p: -len(p.parts)):
        if not any(directory.iterdir()):
            directory.rmdir()
    if any(folder.iterdir()):
        warnings.warn(f"{folder} was left in place: it holds files the generator did not write", stacklevel=3)
    else:
        folder.rmdir()


def _clear_scratch(root: Path) -> None:
    """Folders a killed generator left beside ``root``: its scratch copy and a swapped-out corpus."""
    for stale in root.parent.glob(f"{glob.escape(root.name)}.partial-*"):
        if stale.name.rsplit("-", 1)[1].isdigit():
            shutil.rmtree(stale)  # written only by a generator, which starts it empty
    for stale in root.parent.glob(f"{glob.escape(root.name)}.old-*"):
        if stale.name.rsplit("-", 1)[1].isdigit():
            _remove_generated(stale)


def ensure_generated(name: str, root: str | Path, *, seed: int = SEED) -> Path:
    """Generate ``name`` under ``root`` unless it is there already; one process at a time.

    A folder holding another task, seed or generator version is regenerated beside it and swapped
    in, but only when it holds nothing the generator did not write; otherwise it is refused.
    """
    root = Path(root)
    if _is_complete(root, name, seed):
        _list_files_in_marker(root)
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    # An OS-level lock: a generator killed midway releases it, and its scratch folder is removed.
    with FileLock(str(root) + ".lock"):
        if _is_complete(root, name, seed):
            return root
        _clear_scratch(root)
        replaced = _check_replaceable(root, name)
        partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
        generate(name, partial, seed=seed)
        if not root.exists():
            os.replace(partial, root)  # readers see the whole corpus or none of it
            return root
        if replaced is not None:
            warnings.warn(f"replacing {_what(replaced)} in {root} with {name}", stacklevel=2)
        # Two renames: portable Python has no atomic exchange of two folders. A reader that looks
        # in between finds no marker, waits for this lock and then sees the new corpus.
        old = root.with_name(f"{root.name}.old-{os.getpid()}")
        os.replace(root, old)
        os.replace(partial, root)
        _remove_generated(old)
    return root


def _list_files_in_marker(root: Path) -> None:
    # Markers written before they listed their files get the list now, while this generator
    # version can still say what it wrote; a later version could not.
    marker = _read_marker(root)
    if marker is None or "files" in marker:
        return
    try:
        write_text_atomic(root / MARKER, json.dumps({**marker, "files": planned_files(marker["task"])}, indent=2) + "\n")
    except OSError:
        pass  # a read-only corpus folder is still usable; its marker stays as it is


def default_root(name: str) -> Path:
    """Where a synthetic corpus lives unless told otherwise: <cache>/synthetic/<name>."""
    return default_cache_dir() / "synthetic" / name


class Synthetic:
    """Mixin making a corpus reader generate its corpus on first use (no --data-root needed)."""

    generated: ClassVar[bool] = True
    name: ClassVar[str]
    default_dir = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The expected counts are the generator's own, so they follow its shape of each corpus.
        cls.expected_total = SHAPES[cls.name].total()
        cls.expected_counts = SHAPES[cls.name].counts()

    def __init__(self, root: str | Path | None = None, *, strict: bool = False, **options):
        super().__init__(default_root(self.name) if root is None else root, strict=strict, **options)

    def load(self):
        ensure_generated(self.name, self.root)
        return super().load()


@TASKS.register("synthetic_iemocap")
class SyntheticIemocap(Synthetic, Iemocap):
    """IEMOCAP-shaped synthetic corpus: 5 sessions x 2 speakers, 5 session folds."""

    name = "synthetic_iemocap"


@TASKS.register("synthetic_msp_improv")
class SyntheticMspImprov(Synthetic, MspImprov):
    """MSP-IMPROV-shaped synthetic corpus: 6 sessions x 2 speakers, 6 session folds."""

    name = "synthetic_msp_improv"


@TASKS.register("synthetic_crema_d")
class SyntheticCremaD(Synthetic, CremaD):
    """CREMA-D-shaped synthetic corpus: 40 actors, the reference rule's 5 actor folds."""

    name = "synthetic_crema_d"
    actors = tuple(s for s, _ in SHAPES[name].speakers)


@TASKS.register("synthetic_msp_podcast")
class SyntheticMspPodcast(Synthetic, MspPodcast):
    """MSP-Podcast-shaped synthetic corpus: a fixed speaker-independent split x 3 seeds."""

    name = "synthetic_msp_podcast"
