"""Audio paths named by label files must stay inside the corpus folder, in all four readers."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from corpus_fixtures import build_crema_d, build_iemocap, build_msp_improv, build_msp_podcast, write_wav

from peftser.downstream.tasks import make_task

OUTSIDE = "bad path: outside the corpus folder"


pytestmark = pytest.mark.usefixtures("cache")  # each test has a cache of its own (conftest)


def plant(path: Path) -> Path:
    """Make a path that climbs with '..' resolvable (its folders exist) and put a clip where it leads."""
    parts = path.parts
    for i, part in enumerate(parts):
        if part == "..":
            Path(*parts[:i]).mkdir(parents=True, exist_ok=True)
    target = Path(os.path.normpath(path))
    write_wav(target, seed=7, seconds=0.06)
    return target


def load(task):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        utterances = task.utterances
    return utterances, [str(w.message) for w in caught]


def test_iemocap_utterance_id_climbing_out_is_skipped_and_counted(tmp_path):
    root = tmp_path / "IEMOCAP_full_release"
    expected = build_iemocap(root)
    utt_id = "Ses01F_impro01/../../../../../escape/a/b/c_F099"  # passes the ID pattern
    label_file = root / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    with label_file.open("a") as handle:
        handle.write(f"[9.0000 - 10.0000]\t{utt_id}\tang\t[2.5000, 2.5000, 2.5000]\n")
    dialog = utt_id.rsplit("_", 1)[0]
    target = plant(root / "Session1" / "sentences" / "wav" / dialog / f"{utt_id}.wav")
    assert target.is_relative_to(tmp_path) and not target.is_relative_to(root)
    task = make_task("iemocap", data_root=tmp_path)
    utterances, messages = load(task)
    assert {u.key for u in utterances} == set(expected.kept)
    assert task.skipped[OUTSIDE] == 1
    assert any("outside the corpus folder" in m and utt_id in m for m in messages)
    with pytest.raises(ValueError, match=r"iemocap: utterance .*escape.* names audio .* outside the corpus folder"):
        make_task("iemocap", data_root=tmp_path, strict=True).utterances


def test_msp_podcast_file_names_climbing_out_or_absolute_are_skipped_and_counted(tmp_path):
    root = tmp_path / "MSP-PODCAST"
    expected = build_msp_podcast(root)
    climbing = plant(root / "Audios" / ".." / ".." / "escape.wav")
    absolute = tmp_path / "elsewhere" / "abs.wav"
    write_wav(absolute, seed=8)
    labels = root / "Labels" / "labels_concensus.csv"
    with labels.open("a") as handle:
        handle.write("../../escape.wav,A,4.0,4.0,4.0,127,Female,Train\n")
        handle.write(f"{absolute},H,4.0,4.0,4.0,127,Female,Train\n")
    assert climbing == tmp_path / "escape.wav"
    task = make_task("msp_podcast", data_root=tmp_path)
    utterances, messages = load(task)
    assert {u.key for u in utterances} == set(expected.kept)
    assert task.skipped[OUTSIDE] == 2
    assert all(u.path.resolve().is_relative_to(root.resolve()) for u in utterances)
    with pytest.raises(ValueError, match="outside the corpus folder"):
        make_task("msp_podcast", data_root=tmp_path, strict=True).utterances


def test_crema_d_and_msp_improv_names_cannot_climb_out(tmp_path):
    # Their label files name clips by patterns without separators: a path is a parse error, file and line named.
    build_crema_d(tmp_path / "CREMA-D")
    table = tmp_path / "CREMA-D" / "processedResults" / "summaryTable.csv"
    with table.open("a") as handle:
        handle.write("999,../../1001_DFA_ANG_XX,A,60,A,60,A,60\n")
    with pytest.raises(ValueError, match=rf"{table}:\d+: cannot parse"):
        make_task("crema_d", data_root=tmp_path).utterances
    build_msp_improv(tmp_path / "MSP-IMPROV")
    evaluation = tmp_path / "MSP-IMPROV" / "Evalution.txt"
    with evaluation.open("a") as handle:
        handle.write("UTD-IMPROV-S01A-F01-P-../../../x.avi; A; A:3; V:3; D:3; N:5;\n")
    with pytest.raises(ValueError, match=rf"{evaluation}:\d+: cannot parse"):
        make_task("msp_improv", data_root=tmp_path).utterances


def test_a_path_inside_the_folder_through_dot_dot_is_kept(tmp_path):
    root = tmp_path / "MSP-PODCAST"
    expected = build_msp_podcast(root)
    name = next(iter(expected.kept))
    labels = root / "Labels" / "labels_concensus.csv"
    text = labels.read_text().replace(f"{name}.wav,", f"../Audios/{name}.wav,")
    labels.write_text(text)
    task = make_task("msp_podcast", data_root=tmp_path)
    utterances, _ = load(task)
    assert {u.key for u in utterances} == set(expected.kept) and OUTSIDE not in task.skipped


# -- a NUL byte in one FileName skips that row, not the corpus --------------------
@pytest.mark.parametrize("name", ["MSP-PODCAST_0001\x00_0008.wav", "\x00", "a.wav\x00../x"])
def test_msp_podcast_a_nul_byte_in_one_file_name_skips_and_counts_that_row(tmp_path, name):
    root = tmp_path / "MSP-PODCAST"
    expected = build_msp_podcast(root)
    labels = root / "Labels" / "labels_concensus.csv"
    with labels.open("a") as handle:
        handle.write(f"{name},A,4.0,4.0,4.0,127,Female,Train\n")
    task = make_task("msp_podcast", data_root=tmp_path)
    utterances, messages = load(task)
    assert {u.key for u in utterances} == set(expected.kept)
    assert task.skipped["bad path: a NUL byte in the FileName"] == 1
    assert any(str(labels) in m and "NUL byte" in m for m in messages)
    with pytest.raises(ValueError, match=rf"{labels}:\d+: cannot parse .*a FileName without a NUL byte"):
        make_task("msp_podcast", data_root=tmp_path, strict=True).utterances


def test_a_nul_byte_in_an_audio_path_is_unusable_audio_not_a_crash(tmp_path):
    from peftser.downstream.audio import audio_problem

    problem = audio_problem(tmp_path / "a\x00b.wav")
    assert problem is not None and problem.kind == "unreadable" and "cannot be used" in str(problem)
