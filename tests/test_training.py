"""One training end to end: the protocol's loop, its record, its artifact, augmentation, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from peftser.benchmark.artifact import load_artifact
from peftser.benchmark.run.augment import augment
from peftser.benchmark.cell import Cell
from peftser.benchmark.metrics import metrics_from_predictions
from peftser.benchmark.run import batches as pipeline
from peftser.benchmark.run.batches import augmentation_seeds, batch_loader, collate, eval_batches, train_batches
from peftser.benchmark.run.training import load_clips, predict, run_cell
from peftser.cli import main
from peftser.downstream.task import EMOTIONS, Utterance
from peftser.downstream.tasks import make_task

# A tiny Whisper twin on the synthetic CREMA-D-like task, with a short schedule. Batch 1 gives the
# head enough optimiser steps in two epochs to leave chance (it needs ~100 from random features).
TRAIN = {"epochs": 2, "batch_size": 1, "lr": 1e-3, "head_hidden": 64}
CELL = Cell("demo_whisper_tiny", "adapter", "synthetic_crema_d", "fold1", train=TRAIN)

RECORD_FIELDS = {
    "status", "key", "label", "cell", "config", "upstream", "method", "variant", "task", "training", "seed",
    "test", "dev", "best_epoch", "history", "trainable_params", "method_params", "head_params",
    "upstream_params", "artifact", "wall_time_s", "device", "precision", "versions", "predictions", "machine", "cost",
}
METRIC_FIELDS = {"uar", "acc", "macro_f1", "demographic_parity", "equality_of_odds", "confusion", "n", "notes"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    return run_cell(CELL, device="cpu", results_dir=results, progress=False), results


def test_two_epochs_beat_chance_on_dev(trained):
    record, _ = trained
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    assert record["dev"]["uar"] > 25.0  # chance for four balanced classes
    assert record["dev"]["uar"] == max(h["dev_uar"] for h in record["history"])


def test_record_has_every_field_and_its_metrics_recompute(trained):
    record, results = trained
    assert RECORD_FIELDS <= set(record)
    assert METRIC_FIELDS <= set(record["test"]) and METRIC_FIELDS <= set(record["dev"])
    assert set(record["history"][0]) == {"epoch", "train_loss", "dev_loss", "dev_uar", "lr"}
    assert record["config"]["train"]["lr"] == 1e-3 and record["config"]["train"]["betas"] == [0.9, 0.98]
    assert record["seed"] == 8  # 8 x fold index
    machine = record["machine"]  # what decides whether these numbers reproduce elsewhere
    assert {"cpu", "cpu_capability", "mkl", "onednn", "torch", "threads"} <= set(machine) and machine["cpu"]
    assert machine["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert len(record["predictions"]) == record["test"]["n"]
    assert {p["gender"] for p in record["predictions"]} == {"female", "male"}
    recomputed = metrics_from_predictions(record["predictions"])
    for name in ("uar", "acc", "macro_f1", "demographic_parity", "equality_of_odds", "confusion"):
        assert recomputed[name] == record["test"][name]
    assert record["trainable_params"] == record["method_params"] + record["head_params"]
    assert (results / record["artifact"]["path"] / "adapter.safetensors").stat().st_size < record["artifact"]["bytes"]


def test_artifact_reloads_and_reproduces_test_predictions(trained):
    record, results = trained
    model, config = load_artifact(results / record["artifact"]["path"])
    assert config["method"] == "adapter" and config["classes"] == ["neutral", "happy", "sad", "angry"]
    test = make_task(CELL.task).training(CELL.training).test
    clips = load_clips(test, config["max_seconds"], strict=True, skipped={}, evaluation=True)
    preds = predict(model, clips, 8, torch.device("cpu"), "fp32").argmax(1).tolist()
    classes = config["classes"]
    assert [classes[p] for p in preds] == [p["pred"] for p in record["predictions"]]


def test_an_artifact_on_other_frozen_weights_warns(trained, tmp_path):
    import shutil

    record, results = trained
    copy = tmp_path / "artifact"
    shutil.copytree(results / record["artifact"]["path"], copy)
    config = json.loads((copy / "adapter_config.json").read_text())
    config["frozen_fingerprint"] = "0" * 16
    (copy / "adapter_config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match="frozen demo_whisper_tiny weights differ"):
        load_artifact(copy)


def test_same_seed_gives_identical_metrics(trained, tmp_path):
    record, _ = trained
    again = run_cell(CELL, device="cpu", results_dir=tmp_path, progress=False)
    assert again["test"] == record["test"] and again["history"] == record["history"]


def _clips_on_disk(tmp_path, lengths) -> list:
    rng = np.random.default_rng(0)
    utterances = []
    for i, n in enumerate(lengths):
        sf.write(tmp_path / f"{i}.wav", rng.standard_normal(n).astype(np.float32) * 0.1, 16000)
        utterances.append(Utterance(f"u{i}", tmp_path / f"{i}.wav", "s1", "female", ("sad", "angry")[i % 2]))
    return load_clips(utterances, 6.0, strict=True, skipped={})


@pytest.mark.parametrize("backbone", ["demo_whisper_tiny", "demo_wav2vec2_base", "demo_wavlm_base_plus"])
def test_evaluation_in_padded_batches_equals_one_clip_at_a_time(tmp_path, backbone):
    lengths = [8000, 12000, 8000, 16000, 5000, 9999, 12345]
    clips = _clips_on_disk(tmp_path, lengths)
    batches = eval_batches(lengths, batch_size=3)
    assert [lengths[i] for b in batches for i in b] == sorted(lengths, reverse=True)  # every clip once, longest first
    assert [len(b) for b in batches] == [3, 3, 1] and len({lengths[i] for i in batches[0]}) == 3  # padded
    from peftser.model import build_model

    model = build_model(backbone, "embedding_prompt")
    together = predict(model, clips, 3, torch.device("cpu"), "fp32")
    alone = torch.cat([predict(model, [c], 1, torch.device("cpu"), "fp32") for c in clips])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_the_loader_gives_the_documented_batches_with_and_without_workers(tmp_path, monkeypatch):
    """The epoch's shuffle, then one augmentation seed per batch, both from the training's generator;
    batch k is its clips augmented in order by a generator seeded with seed k, zero-padded."""
    lengths = [8000, 12000, 8000, 16000, 5000, 9999, 12345, 7000, 6000]
    clips = _clips_on_disk(tmp_path, lengths)
    ranges = ((10.0, 30.0), (0.10, 0.15))
    rng = np.random.default_rng(8)
    batches = train_batches(lengths, 4, rng)
    seeds = augmentation_seeds(rng, len(batches))
    expected = []
    for batch, seed in zip(batches, seeds):
        draws = np.random.default_rng(seed)
        waves, lens = collate([augment(clips[i].wave(), draws, *ranges) for i in batch])
        expected.append((waves, lens, torch.tensor([clips[i].label for i in batch])))
    assert len(expected) == 2
    for workers in (0, 2):
        monkeypatch.setattr(pipeline, "loader_workers", lambda device, n=workers: n)
        torch_state = torch.random.get_rng_state()
        got = list(batch_loader(clips, batches, torch.device("cpu"), seeds=seeds, augmentation=ranges))
        assert torch.equal(torch.random.get_rng_state(), torch_state)  # dropout and LayerDrop draws stay as they were
        assert len(got) == len(expected)
        for mine, theirs in zip(got, expected):
            assert all(torch.equal(a, b) for a, b in zip(mine, theirs)), f"{workers} workers"


@pytest.mark.parametrize("backbone", ["demo_whisper_tiny", "demo_wav2vec2_base"])
@pytest.mark.filterwarnings("ignore:.*(expected 5531|flawed audio|skipping)")
def test_dev_and_test_score_flawed_clips_that_training_skips(tmp_path, backbone):
    """The reference keeps all-zero, NaN and very short clips: they are in the test predictions
    (made finite, padded to 400 samples), while training skips them and counts them."""
    from corpus_fixtures import build_iemocap, write_nan_wav, write_short_wav, write_silent_wav

    root = tmp_path / "IEMOCAP_full_release"
    build_iemocap(root)
    wav = root / "Session{}" / "sentences" / "wav" / "Ses0{}F_impro01" / "Ses0{}F_impro01_{}.wav"
    flawed = {}
    for session in (1, 2):  # fold1: test is Session1, training Sessions 2-4 (dev Session5)
        def clip(name, k=session):
            flawed[f"Ses0{k}F_impro01_{name}"] = Path(str(wav).format(k, k, k, name))
            return flawed[f"Ses0{k}F_impro01_{name}"]

        write_silent_wav(clip("F000"))
        write_short_wav(clip("F001"))
        write_nan_wav(clip("M002"), at=300)
        write_nan_wav(clip("M013"), at=0)
    cell = Cell(backbone, "downstream", "iemocap", "fold1", train={"epochs": 1, "batch_size": 4, "head_hidden": 16})
    record = run_cell(cell, device="cpu", results_dir=tmp_path / "results", task_root=root)

    assert record["split_sizes"] == {"train": 21 - 4, "dev": 7, "test": 7}
    predicted = {p["key"] for p in record["predictions"]}
    assert {k for k in flawed if k.startswith("Ses01")} <= predicted and record["test"]["n"] == 7
    assert {k: n for k, n in record["skipped"].items() if k.startswith("bad audio")} == {
        "bad audio: silent": 1, "bad audio: too short": 1, "bad audio: nan/inf": 2,
    }
    notes = [d for d in record["deviations"] if "flawed" in d or d.startswith("dev/test")]
    assert notes == [
        "training skipped 4 clip(s) with flawed audio (1 silent, 2 nan/inf, 1 too short), which the reference code trains on",
        "dev/test: 2 clip(s) with NaN or infinite samples scored with those samples set to zero "
        "(the reference zeroes a clip whose first sample is NaN and passes other NaN on to the encoder)",
        "dev/test: 1 clip(s) under 400 samples scored zero-padded to 400 "
        "(the reference scored clips unpadded, one at a time, which wav2vec 2.0 and WavLM cannot take)",
    ]
    test = {c.utterance.key: c for c in load_clips(make_task("iemocap", root=root).training("fold1").test, 6.0,
                                                   strict=False, skipped={}, evaluation=True)}
    waves = {k: test[k].wave() for k in flawed if k.startswith("Ses01")}
    assert not waves["Ses01F_impro01_F000"].any() and not waves["Ses01F_impro01_M013"].any()  # NaN first: zeros
    assert len(waves["Ses01F_impro01_F001"]) == test["Ses01F_impro01_F001"].length == 400
    assert np.isfinite(waves["Ses01F_impro01_M002"]).all() and waves["Ses01F_impro01_M002"][300] == 0
    assert waves["Ses01F_impro01_M002"][299] != 0


@pytest.mark.slow
def test_worker_processes_give_the_same_record(tmp_path, monkeypatch):
    cell = Cell("demo_wavlm_base_plus", "lora", "synthetic_crema_d", "fold1", train={"epochs": 1, "batch_size": 8, "head_hidden": 32})
    records = []
    for workers in (0, 2):
        monkeypatch.setattr(pipeline, "loader_workers", lambda device, n=workers: n)
        record = run_cell(cell, device="cpu", results_dir=tmp_path / str(workers))
        records.append({k: v for k, v in record.items() if k not in ("wall_time_s", "cost")})  # both measured
    assert records[0] == records[1]


def test_one_loader_serves_every_pass_of_a_training(tmp_path, monkeypatch):
    """Its worker processes (on CUDA) start once a training, not once per epoch and per scoring."""
    built = []

    class CountingLoader(pipeline.DataLoader):
        def __init__(self, *args, **kwargs):
            built.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pipeline, "DataLoader", CountingLoader)
    for epochs in (1, 3):
        built.clear()
        cell = Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1", train={"epochs": epochs, "batch_size": 16, "head_hidden": 16})
        record = run_cell(cell, device="cpu", results_dir=tmp_path / str(epochs))
        assert len(record["history"]) == epochs and len(built) == 1


class _ClipThatSaysWhere:
    """A clip whose reading notes the pid of the process reading it."""

    def __init__(self, log):
        self.log, self.label = log, 0

    def wave(self):
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return np.zeros(1600, dtype=np.float32)


def test_loader_workers_persist_across_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "loader_workers", lambda device: 2)
    clips = [_ClipThatSaysWhere(tmp_path / "pids") for _ in range(4)]
    loader = pipeline.BatchLoader(torch.device("cpu"))
    for _ in range(3):  # e.g. an epoch, its dev scoring, the next epoch
        assert len(list(loader(clips, [[0], [1], [2], [3]]))) == 4
    pids = set((tmp_path / "pids").read_text().split())
    assert len(pids) == 2 and str(os.getpid()) not in pids  # the same two workers read every pass


def test_predict_on_corrupt_audio_is_a_clear_error(trained, tmp_path, capsys):
    record, results = trained
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    for bad in (corrupt, silent, tmp_path / "missing.wav"):
        code = main(["--predict", str(results / record["artifact"]["path"]), str(bad)])
        err = capsys.readouterr().err
        assert code == 2
        assert str(bad) in err and "Traceback" not in err


def test_predict_prints_emotion_and_four_probabilities(trained, capsys):
    record, results = trained
    utt = make_task(CELL.task).utterances[0]
    assert main(["--predict", str(results / record["artifact"]["path"]), str(utt.path)]) == 0
    line = capsys.readouterr().out.strip().split("\t")
    assert line[0] == str(utt.path) and line[1] in ("neutral", "happy", "sad", "angry")
    probs = [float(part.split()[1]) for part in line[2].split("  ")]
    assert len(probs) == 4 and abs(sum(probs) - 1) < 1e-2


def test_train_cli_saves_a_record_and_prints_a_summary(tmp_path, capsys):
    code = main(["--train", "demo_whisper_tiny", "downstream", "synthetic_msp_podcast", "seed1", "--epochs", "1", "--results", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "demo_whisper_tiny/downstream/synthetic_msp_podcast/seed1: test UAR" in out
    assert len(list((tmp_path / "records" / "synthetic_msp_podcast").glob("*.json"))) == 1


def test_bench_reports_step_time_evaluation_throughput_and_memory(capsys):
    import json

    assert main(["--bench", "demo_wavlm_base_plus", "lora", "--batch", "2", "--seconds", "2", "--steps", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["precision"] == "fp32" and (result["batch"], result["seconds"], result["steps"]) == (2, 2.0, 2)
    assert result["eval_clips"] == 4 and result["eval_clips_per_s_alone"] > 0 and result["eval_clips_per_s_batched"] > 0
    assert result["eval_max_logit_difference"] < 1e-4  # batched evaluation scores each clip as alone
    from peftser.model import build_model

    model = build_model("demo_wavlm_base_plus", "lora")
    assert result["trainable_params"] == model.parameter_counts()["trainable_params"]
    # The step's arithmetic is forward and backward: more than the forward pass alone, less than thrice it.
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as forward:
        model(0.1 * torch.randn(2, 32_000), torch.tensor([32_000, 32_000]))
    assert forward.get_total_flops() < result["step_gflop"] * 1e9 < 3 * forward.get_total_flops()
    assert result["matmul_gflops"] > 0
    assert result["share_of_bound"] == pytest.approx(result["achieved_gflops"] / result["matmul_gflops"])
    assert result["achieved_gflops"] == pytest.approx(result["step_gflop"] / result["sec_per_step"])


def test_a_method_with_its_default_arguments_is_the_same_cell():
    plain = Cell("whisper_base", "adapter", "iemocap", "fold1")
    explicit = Cell("whisper_base", "adapter", "iemocap", "fold1", method_args={"bottleneck": 128, "scale": 0.1})
    assert plain.key == explicit.key
    assert plain.key != Cell("whisper_base", "adapter", "iemocap", "fold1", method_args={"bottleneck": 64}).key


def test_test_is_scored_with_the_best_dev_epochs_weights(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from peftser.benchmark.run import training

    snapshots, dev_scores = [], []
    real_train_epoch, real_score = training.train_epoch, training.score

    def spying_train_epoch(model, *args, **kwargs):
        loss = real_train_epoch(model, *args, **kwargs)
        snapshots.append({n: t.clone() for n, t in model.trainable_state_dict().items()})
        return loss

    def rigged_score(logits, clips, classes):  # dev UAR of epochs 1..3 forced to 10, 90, 50
        loss, metrics, preds = real_score(logits, clips, classes)
        dev_scores.append(None)
        if len(dev_scores) <= 3:
            metrics = {**metrics, "uar": (10.0, 90.0, 50.0)[len(dev_scores) - 1]}
        return loss, metrics, preds

    monkeypatch.setattr(training, "train_epoch", spying_train_epoch)
    monkeypatch.setattr(training, "score", rigged_score)
    cell = Cell("demo_whisper_tiny", "lora", "synthetic_msp_podcast", "seed1", train={"epochs": 3, "batch_size": 8, "head_hidden": 64})
    record = run_cell(cell, device="cpu", results_dir=tmp_path, progress=False)
    assert record["best_epoch"] == 2 and record["dev"]["uar"] == 90.0
    saved = load_file(str(tmp_path / record["artifact"]["path"] / "adapter.safetensors"))
    assert all(torch.equal(saved[n], snapshots[1][n]) for n in saved)  # epoch 2's weights ...
    assert any(not torch.equal(saved[n], snapshots[2][n]) for n in saved)  # ... not the last epoch's


def test_the_plateau_signal_is_the_unweighted_mean_dev_loss(tmp_path, monkeypatch):
    """The reference scores dev one clip at a time, where the class-weighted loss of one clip is its
    plain loss: ReduceLROnPlateau sees the unweighted mean, not the class-weighted one."""
    from peftser.benchmark.run import training

    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    labels = ["neutral", "neutral", "angry"]
    clips = [training.Clip(Utterance(f"u{i}", tmp_path / "x.wav", "s", "female", y), 16000, 6.0, label=EMOTIONS.index(y))
             for i, y in enumerate(labels)]
    loss, _, _ = training.score(logits, clips)
    targets = torch.tensor([0, 0, 3])
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, targets)))
    weighted = torch.nn.functional.cross_entropy(logits, targets, weight=torch.tensor([0.5, 0, 0, 2.0]))
    assert loss != pytest.approx(float(weighted))

    signals = []
    real_step = torch.optim.lr_scheduler.ReduceLROnPlateau.step
    monkeypatch.setattr(
        torch.optim.lr_scheduler.ReduceLROnPlateau, "step", lambda self, metric: (signals.append(metric), real_step(self, metric))
    )
    cell = Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1", train={"epochs": 2, "batch_size": 8, "head_hidden": 32})
    record = run_cell(cell, device="cpu", results_dir=tmp_path, progress=False)
    assert signals == [h["dev_loss"] for h in record["history"]]


@pytest.mark.parametrize("backbone", ["demo_whisper_tiny", "demo_wav2vec2_base", "demo_wavlm_base_plus"])
def test_the_head_sums_one_state_per_transformer_layer(backbone):
    from peftser.model import build_model

    model = build_model(backbone, "downstream")
    assert model.head.layer_weights.numel() == model.upstream.num_layers
    with_input = build_model(backbone, "downstream", include_input_state=True)
    assert with_input.head.layer_weights.numel() == model.upstream.num_layers + 1


def test_training_options_reach_the_model_and_the_record(tmp_path, monkeypatch):
    from peftser.benchmark.run import training

    built = {}
    real_build = training.build_model

    def spying_build(*args, **kwargs):
        built["model"] = real_build(*args, **kwargs)
        return built["model"]

    monkeypatch.setattr(training, "build_model", spying_build)
    train = {
        "epochs": 1, "batch_size": 8, "head_hidden": 32, "layerdrop": False, "length_bucketing": True,
        "include_input_state": True, "mask_padding": True,
    }
    record = run_cell(Cell("demo_wavlm_base_plus", "downstream", "synthetic_crema_d", "fold1", train=train), device="cpu", results_dir=tmp_path)
    model = built["model"]
    assert model.upstream.layerdrop_enabled is False and model.head.include_input_state is True
    assert model.upstream.mask_padding_in_training is True
    for option in (
        "layerdrop False (paper: True)", "length_bucketing True (paper: False)",
        "include_input_state True (paper: False)", "mask_padding True (paper: False)",
    ):
        assert option in record["deviations"]
    reloaded, _ = load_artifact(tmp_path / record["artifact"]["path"])
    assert reloaded.head.include_input_state is True
