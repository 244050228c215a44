"""Tiny corpora in the real release layouts and label formats, for the task readers' tests.

Each builder writes a corpus under a folder and returns what a correct reader must find: the
kept utterances (key -> label, gender, speaker, fold group) and the exclusions by reason. The
label files carry the lines a reader must drop (IEMOCAP xxx/fru/oth, MSP-Improv O/X, CREMA-D
tie votes and the known-bad clip, MSP-Podcast unknown speakers and Test2) and the wav files come
at other sample rates and channel counts than 16 kHz mono.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

RATES = (22050, 44100, 8000, 16000)


@dataclass
class Expected:
    """What a reader must make of a fixture corpus."""

    root: Path
    kept: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)  # key -> label, gender, speaker, group
    excluded: dict[str, int] = field(default_factory=dict)  # reason (without prefix) -> count

    def keep(self, key: str, label: str, gender: str, speaker: str, group: str) -> None:
        self.kept[key] = (label, gender, speaker, group)

    def exclude(self, reason: str) -> None:
        self.excluded[reason] = self.excluded.get(reason, 0) + 1


def write_wav(path: Path, *, seed: int = 0, seconds: float = 0.06, rate: int | None = None, channels: int | None = None) -> None:
    """A short non-silent clip; rate and channel count vary with the seed unless given."""
    rate = RATES[seed % len(RATES)] if rate is None else rate
    channels = 1 + seed % 2 if channels is None else channels
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (150 + 10 * (seed % 20)) * t) + 0.02 * rng.normal(size=t.size)
    data = np.stack([tone * (1.0 - 0.3 * c) for c in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), data, rate, subtype="PCM_16")


def write_silent_wav(path: Path, seconds: float = 0.05) -> None:
    """A clip of zeros (a recording without signal)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.zeros(int(seconds * 16000)), 16000, subtype="PCM_16")


