"""A checkpoint folder that is found but malformed gives one line naming it, never a traceback or
transformers' table of every tensor; ``--train`` keeps a failed record of the cell."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import WhisperConfig, WhisperModel

from peftser.cli import main
from peftser.registry import UPSTREAMS, load_builtins
from peftser.upstream import UpstreamSpec, build_upstream

load_builtins()
TINY = UPSTREAMS.get("demo_whisper_tiny").config


def _malformed(folder, how):
    """Spoil a saved checkpoint folder the way ``how`` names."""
    if how == "config holds a list":
        (folder / "config.json").write_text("[]")
    elif how == "truncated weights":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif how == "shapes differ from the config":
        WhisperModel(WhisperConfig(**{**TINY, "d_model": 48})).save_pretrained(folder)  # weights 48 wide
        (folder / "config.json").write_text(json.dumps({**json.loads((folder / "config.json").read_text()), "d_model": 32}))


@pytest.fixture
def checkpoint(tmp_path, registered_upstream):
    torch.manual_seed(0)
    WhisperModel(WhisperConfig(**TINY)).save_pretrained(tmp_path / "whisper-tiny")
    name = registered_upstream(UpstreamSpec("test_malformed_checkpoint", "whisper", "openai/whisper-tiny", TINY))
    return name, tmp_path


HOWS = ["config holds a list", "truncated weights", "shapes differ from the config"]
EXPECTED = {
    "config holds a list": "must be a mapping, not list",
    "truncated weights": "SafetensorError",
    "shapes differ from the config": "differ in shape from its config.json, the first decoder.embed_positions.weight ([448, 48] stored, [448, 32] expected)",
}


@pytest.mark.parametrize("how", HOWS)
def test_a_malformed_checkpoint_is_one_error_naming_its_folder(checkpoint, how, capfd):
    name, root = checkpoint
    _malformed(root / "whisper-tiny", how)
    with pytest.raises(ValueError) as caught:
        build_upstream(name, checkpoint_dir=root)
    message = str(caught.value)
    assert "\n" not in message and f"checkpoint {root / 'whisper-tiny'} for upstream {name!r}" in message
    assert EXPECTED[how] in message
    assert "LOAD REPORT" not in capfd.readouterr().err  # transformers' table of every mismatched tensor


@pytest.mark.slow  # reads a synthetic corpus before the model is built
def test_train_on_a_malformed_checkpoint_keeps_a_failed_record(checkpoint, tmp_path, capsys, cache):
    name, root = checkpoint
    _malformed(root / "whisper-tiny", "truncated weights")
    results = tmp_path / "results"
    status = main(["--train", name, "lora", "synthetic_crema_d", "fold1", "--checkpoint-dir", str(root),
                   "--results", str(results), "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err[-1].startswith("error: checkpoint ") and "Traceback" not in "\n".join(err)
    (path,) = (results / "records").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "failed" and record["error"].startswith("CheckpointError: checkpoint ")
