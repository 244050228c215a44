"""A full disk (ENOSPC) names the file being written and says the disk is full."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from peftser.cli import main
from peftser.files import OutputError, describe_os_error

DATA = Path(__file__).resolve().parent / "data" / "board"


def enospc() -> OSError:  # as a write() reports it: no file name
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.tmp"))


pytestmark = pytest.mark.usefixtures("cache")  # each test has a cache of its own (conftest)


def test_synthetic_generation_names_the_file_and_says_the_disk_is_full(tmp_path, monkeypatch):
    from peftser.downstream.tasks.synthetic.lifecycle import generate

    def full(self, data):
        raise enospc()

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OutputError) as err:
        generate("synthetic_crema_d", tmp_path / "corpus")
    message = str(err.value)
    assert message.startswith(f"the synthetic corpus: cannot write {tmp_path / 'corpus'}/")
    assert message.endswith("No space left on device (the disk is full)")


def test_the_manifest_of_a_synthetic_corpus_on_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys, cache):
    def full(self, data):
        raise enospc()

    monkeypatch.setattr(Path, "write_bytes", full)
    assert main(["--manifest", "synthetic_iemocap", "--out", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write" in err and "(the disk is full)" in err
    assert not list(cache.glob("synthetic/*.partial-*")) and not (tmp_path / "m.csv").exists()


@pytest.mark.parametrize("failure", ["short", "enospc", "edquot"])
def test_the_audio_cache_names_its_entry_and_says_the_disk_is_full(tmp_path, monkeypatch, cache, failure):
    from peftser.downstream import audio

    path = tmp_path / "a.wav"
    sf.write(path, (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32), 16000)
    real_save = np.save

    def save(handle, wave, **kwargs):
        handle.write(b"\x93NUMPY partial")
        if failure == "short":
            raise OSError("44000 requested and 29664 written")
        raise OSError(errno.ENOSPC if failure == "enospc" else errno.EDQUOT, "No space left on device")

    monkeypatch.setattr(audio.np, "save", save)
    with pytest.raises(OutputError) as err:
        audio.load_audio(path)
    message = str(err.value)
    assert message.startswith("the audio cache ($PEFTSER_CACHE): cannot write ") and ".npy:" in message
    assert "(the disk is full" in message
    assert leftovers(cache) == [] and not list(cache.rglob("*.npy"))
    monkeypatch.setattr(audio.np, "save", real_save)
    assert len(audio.load_audio(path)) == 16000  # recovers once there is room


def test_leaderboard_on_a_full_disk_names_the_file_and_leaves_no_temporary(tmp_path, monkeypatch, capsys):
    from peftser import files

    results = tmp_path / "results"
    results.mkdir()
    shutil.copytree(DATA / "records", results / "records")
    shutil.copy(DATA / "grids.json", results / "grids.json")
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise enospc()

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    assert main(["--leaderboard", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {results}/") and err.count("\n") == 1
    assert err.rstrip().endswith("No space left on device (the disk is full)")
    assert leftovers(results) == [] and not (results / "leaderboard.md").exists()


def test_an_error_without_a_file_name_still_says_the_disk_is_full():
    assert describe_os_error(enospc()) == "No space left on device (the disk is full)"
    assert describe_os_error(OSError(errno.EACCES, "Permission denied", "/x")) == "/x: Permission denied"