def write_short_wav(path: Path, samples: int = 100) -> None:
    """A click shorter than one wav2vec 2.0 frame (400 samples at 16 kHz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.full(samples, 0.2), 16000, subtype="FLOAT")


def write_nan_wav(path: Path, at: int, seconds: float = 0.06) -> None:
    """A tone with one NaN sample at index ``at`` (a float WAV can hold it)."""
    t = np.arange(int(seconds * 16000)) / 16000
    data = 0.3 * np.sin(2 * np.pi * 200 * t)
    data[at] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), data, 16000, subtype="FLOAT")


# -- IEMOCAP -----------------------------------------------------------------------------------

# (dialog suffix, speaker letter of the ID's last part, number, label code) per session; the
# dialog prefix letter is the session's lead actor and must not decide the gender.
_IEMOCAP_LINES = (
    ("F_impro01", "F", 0, "neu"),
    ("F_impro01", "M", 13, "exc"),  # Ses0kF_impro01_M013: a male speaker in a female-led dialog
    ("F_impro01", "F", 1, "hap"),
    ("F_impro01", "M", 2, "sad"),
    ("F_impro01", "F", 3, "fru"),
    ("F_impro01", "M", 4, "xxx"),
    ("M_script01_1", "F", 5, "ang"),
    ("M_script01_1", "M", 6, "neu"),
    ("M_script01_1", "F", 7, "oth"),
    ("M_script01_1", "M", 8, "ang"),
)
_IEMOCAP_CLASSES = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}


def build_iemocap(root: Path) -> Expected:
    """IEMOCAP_full_release with 5 sessions of 10 labelled turns each (7 kept per session)."""
    expected = Expected(root)
    for k in range(1, 6):
        session = root / f"Session{k}"
        blocks: dict[str, list[str]] = {}
        for i, (dialog_suffix, letter, number, code) in enumerate(_IEMOCAP_LINES):
            dialog = f"Ses0{k}{dialog_suffix}"
            utt_id = f"{dialog}_{letter}{number:03d}"
            start = 1.5 * i
            blocks.setdefault(dialog, []).append(
                f"[{start:.4f} - {start + 1.2:.4f}]\t{utt_id}\t{code}\t[2.5000, 3.0000, 2.5000]\n"
                f"C-E2:\tNeutral;\t()\nC-E3:\tFrustration;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n"
            )
            write_wav(session / "sentences" / "wav" / dialog / f"{utt_id}.wav", seed=10 * k + i)
            if code in _IEMOCAP_CLASSES:
                gender = "female" if letter == "F" else "male"
                expected.keep(utt_id, _IEMOCAP_CLASSES[code], gender, f"Ses0{k}{letter}", f"Session{k}")
            else:
                expected.exclude(f"label {code!r}")
        evaluation = session / "dialog" / "EmoEvaluation"
        for dialog, lines in blocks.items():
            header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
            evaluation.mkdir(parents=True, exist_ok=True)
            (evaluation / f"{dialog}.txt").write_text(header + "".join(lines))
        # Files the reader must ignore: per-rater folders and macOS resource-fork copies.
        (evaluation / "Categorical").mkdir()
        (evaluation / "Categorical" / f"Ses0{k}F_impro01_e2_cat.txt").write_text("Ses01F_impro01_F000 :Neutral state; ()\n")
        (evaluation / f"._Ses0{k}F_impro01.txt").write_bytes(b"\x00\x05\x16\x07 not a label file")
    return expected


# -- MSP-IMPROV --------------------------------------------------------------------------------

_MSP_CLASSES = {"N": "neutral", "H": "happy", "S": "sad", "A": "angry"}
# (sentence, speaker letter, scenario, consensus code) per session
_IMPROV_LINES = (
    ("S01A", "F", "P", "A"),
    ("S02H", "M", "R", "H"),
    ("S03S", "F", "S", "S"),
    ("S04N", "M", "T", "N"),
    ("S05A", "F", "P", "O"),
    ("S06H", "M", "P", "X"),
    ("S07N", "F", "R", "N"),
)


def build_msp_improv(root: Path, label_file: str = "Evalution.txt") -> Expected:
    """MSP-IMPROV with 6 sessions of 7 evaluated turns each (5 kept per session)."""
    expected = Expected(root)
    lines = []
    for k in range(1, 7):
        for i, (sentence, letter, scenario, code) in enumerate(_IMPROV_LINES):
            speaker = f"{letter}0{k}"
            stem = f"IMPROV-{sentence}-{speaker}-{scenario}-{'FM' if letter == 'F' else 'MF'}{i:02d}"
            lines.append(
                f"UTD-{stem}.avi; {code}; A:2.800000; V:3.400000; D:2.800000; N:5;\n"
                f"Angry; A:3.000000; V:2.000000; D:3.000000; ;\nNeutral; A:2.000000; V:3.000000; D:3.000000; ;\n\n"
            )
            write_wav(root / "Audio" / f"session{k}" / sentence / scenario / f"MSP-{stem}.wav", seed=100 + 10 * k + i)
            if code in _MSP_CLASSES:
                expected.keep(f"MSP-{stem}", _MSP_CLASSES[code], "female" if letter == "F" else "male", speaker, f"session{k}")
            else:
                expected.exclude(f"label {code!r}")
    (root / label_file).write_text("".join(lines))
    return expected


# -- CREMA-D -----------------------------------------------------------------------------------

_CREMA_INTENDED = {"NEU": "neutral", "HAP": "happy", "SAD": "sad", "ANG": "angry"}


def crema_gender(actor: int) -> str:
    return "male" if actor % 3 else "female"


def build_crema_d(root: Path, label_source: str = "multimodal_vote") -> Expected:
    """CREMA-D with all 91 actors, two clips each, plus ties, fear/disgust votes and 1076_MTI_SAD_XX.

    Per actor: clip DFA has intended emotion and votes that agree, clip IEO's voice-only vote
    differs from the multimodal one; some multimodal votes are ties, F or D.
    """
    expected = Expected(root)
    demographics = ["ActorID,Age,Sex,Race,Ethnicity\n"]
    table = [",FileName,VoiceVote,VoiceLevel,FaceVote,FaceLevel,MultiModalVote,MultiModalLevel\n"]
    intended_codes = list(_CREMA_INTENDED) + ["DIS", "FEA"]
    votes = "NHSA"
    row = 0
    for actor in range(1001, 1092):
        gender = crema_gender(actor)
        demographics.append(f"{actor},30,{gender.capitalize()},Caucasian,Not Hispanic\n")
        for j, sentence in enumerate(("DFA", "IEO")):
            intended = intended_codes[(actor + j) % len(intended_codes)]
            name = f"{actor}_{sentence}_{intended}_{'XX' if intended == 'NEU' else 'HI'}"
            multimodal = votes[(actor + j) % 4]
            voice = multimodal if sentence == "DFA" else votes[(actor + j + 1) % 4]
            if sentence == "IEO" and actor % 10 == 0:
                multimodal = "A:H"  # a tie
            if sentence == "IEO" and actor % 10 == 5:
                multimodal = "F"
            row += 1
            table.append(f"{row},{name},{voice},60,{voice},55.5,{multimodal},70.2\n")
            write_wav(root / "AudioWAV" / f"{name}.wav", seed=actor * 2 + j, seconds=0.04)
            code = {"multimodal_vote": multimodal, "voice_vote": voice, "filename": intended}[label_source]
            label = (_CREMA_INTENDED if label_source == "filename" else _MSP_CLASSES).get(code)
            if label is None:
                expected.exclude("tie vote" if ":" in code else f"label {code!r}")
            else:
                expected.keep(name, label, gender, str(actor), str(actor))
    # The known clip without signal: in the ratings, silent on disk, skipped by name.
    table.append(f"{row + 1},1076_MTI_SAD_XX,S,80,S,80,S,80\n")
    write_silent_wav(root / "AudioWAV" / "1076_MTI_SAD_XX.wav")
    expected.exclude("known bad clip 1076_MTI_SAD_XX (no signal)")
    (root / "processedResults").mkdir(parents=True, exist_ok=True)
    (root / "processedResults" / "summaryTable.csv").write_text("".join(table))
    (root / "VideoDemographics.csv").write_text("".join(demographics))
    return expected


# -- MSP-Podcast -------------------------------------------------------------------------------

# (speaker id, gender, split, emotion code) per row
_PODCAST_ROWS = (
    ("127", "Female", "Train", "N"), ("127", "Female", "Train", "H"), ("127", "Female", "Train", "A"),
    ("310", "Male", "Train", "S"), ("310", "Male", "Train", "N"), ("310", "Male", "Train", "U"),
    ("Unknown", "Male", "Train", "N"), ("88", "Unknown", "Train", "H"), ("Unknown", "Unknown", "Validation", "A"),
    ("45", "Male", "Validation", "A"), ("45", "Male", "Validation", "N"), ("46", "Female", "Validation", "S"),
    ("46", "Female", "Validation", "X"),
    ("901", "Female", "Test1", "H"), ("901", "Female", "Test1", "S"), ("902", "Male", "Test1", "N"),
    ("902", "Male", "Test1", "C"), ("77", "Female", "Test2", "N"), ("78", "Male", "Test2", "A"),
)


def build_msp_podcast(root: Path) -> Expected:
    """MSP-PODCAST with Labels/labels_concensus.csv and Audios/, 11 usable rows of 19."""
    expected = Expected(root)
    rows = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"]
    for i, (speaker, gender, split, code) in enumerate(_PODCAST_ROWS):
        name = f"MSP-PODCAST_{i // 3 + 1:04d}_{i % 3 + 1:04d}.wav"
        rows.append(f"{name},{code},4.2,3.8,4.0,{speaker},{gender},{split}\n")
        write_wav(root / "Audios" / name, seed=500 + i)
        if split == "Test2":
            expected.exclude("split 'Test2'")
        elif code not in _MSP_CLASSES:
            expected.exclude(f"label {code!r}")
        elif "Unknown" in (speaker, gender):
            expected.exclude("unknown speaker or gender")
        else:
            expected.keep(name[:-4], _MSP_CLASSES[code], gender.lower(), speaker, split)
    (root / "Labels").mkdir(parents=True, exist_ok=True)
    (root / "Labels" / "labels_concensus.csv").write_text("".join(rows))
    return expected


def break_some_audio(root):
    """Make two IEMOCAP clips unusable (missing, empty file) and one flawed (all zeros)."""
    wav = root / "Session1" / "sentences" / "wav"
    (wav / "Ses01F_impro01" / "Ses01F_impro01_F000.wav").unlink()
    (wav / "Ses01F_impro01" / "Ses01F_impro01_F001.wav").write_bytes(b"")
    write_silent_wav(wav / "Ses01M_script01_1" / "Ses01M_script01_1_M006.wav")


def load_quietly(task):
    """The utterances, ignoring the count warning that a tiny fixture always raises."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*expected \d+; check the corpus release")
        return task.utterances
