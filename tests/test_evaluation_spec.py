"""The evaluate: section of a grid, the evaluation units it plans, their records, and the noises."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from peftser.benchmark.cell import Cell
from peftser.benchmark.evaluation import Evaluation, EvaluateSpec, NOISE_TYPES, subset
from peftser.benchmark.grids import GridError, load_grid, parse_grid
from peftser.benchmark.record import evaluation_record, failed_record, problem, read_records
from peftser.benchmark.run import noise
from peftser.benchmark.store import ResultStore
from peftser.registry import TASKS, load_builtins

BASE = {"upstreams": ["demo_whisper_tiny"], "methods": ["downstream"], "tasks": ["synthetic_crema_d", "synthetic_iemocap"]}


def grid_file(tmp_path, **extra):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({**BASE, **extra}))
    return path


@pytest.mark.parametrize("section, message", [
    ({"cross": True}, "evaluate: unknown key(s) ['cross']; allowed: cross_corpus, noise"),
    ({"cross_corpus": "yes"}, "evaluate.cross_corpus must be true, false or {max_utterances: N}"),
    ({"cross_corpus": {"max_utterances": 0}}, "evaluate.cross_corpus.max_utterances must be a whole number >= 1, got 0"),
    ({"noise": {"types": ["pink"]}}, "evaluate.noise.types: unknown noise 'pink'; the noises are white, speech_shaped"),
    ({"noise": {"snr_db": [10, "loud"]}}, "evaluate.noise.snr_db: 'loud' is not a finite number of dB"),
    ({"noise": {"snr_db": [10, 10]}}, "evaluate.noise.snr_db lists an SNR twice"),
    ({"noise": {"level": 3}}, "evaluate.noise: unknown key(s) ['level']"),
])
def test_a_bad_evaluate_section_is_refused_naming_the_file_and_the_entry(tmp_path, section, message):
    path = grid_file(tmp_path, evaluate=section)
    with pytest.raises(GridError) as err:
        parse_grid(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_noise_defaults_to_both_noises_at_four_snrs(tmp_path):
    grid = parse_grid(grid_file(tmp_path, evaluate={"noise": True}))
    assert grid.evaluate.noise_types == NOISE_TYPES == tuple(noise.NOISES)
    assert grid.evaluate.snr_db == (20.0, 10.0, 5.0, 0.0) and not grid.evaluate.cross_corpus


def test_corpora_that_cannot_transfer_are_refused_at_load(tmp_path, monkeypatch):
    load_builtins()
    pooled = grid_file(tmp_path, tasks=["synthetic_pooled_four", "synthetic_iemocap"], evaluate={"cross_corpus": True})
    with pytest.raises(GridError, match="tasks 'synthetic_pooled_four' and 'synthetic_iemocap' both hold corpus 'synthetic_iemocap'"):
        parse_grid(pooled)
    with pytest.raises(GridError, match="needs at least two corpora"):
        parse_grid(grid_file(tmp_path, tasks=["synthetic_crema_d"], evaluate={"cross_corpus": True}))
    # Label sets that differ transfer on the classes both name; fewer than two shared is refused, naming them.
    monkeypatch.setattr(TASKS.get("synthetic_iemocap"), "classes", ("neutral", "happy", "sad", "angry", "frustrated"))
    assert parse_grid(grid_file(tmp_path, evaluate={"cross_corpus": True}))
    monkeypatch.setattr(TASKS.get("synthetic_iemocap"), "classes", ("neutral", "frustrated", "bored"))
    with pytest.raises(GridError, match=r"tasks '\w+' \(.*\) and '\w+' \(.*\) share 1 class\(es\) \(neutral\)"):
        parse_grid(grid_file(tmp_path, evaluate={"cross_corpus": True}))
    assert parse_grid(grid_file(tmp_path, evaluate={"noise": True}))  # noise needs no transfer


def test_the_packaged_grids_evaluate_beyond_the_paper_and_survive_a_round_trip():
    full, demo = load_grid("full"), load_grid("demo")
    assert full.evaluate == EvaluateSpec(True, None, NOISE_TYPES, (20.0, 10.0, 5.0, 0.0), None)
    assert demo.evaluate.cross_corpus and demo.evaluate.noise and demo.evaluate.transfer_limit
    assert type(demo).from_dict(json.loads(json.dumps(demo.to_dict()))) == demo  # as grids.json keeps it
    # Every cell once on each of the three other corpora, and once under noise.
    assert len(full.evaluations(full.cells())) == 475 * 4


def test_evaluation_keys_follow_the_source_cell_and_the_condition():
    grid = load_grid("demo")
    cell = grid.cells()[0]
    planned = grid.evaluations([cell])
    assert [e.condition.get("test_task") for e in planned] == ["synthetic_msp_improv", "synthetic_crema_d", "synthetic_msp_podcast", None]
    assert len({e.key for e in planned}) == 4 and all(e.task == cell.task and e.folder == "evaluations" for e in planned)
    again = Evaluation.from_dict(planned[0].to_dict())
    assert again.key == planned[0].key and again.label == f"{cell.label} on synthetic_msp_improv"
    other = Evaluation(cell, {**planned[0].condition, "max_utterances": 5})
    assert other.key != planned[0].key


def test_the_subset_is_a_fixed_choice_of_the_keys_alone():
    keys = [f"utt{i}" for i in range(50)]
    chosen = subset(keys, 10)
    assert chosen == subset(list(reversed(keys)), 10) == subset(keys, None)[:10] and len(set(chosen)) == 10


def _ok(evaluation):
    result = {"condition": {"test_task": "x"}, "test": {"uar": 50.0}, "predictions": []}
    return evaluation_record(evaluation, results=[result])


def test_evaluation_records_are_validated_and_kept_apart_from_training_records(tmp_path):
    cell = Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1")
    evaluation = load_grid("demo").evaluations([cell])[0]
    record = _ok(evaluation)
    assert problem(record, evaluation) is None
    assert problem(record, cell) == f"an evaluation record for {cell.label}"
    assert problem({**record, "results": [{"test": {"uar": float("nan")}, "predictions": []}]}) == (
        "results[0] test.uar is nan, not a percentage in [0, 100]")
    failed = failed_record(evaluation, "EvaluationError: no artifact", "trace", device="cpu", wall_time_s=0.1)
    assert problem(failed, evaluation) is None and failed["source"]["key"] == cell.key
    store = ResultStore(tmp_path)
    assert store.save_record(record) == tmp_path / "evaluations" / cell.task / f"{evaluation.key}.json"
    assert store.has_record(evaluation) and not store.has_record(cell)
    (tmp_path / "records" / cell.task).mkdir(parents=True)
    (tmp_path / "records" / cell.task / f"{evaluation.key}.json").write_text(
        (tmp_path / "evaluations" / cell.task / f"{evaluation.key}.json").read_text())
    (entry,) = read_records(tmp_path)
    assert entry.record is None and entry.problem == "an evaluation record in records/"
    (kept,) = read_records(tmp_path, "evaluations")
    assert kept.record == record


# -- the noises --------------------------------------------------------------------------------------
def _band_power_db(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 16000)
    return 10 * np.log10(spectrum[(freqs >= low) & (freqs < high)].mean())


def test_speech_shaped_noise_falls_3_db_an_octave_and_swings_at_the_syllable_rate():
    x = noise.speech_shaped(16000 * 20, np.random.default_rng(0))
    octaves = [_band_power_db(x, f, 2 * f) for f in (250, 500, 1000, 2000, 4000)]
    assert np.diff(octaves) == pytest.approx([-3.0] * 4, abs=0.5)  # pink: power ~ 1/f
    envelope = noise.syllable_envelope(16000 * 20, np.random.default_rng(1))
    assert envelope.min() >= 1 - noise.MODULATION_DEPTH - 1e-9 and envelope.max() <= 1 + noise.MODULATION_DEPTH + 1e-9
    slow = np.abs(np.fft.rfft(envelope - envelope.mean())) ** 2
    freqs = np.fft.rfftfreq(len(envelope), 1 / 16000)
    assert slow[(freqs >= 2) & (freqs <= 8)].sum() > 0.95 * slow.sum()  # its power lies in 2-8 Hz
    white = noise.white(16000 * 20, np.random.default_rng(0))
    assert abs(_band_power_db(white, 250, 500) - _band_power_db(white, 4000, 8000)) < 0.5


@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_a_noisy_clip_is_a_pure_function_of_key_type_and_snr_at_the_exact_snr(kind):
    wave = np.sin(np.arange(16000) / 7.0).astype(np.float32) * 0.3
    a, b = noise.noisy(wave, "Ses01F_impro01_F000", kind, 5.0), noise.noisy(wave, "Ses01F_impro01_F000", kind, 5.0)
    np.testing.assert_array_equal(a, b)
    added = a.astype(np.float64) - wave
    assert 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean(added**2)) == pytest.approx(5.0, abs=1e-3)
    assert not np.array_equal(a, noise.noisy(wave, "Ses01F_impro01_F001", kind, 5.0))
    # One realisation at every SNR, only scaled.
    at_zero = noise.noisy(wave, "Ses01F_impro01_F000", kind, 0.0).astype(np.float64) - wave
    assert np.corrcoef(added, at_zero)[0, 1] > 0.9999
    silent = np.zeros(800, dtype=np.float32)
    np.testing.assert_array_equal(noise.noisy(silent, "k", kind, 0.0), silent)  # no SNR to keep: stays silent


def test_an_evaluation_is_claimed_like_a_cell_so_two_orchestrators_never_both_run_it(tmp_path):
    cell = Cell("demo_whisper_tiny", "downstream", "synthetic_crema_d", "fold1")
    transfer, noisy = load_grid("demo").evaluations([cell])[0], load_grid("demo").evaluations([cell])[-1]
    store = ResultStore(tmp_path)
    held = store.claim(transfer)
    assert held is not None and store.claim(transfer) is None  # a second orchestrator finds it held
    assert store.claim(noisy) is not None and store.claim(cell) is not None  # other units stay free
    held.release()
    assert store.claim(transfer) is not None
