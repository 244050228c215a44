"""A file the user names is written, never replaced by one: --manifest --out on links, devices, FIFOs."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from peftser.cli import main
from peftser.downstream.task import Task, Training, Utterance


class TinyTask(Task):
    name = "tiny"
    training_names = ("fold1",)

    def load(self):
        return [Utterance(f"u{i}", Path(f"u{i}.wav"), f"s{i % 2}", "female", "happy") for i in range(3)]

    def trainings(self):
        u = tuple(self.utterances)
        return [Training("fold1", u[:1], u[1:2], u[2:], 8)]


@pytest.fixture
def tiny_manifest(monkeypatch, tmp_path):
    from peftser.downstream import manifest

    monkeypatch.setattr(manifest, "make_task", lambda *a, **k: TinyTask(tmp_path))
    monkeypatch.setattr(manifest, "check_cache_writable", lambda: None)
    return lambda out: main(["--manifest", "synthetic_crema_d", "--out", str(out)])


def test_a_symbolic_link_is_written_through_and_stays_a_link(tiny_manifest, tmp_path):
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert tiny_manifest(link) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("key,path,speaker,gender,label,fold1\n")


def test_a_fifo_is_written_into_not_replaced(tiny_manifest, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(Path(fifo).read_text()), daemon=True)
    reader.start()
    assert tiny_manifest(fifo) == 0
    reader.join(10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received and received[0].count("\n") == 4


def test_a_character_device_is_written_into_and_its_error_is_one_line(tiny_manifest, tmp_path, capsys):
    # a twin of /dev/full (the device that is always full), so that a regression replaces only it
    full = tmp_path / "full"
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("making a device node needs root")
    assert tiny_manifest(full) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot write {full}" in err[0] and "No space left on device" in err[0], err
    assert stat.S_ISCHR(os.lstat(full).st_mode) and os.lstat(full).st_rdev == os.makedev(1, 7)


def test_a_socket_is_refused_in_one_line_before_the_corpus_is_read(monkeypatch, tmp_path, capsys):
    import socket

    from peftser.downstream import manifest

    monkeypatch.setattr(manifest, "make_task", lambda *a, **k: pytest.fail("the corpus was read first"))
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert main(["--manifest", "synthetic_crema_d", "--out", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out {path} is a socket; give the name of a file to write"
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


@pytest.mark.parametrize("where", ["../elsewhere", "ABSOLUTE", "artifacts/../../elsewhere", "artifacts", "artifacts/link"])
def test_cards_are_written_only_inside_the_artifacts_folder(tmp_path, where, capsys):
    import json

    from board_fixture import board_results

    results = board_results(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "README.md").write_text("precious\n")
    (results / "artifacts").mkdir()
    (results / "artifacts" / "link").symlink_to(elsewhere)
    records = sorted((results / "records").rglob("*.json"))
    tampered, kept = records[0], records[1]
    record = json.loads(tampered.read_text())
    record["artifact"]["path"] = str(elsewhere) if where == "ABSOLUTE" else where
    tampered.write_text(json.dumps(record))
    kept_artifact = results / json.loads(kept.read_text())["artifact"]["path"]
    kept_artifact.mkdir(parents=True)

    with pytest.warns(UserWarning, match=f"{tampered.name}: no card written: its artifact path .* is not a folder inside {results / 'artifacts'}"):
        assert main(["--cards", "--results", str(results)]) == 2  # some records got no card
    assert (elsewhere / "README.md").read_text() == "precious\n"
    assert not (results / "artifacts" / "README.md").exists()
    assert (kept_artifact / "README.md").is_file()  # the other records' cards are still written
