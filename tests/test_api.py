"""The Python API: peftser.load(...).predict on a demo-sized trained artifact, against --predict,
the record's test predictions, each clip alone, and its errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import peftser
from peftser.cli import main
from peftser.downstream.audio import AudioError
from peftser.downstream.task import EMOTIONS
from peftser.downstream.tasks import make_task
from trained_cells import DEMO_CELL

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.slow  # ``pytest -m "not slow"`` is the quick loop


@pytest.fixture(scope="module")
def demo_artifact(demo_results):
    results, record = demo_results
    return results / record["artifact"]["path"], record


@pytest.fixture(scope="module")
def model(demo_artifact):
    return peftser.load(demo_artifact[0], device="cpu")


@pytest.fixture(scope="module")
def test_utterances():
    return make_task(DEMO_CELL.task).training(DEMO_CELL.training).test


def clip(path, seconds: float, *, rate: int = 16000, seed: int = 0, channels: int = 1):
    rng = np.random.default_rng(seed)
    data = 0.1 * rng.standard_normal((int(seconds * rate), channels)).astype(np.float32)
    sf.write(path, data, rate)
    return path


def test_the_readme_example_runs(demo_artifact, tmp_path, monkeypatch, capsys):
    text = README.read_text()
    section = text[text.index("## Using a trained model"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    assert len(code.strip().splitlines()) == 6  # five lines of code and a blank one
    monkeypatch.chdir(tmp_path)
    clip(tmp_path / "clip1.wav", 0.5)
    clip(tmp_path / "clip2.wav", 2.0, rate=44100, seed=1, channels=2)
    exec(code.replace("results/demo/artifacts/<cell key>", str(demo_artifact[0])), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{DEMO_CELL.label} ")
    assert [line.split()[0] for line in out[1:]] == ["clip1.wav", "clip2.wav"]
    assert out[2].endswith("(start only)") and not out[1].endswith("(start only)")


def test_attributes_say_what_it_was_trained_as_and_how_well(model, demo_artifact):
    _, record = demo_artifact
    assert model.labels == EMOTIONS
    assert model.cell == DEMO_CELL and model.cell.key == record["key"]
    assert model.metrics == record["test"] and model.record["key"] == record["key"]
    assert model.max_seconds == 1.0


def test_predict_reproduces_the_records_test_predictions(model, demo_artifact, test_utterances):
    _, record = demo_artifact
    predictions = model.predict([u.path for u in test_utterances], batch_size=16)
    assert len(predictions) == len(record["predictions"]) == len(test_utterances)
    recorded = {p["key"]: p["pred"] for p in record["predictions"]}
    assert {u.key: p.label for u, p in zip(test_utterances, predictions)} == recorded
    assert len(set(recorded.values())) > 1  # a model that predicts one class would prove little


def test_predict_equals_the_cli(model, demo_artifact, test_utterances, capsys):
    files = [str(u.path) for u in test_utterances[:12]]
    assert main(["--predict", str(demo_artifact[0]), *files, "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    for line, p in zip(lines, model.predict(files), strict=True):
        path, label, probs = line.split("\t")[:3]
        assert (path, label) == (p.source, p.label)
        printed = {c: float(v) for c, v in (part.split() for part in probs.split("  "))}
        assert printed == {c: round(v, 3) for c, v in p.probabilities.items()}


def test_each_answer_in_a_batch_is_the_clip_alone(model, tmp_path):
    # Lengths 0.3-1.8 s in quarter seconds: padded batches of mixed lengths, and clips past the 1 s cut.
    files = [clip(tmp_path / f"c{i}.wav", 0.3 + 0.25 * i, seed=i) for i in range(7)]
    batched = model.predict(files, batch_size=4)
    for f, together in zip(files, batched):
        alone = model.predict(f)
        assert alone.label == together.label
        np.testing.assert_allclose(list(alone.probabilities.values()), list(together.probabilities.values()), atol=1e-5)
    assert [p.cut for p in batched] == [p.seconds > 1.0 for p in batched] == [False, False, False, True, True, True, True]
    assert all(p.scored_seconds == min(p.seconds, 1.0) for p in batched)


def test_arrays_and_tensors_are_prepared_as_files_are(model, tmp_path):
    stereo = clip(tmp_path / "stereo44k.wav", 0.8, rate=44100, channels=2, seed=3)
    from_file = model.predict(str(stereo))
    data, rate = sf.read(stereo, dtype="float32")
    mono = data.mean(axis=1)
    mixed = model.predict([mono, torch.from_numpy(mono), (mono, rate), stereo], sample_rate=rate)
    assert [p.source for p in mixed] == ["input 0", "input 1", "input 2", str(stereo)]
    for p in mixed:
        assert p.probabilities == pytest.approx(from_file.probabilities, abs=1e-6)
        assert p.seconds == pytest.approx(0.8, abs=1e-3)
    # Not resampled, the same samples would be another clip: the rate is used, not ignored.
    assert model.predict(mono, sample_rate=16000).seconds == pytest.approx(0.8 * 44100 / 16000, abs=1e-3)


def test_errors_name_the_problem(model, demo_artifact, tmp_path):
    with pytest.raises(ValueError, match="the list is empty"):
        model.predict([])
    with pytest.raises(AudioError, match=r"missing\.wav: audio file is missing"):
        model.predict([clip(tmp_path / "ok.wav", 0.5), tmp_path / "missing.wav"])
    not_audio = tmp_path / "notaudio.wav"
    not_audio.write_text("hello")
    with pytest.raises(AudioError, match="notaudio.wav: audio file cannot be decoded"):
        model.predict(not_audio)
    with pytest.raises(ValueError, match="input 0: an array or tensor needs its sample_rate"):
        model.predict(np.ones(8000, dtype=np.float32))
    with pytest.raises(AudioError, match=r"input 1: samples must be 1-D .* shape \(2, 8000\)"):
        model.predict([np.ones(8000), np.ones((2, 8000))], sample_rate=16000)
    with pytest.raises(AudioError, match="input 0: audio is all zeros"):
        model.predict(np.zeros(8000), sample_rate=16000)
    reported = model.predict([tmp_path / "missing.wav", clip(tmp_path / "ok.wav", 0.5)], errors="report")
    assert reported[0].label is None and "audio file is missing" in reported[0].error
    assert reported[1].label in EMOTIONS and reported[1].error is None


def test_missing_or_tampered_artifacts_are_refused(demo_artifact, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        peftser.load(tmp_path / "nowhere")
    copy = tmp_path / "artifact"
    shutil.copytree(demo_artifact[0], copy)
    (copy / "adapter_config.json").rename(tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match="adapter_config.json is missing"):
        peftser.load(copy)
    (tmp_path / "config.json").rename(copy / "adapter_config.json")
    weights = bytearray((copy / "adapter.safetensors").read_bytes())
    weights[-5] ^= 0x10
    (copy / "adapter.safetensors").write_bytes(bytes(weights))
    with pytest.raises(ValueError, match="is damaged or was replaced: its sha256"):
        peftser.load(copy)


def test_an_older_artifact_finds_its_record_by_its_folder_and_a_moved_one_still_predicts(demo_artifact, tmp_path):
    artifact, record = demo_artifact
    results = artifact.parent.parent
    older = tmp_path / "results"
    shutil.copytree(results, older)
    config_path = older / "artifacts" / record["key"] / "adapter_config.json"
    config = json.loads(config_path.read_text())
    for name in ("cell", "key"):  # what artifacts written before the API did not hold
        del config[name]
    config_path.write_text(json.dumps(config))
    old = peftser.load(older / "artifacts" / record["key"])
    assert old.cell == DEMO_CELL and old.metrics == record["test"]
    moved = tmp_path / "moved"
    shutil.copytree(older / "artifacts" / record["key"], moved)
    alone = peftser.load(moved)
    assert alone.cell is None and alone.metrics is None and alone.record is None
    probe = np.random.default_rng(0).standard_normal(12000).astype(np.float32) * 0.1
    assert alone.predict(probe, sample_rate=16000) == peftser.load(artifact).predict(probe, sample_rate=16000)
