"""--cache-info and --cache-prune: the audio cache's entries of vanished or edited files can go."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest
import soundfile as sf

from peftser.cli import main
from peftser.downstream import audio
from peftser.downstream.audio import clear_memory_cache, load_audio


pytestmark = pytest.mark.usefixtures("cache")  # each test has a cache of its own (conftest)


def corpus(folder, n: int = 3):
    folder.mkdir(parents=True)
    for i in range(n):
        rng = np.random.default_rng(i)
        sf.write(folder / f"{i}.wav", (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    return sorted(folder.glob("*.wav"))


def entries(cache) -> list:
    return sorted(cache.glob("audio16k/*/*.npy"))


def info(capsys) -> str:
    assert main(["--cache-info"]) == 0
    return capsys.readouterr().out


def test_a_touched_or_copied_corpus_leaves_stale_entries_that_prune_removes(tmp_path, cache, capsys, monkeypatch):
    files = corpus(tmp_path / "corpus")
    for f in files:
        load_audio(f)
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "corpus", copy)
    for f in sorted(copy.glob("*.wav")):
        load_audio(f)
    os.utime(files[0], ns=(time.time_ns(), time.time_ns() + 10**9))  # touched: decoded afresh
    clear_memory_cache()
    load_audio(files[0])
    shutil.rmtree(copy)
    assert len(entries(cache)) == 7  # 3 originals + 3 copies + 1 after the touch

    out = info(capsys)
    assert f"cache: {cache} ($PEFTSER_CACHE)" in out
    assert "in use: 3 entries" in out and "stale: 4 entries" in out
    assert main(["--cache-prune"]) == 0
    assert "removed 4 stale or unknown cache entries" in capsys.readouterr().out
    assert len(entries(cache)) == 3
    assert "stale: 0 entries" in info(capsys)

    def no_decoding(path):
        raise AssertionError(f"{path} decoded again")

    monkeypatch.setattr(audio, "decode", no_decoding)
    clear_memory_cache()
    for f in files:
        load_audio(f)  # what is in use was kept


def test_entries_without_a_source_note_are_unknown_and_pruned(tmp_path, cache, capsys):
    (f,) = corpus(tmp_path / "corpus", 1)
    load_audio(f)
    for note in cache.glob("audio16k/*/*.src"):
        note.unlink()  # as written before entries named their source
    assert "unknown: 1 entry" in info(capsys)
    assert main(["--cache-prune"]) == 0
    assert not entries(cache)


def test_bad_audio_notes_of_deleted_files_are_stale(tmp_path, cache, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(audio.AudioError):
        load_audio(bad)
    bad.unlink()
    assert "stale: 1 entry" in info(capsys)


def test_old_temporaries_go_fresh_ones_and_synthetic_corpora_stay(tmp_path, cache, capsys):
    (f,) = corpus(tmp_path / "corpus", 1)
    load_audio(f)
    folder = next(cache.glob("audio16k/*"))
    stem = folder.name + "0" * 38  # named as the cache names a temporary: only those are its own
    old, fresh = folder / f".{stem}.npy.abc.tmp", folder / f".{stem}.src.def.tmp"
    old.write_bytes(b"0" * 100)
    fresh.write_bytes(b"0" * 100)
    a_day_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (a_day_ago, a_day_ago))
    synthetic = cache / "synthetic" / "synthetic_crema_d"
    synthetic.mkdir(parents=True)
    (synthetic / "synthetic.json").write_text("{}")
    out = info(capsys)
    assert "interrupted writes: 1 entry" in out and "synthetic_crema_d 2 B" in out
    assert main(["--cache-prune"]) == 0
    assert not old.exists() and fresh.exists() and (synthetic / "synthetic.json").exists() and len(entries(cache)) == 1


# -- prune deletes only what the cache wrote, and follows no link ----------------
def _users_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "u.npy", np.ones(9))
    (folder / "notes.bad").write_text("mine")
    (folder / ".u.npy.tmp").write_text("mine")
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("sub", ["spk", "ab", "ab/cd"])
def test_prune_leaves_files_the_cache_did_not_write(cache, capsys, sub):
    folder = cache / "audio16k" / sub
    names = _users_files(folder)
    old = time.time() - 3 * 86400
    for path in folder.iterdir():
        os.utime(path, (old, old))
    assert main(["--cache-prune"]) == 0
    assert "removed 0 stale or unknown cache entries" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == names


def test_prune_removes_an_old_entry_and_temporary_named_by_the_cache(cache, capsys):
    key = "ab" + "0" * 38
    folder = cache / "audio16k" / "ab"
    folder.mkdir(parents=True)
    np.save(folder / f"{key}.npy", np.ones(9))  # no .src note: written before notes existed
    (folder / f".{key}.npy.x1y2.tmp").write_text("partial")
    old = time.time() - 3 * 86400
    os.utime(folder / f".{key}.npy.x1y2.tmp", (old, old))
    assert main(["--cache-prune"]) == 0
    assert "removed 2 stale or unknown cache entries" in capsys.readouterr().out
    assert not folder.exists()


@pytest.mark.parametrize("link", ["audio16k", "audio16k/yy", "audio16k/ab"])
def test_prune_follows_no_linked_folder_and_says_it_skipped_it(tmp_path, cache, capsys, link):
    outside = tmp_path / "users"
    names = _users_files(outside / "ab")
    np.save(outside / "ab" / ("ab" + "1" * 38 + ".npy"), np.ones(9))
    (cache / link).parent.mkdir(parents=True, exist_ok=True)
    (cache / link).symlink_to(outside if link == "audio16k" else outside / "ab", target_is_directory=True)
    files = corpus(tmp_path / "corpus", 1)
    if link != "audio16k":
        load_audio(files[0])
    assert main(["--cache-prune"]) == 0
    out = capsys.readouterr().out
    assert f"skipped {cache / link}: a symbolic link, not followed" in out
    assert len(sorted((outside / "ab").iterdir())) == len(names) + 1
    assert main(["--cache-info"]) == 0
    assert f"skipped {cache / link}" in capsys.readouterr().out


def test_a_clip_reached_through_links_or_a_relative_path_is_one_cache_entry(tmp_path, cache, monkeypatch):
    # The entry is keyed by the file's resolved path: a linked folder, a linked file and a
    # relative path to the same clip must all find the first decoding, not decode it again.
    (clip,) = corpus(tmp_path / "corpus", n=1)
    load_audio(clip)
    (tmp_path / "linked").symlink_to(tmp_path / "corpus", target_is_directory=True)
    (tmp_path / "clip.wav").symlink_to(clip)
    monkeypatch.chdir(tmp_path)
    for path in (tmp_path / "linked" / clip.name, tmp_path / "clip.wav", clip.relative_to(tmp_path)):
        clear_memory_cache()
        assert audio.source_identity(path)["path"] == str(clip.resolve())
        np.testing.assert_array_equal(load_audio(path), load_audio(clip))
    assert len(entries(cache)) == 1
