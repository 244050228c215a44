"""Outputs are checked before any work: results, artifacts, cache, manifest; one line per OSError."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from peftser.benchmark.run import training
from peftser.cli import main

TRAIN = ["--train", "demo_whisper_tiny", "downstream", "synthetic_msp_podcast", "seed1", "--epochs", "1"]


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if a cell starts training; the checks must come first."""
    def run_cell(*args, **kwargs):
        raise AssertionError("training started before the outputs were checked")

    monkeypatch.setattr(training, "run_cell", run_cell)


@pytest.fixture
def read_only(monkeypatch):
    """Makes a folder unwritable: by its mode, and (tests may run as root, whom modes do not stop)
    by refusing to create files in it as a read-only mount would."""
    folders: list[Path] = []
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and any(Path(dir).resolve().is_relative_to(f) for f in folders):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)

    def make(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)
        folders.append(folder.resolve())
        return folder

    yield make
    for folder in folders:
        folder.chmod(0o755)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_train_with_results_naming_a_file_fails_before_training(tmp_path, capsys, no_training):
    results = tmp_path / "results.txt"
    results.write_text("not a folder")
    assert main([*TRAIN, "--results", str(results)]) == 2
    line = one_error_line(capsys)
    assert f"the results folder {results} is not a folder" in line


def test_train_into_a_read_only_results_folder_fails_before_training(tmp_path, capsys, no_training, read_only):
    results = read_only(tmp_path / "results")
    assert main([*TRAIN, "--results", str(results)]) == 2
    assert f"the results folder {results} cannot be written: Permission denied" in one_error_line(capsys)


def test_a_read_only_records_folder_is_found_too(tmp_path, capsys, no_training, read_only):
    records = read_only(tmp_path / "results" / "records" / "synthetic_msp_podcast")
    assert main([*TRAIN, "--results", str(tmp_path / "results")]) == 2
    assert f"the run records folder {records} cannot be written" in one_error_line(capsys)


def test_an_unusable_cache_says_it_is_the_cache(tmp_path, capsys, monkeypatch, no_training):
    monkeypatch.setenv("PEFTSER_CACHE", "/proc/x")
    assert main([*TRAIN, "--results", str(tmp_path / "results")]) == 2
    line = one_error_line(capsys)
    assert "the audio cache ($PEFTSER_CACHE) /proc/x/audio16k cannot be written" in line


def test_a_read_only_cache_says_it_is_the_cache(tmp_path, capsys, monkeypatch, no_training, read_only):
    cache = read_only(tmp_path / "cache")
    monkeypatch.setenv("PEFTSER_CACHE", str(cache))
    assert main([*TRAIN, "--results", str(tmp_path / "results")]) == 2
    assert f"the audio cache ($PEFTSER_CACHE) {cache / 'audio16k'}" in one_error_line(capsys)


def test_grid_into_a_read_only_results_folder_starts_no_worker(tmp_path, capsys, read_only):
    results = read_only(tmp_path / "results")
    grid = tmp_path / "grid.yaml"
    grid.write_text("upstreams: [demo_whisper_tiny]\nmethods: [downstream]\ntasks: [{task: synthetic_crema_d, trainings: [fold1]}]\n")
    assert main(["--grid", str(grid), "--results", str(results), "--devices", "cpu"]) == 2
    assert "cannot be written: Permission denied" in one_error_line(capsys)
    assert not (results / "records").exists()


def test_leaderboard_into_a_read_only_results_folder_is_one_line(tmp_path, capsys, read_only):
    results = tmp_path / "results"
    (results / "records").mkdir(parents=True)
    read_only(results)
    assert main(["--leaderboard", "--results", str(results)]) == 2
    assert "the results folder (leaderboard.md and its plots)" in one_error_line(capsys)


def test_manifest_out_naming_a_folder_is_one_line_before_the_corpus_is_read(tmp_path, capsys, monkeypatch):
    from peftser.downstream import manifest

    monkeypatch.setattr(manifest, "make_task", lambda *a, **k: pytest.fail("the corpus was read first"))
    assert main(["--manifest", "synthetic_crema_d", "--out", str(tmp_path)]) == 2
    assert f"--out {tmp_path} is a folder; give the name of a file to write" in one_error_line(capsys)


def test_an_oserror_during_a_write_names_the_path_and_what_it_was_for(tmp_path, monkeypatch):
    from peftser.files import OutputError, write_text_atomic, writing

    full = tmp_path / "full"
    full.mkdir()

    def mkstemp(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(full / ".x.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    with pytest.raises(OutputError) as error:
        with writing("the run record"):
            write_text_atomic(full / "r.json", "{}")
    assert str(error.value) == f"the run record: cannot write {full / 'r.json'}: No space left on device (the disk is full)"
