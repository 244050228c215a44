"""--device is checked before a corpus is read, a model built or an artifact loaded."""

from __future__ import annotations

import pytest
import torch

import peftser.downstream.tasks
from peftser import api
from peftser.benchmark import artifact
from peftser.benchmark.run.devices import resolve_device
from peftser.cli import main

TRAIN = ["--train", "demo_whisper_tiny", "downstream", "synthetic_msp_podcast", "seed1", "--epochs", "1"]


@pytest.fixture
def nothing_built(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("work started before --device was checked")

    monkeypatch.setattr(peftser.downstream.tasks, "make_task", fail)
    monkeypatch.setattr(api, "load_artifact", fail)  # what --predict loads through
    monkeypatch.setattr(artifact, "load_artifact", fail)


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize("mode", ["train", "predict", "bench"])
def test_an_unknown_device_name_is_one_line_before_any_work(mode, tmp_path, capsys, nothing_built):
    argv = {
        "train": [*TRAIN, "--results", str(tmp_path / "r")],
        "predict": ["--predict", "some_artifact", "a.wav"],
        "bench": ["--bench", "demo_whisper_tiny", "lora"],
    }[mode]
    assert main([*argv, "--device", "tpu"]) == 2
    assert error_line(capsys).startswith("error: --device 'tpu' is not a device name (cpu, cuda, cuda:N, ...); this process can use cpu")
    assert not (tmp_path / "r").exists()


def test_a_gpu_this_machine_lacks_is_one_line_before_the_corpus(tmp_path, capsys, nothing_built, monkeypatch):
    if not torch.cuda.is_available():
        assert main([*TRAIN, "--device", "cuda:3", "--results", str(tmp_path / "r")]) == 2
        assert error_line(capsys) == "error: --device cuda:3: no cuda device is available to this process; it can use cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert main([*TRAIN, "--device", "cuda:3", "--results", str(tmp_path / "r")]) == 2
    assert error_line(capsys) == "error: --device cuda:3: this process sees 2 cuda device(s): cuda:0, cuda:1"
    assert not (tmp_path / "r").exists()


def test_usable_devices_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cuda" if torch.cuda.is_available() else "cpu")
