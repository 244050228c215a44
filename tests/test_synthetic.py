"""The synthetic corpus: deterministic, balanced, shaped like the real tasks, learnable but not trivially."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from peftser.downstream.audio import load_audio
from peftser.downstream.task import EMOTIONS, GENDERS
from peftser.downstream.tasks import make_task, synthetic

NAMES = ("synthetic_iemocap", "synthetic_msp_improv", "synthetic_crema_d", "synthetic_msp_podcast")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def generated(tmp_path_factory):
    """One cache for the module: every test after the first reuses the corpora generated into it."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PEFTSER_CACHE", str(root))
        yield root


def wav_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_audio_and_labels(tmp_path):
    first = wav_files(synthetic.generate("synthetic_msp_podcast", tmp_path / "a", seed=7))
    second = wav_files(synthetic.generate("synthetic_msp_podcast", tmp_path / "b", seed=7))
    assert len(first) == 336 + 2  # wavs, the label file and the marker
    assert first == second
    other = wav_files(synthetic.generate("synthetic_msp_podcast", tmp_path / "c", seed=8))
    assert other.keys() == first.keys()
    assert sum(other[k] != first[k] for k in first if k.endswith(".wav")) == 336


@pytest.mark.parametrize("name", NAMES)
def test_tasks_are_generated_on_first_use_and_read_by_the_real_readers(name, generated):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the kept count is the expected one, no audio skipped
        task = make_task(name)
        utterances = task.utterances
    assert task.root == generated / "synthetic" / name
    assert len(utterances) == task.expected_total
    assert Counter(u.label for u in utterances) == task.expected_counts
    assert task.skipped == {}
    counts = Counter(u.label for u in utterances)
    assert max(counts.values()) - min(counts.values()) <= 0.05 * len(utterances)
    assert set(u.gender for u in utterances) == set(GENDERS)
    trainings = task.trainings()
    assert [t.name for t in trainings] == list(task.training_names)
    for t in trainings:
        train = {u.speaker for u in t.train}
        assert train.isdisjoint(u.speaker for u in t.dev) and train.isdisjoint(u.speaker for u in t.test)
        assert min(len(t.train), len(t.dev), len(t.test)) >= 30
        assert {u.label for u in t.test} == set(EMOTIONS)


@pytest.mark.parametrize("name", NAMES + ("synthetic_iemocap_dims", "synthetic_msp_improv_dims", "synthetic_msp_podcast_dims"))
def test_each_twin_is_its_tasks_reader_importable_and_picklable_by_name(name):
    from peftser.registry import TASKS

    real, twin = TASKS.get(name.removeprefix("synthetic_")), TASKS.get(name)
    assert issubclass(twin, real) and twin.__qualname__ == f"Synthetic{real.__name__}"
    assert getattr(synthetic, twin.__qualname__) is twin and pickle.loads(pickle.dumps(twin)) is twin
    assert twin.generated_name() == name.removesuffix("_dims") and twin.info.twin_of == twin.generated_name()[len("synthetic_"):]


def test_the_four_tasks_have_19_trainings_and_a_few_hundred_clips():
    tasks = [make_task(n) for n in NAMES]
    assert sum(len(t.trainings()) for t in tasks) == 19
    assert all(300 <= len(t.utterances) <= 340 for t in tasks)


def test_clips_are_speech_like_16k_and_about_a_second_long():
    task = make_task("synthetic_iemocap")
    durations = []
    for utt in task.utterances:
        info = soundfile.info(str(utt.path))
        assert info.samplerate == 16000 and info.channels == 1
        durations.append(info.frames / info.samplerate)
    assert 0.75 <= np.median(durations) <= 1.75
    assert max(durations) <= 4.0  # sad speech is slow, with long pauses
    wave = load_audio(task.utterances[0].path)
    assert 0.005 < np.sqrt(np.mean(wave**2)) < 0.5 and np.abs(wave).max() < 1.0


def prosodic_features(wave: np.ndarray, rate: int = 16000) -> np.ndarray:
    """Energy, zero-crossing, autocorrelation pitch and duration statistics of one clip."""
    frames = np.lib.stride_tricks.sliding_window_view(wave, 640)[::320]
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    active = energy > energy.max() - 25
    zcr = np.mean(np.abs(np.diff(np.sign(frames), axis=1)) > 0, axis=1)
    centred = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(centred, 1280, axis=1)
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :640]
    low, high = rate // 400, rate // 70
    lag = low + autocorr[:, low:high].argmax(axis=1)
    voiced = active & (autocorr[np.arange(len(lag)), lag] > 0.3 * autocorr[:, 0])
    pitch = 12 * np.log2(rate / lag[voiced] / 100.0) if voiced.any() else np.zeros(1)
    return np.array([
        len(wave) / rate, energy[active].mean(), energy[active].std(), energy.max(), active.mean(),
        zcr[active].mean(), np.median(pitch), pitch.std(), np.percentile(pitch, 90) - np.percentile(pitch, 10),
    ])


def test_prosody_is_learnable_but_far_from_perfect():
    task = make_task("synthetic_iemocap")
    features = {u.key: prosodic_features(load_audio(u.path)) for u in task.utterances}
    labels, predictions = [], []
    for training in task.trainings():  # leave one session (two speakers) out
        seen = training.train + training.dev
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit([features[u.key] for u in seen], [u.label for u in seen])
        predictions += list(model.predict([features[u.key] for u in training.test]))
        labels += [u.label for u in training.test]
    uar = 100 * recall_score(labels, predictions, average="macro")
    assert 40.0 < uar < 90.0  # chance is 25


@pytest.mark.slow
def test_generation_is_shared_by_concurrent_processes(tmp_path):
    log = tmp_path / "generations.log"
    script = textwrap.dedent(f"""
        from peftser.downstream.tasks import make_task
        from peftser.downstream.tasks.synthetic import lifecycle
        generate = lifecycle.generate
        def logged(*args, **kwargs):
            with open({str(log)!r}, "a") as handle:
                handle.write("generated\\n")
            return generate(*args, **kwargs)
        lifecycle.generate = logged  # where ensure_generated looks it up
        print(len(make_task("synthetic_crema_d").utterances))
    """)
    env = {"PEFTSER_CACHE": str(tmp_path / "shared"), "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    workers = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=120)[0].strip() for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    assert outputs == ["320", "320"]
    assert log.read_text() == "generated\n"
    assert not list((tmp_path / "shared" / "synthetic").glob("*.partial-*"))


def test_an_older_generator_version_is_regenerated(tmp_path):
    root = tmp_path / "corpus"
    synthetic.ensure_generated("synthetic_msp_podcast", root)
    marker = json.loads((root / synthetic.MARKER).read_text())
    (root / synthetic.MARKER).write_text(json.dumps({**marker, "version": marker["version"] - 1}))
    (root / "Audios" / "MSP-PODCAST_0001_0001.wav").unlink()
    synthetic.ensure_generated("synthetic_msp_podcast", root)
    assert json.loads((root / synthetic.MARKER).read_text())["version"] == synthetic.GENERATOR_VERSION
    assert (root / "Audios" / "MSP-PODCAST_0001_0001.wav").is_file()


def test_explicit_root_is_generated_there_but_never_over_foreign_files(tmp_path):
    task = make_task("synthetic_msp_improv", root=tmp_path / "mine")
    assert len(task.utterances) == 312 and (tmp_path / "mine" / "Evalution.txt").is_file()
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not a generated synthetic_iemocap corpus"):
        make_task("synthetic_iemocap", root=foreign).utterances
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_another_synthetic_task_never_deletes_the_users_files(tmp_path):
    # The failing case: a folder holding one synthetic task, then the user's notes, then another task.
    root = tmp_path / "c"
    synthetic.ensure_generated("synthetic_msp_podcast", root)
    (root / "notes.txt").write_text("my notes")
    with pytest.raises(FileExistsError, match=r"notes\.txt") as refused:
        make_task("synthetic_crema_d", root=root).utterances
    assert "synthetic_msp_podcast" in str(refused.value) and str(root) in str(refused.value)
    assert (root / "notes.txt").read_text() == "my notes"
    assert json.loads((root / synthetic.MARKER).read_text())["task"] == "synthetic_msp_podcast"  # untouched


def test_a_folder_holding_only_generated_files_is_regenerated_beside_and_swapped(tmp_path):
    root = tmp_path / "c"
    synthetic.ensure_generated("synthetic_msp_podcast", root)
    with pytest.warns(UserWarning, match="replacing a generated synthetic_msp_podcast corpus"):
        synthetic.ensure_generated("synthetic_crema_d", root)
    assert json.loads((root / synthetic.MARKER).read_text())["task"] == "synthetic_crema_d"
    assert not (root / "Audios").exists() and (root / "AudioWAV").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "c.lock"]  # no sibling left behind


def test_an_older_corpus_with_user_files_is_refused_not_regenerated(tmp_path):
    root = tmp_path / "corpus"
    synthetic.ensure_generated("synthetic_msp_podcast", root)
    marker = json.loads((root / synthetic.MARKER).read_text())
    (root / synthetic.MARKER).write_text(json.dumps({**marker, "version": marker["version"] - 1}))
    (root / "Audios" / "mine.wav").write_bytes(b"RIFF")
    with pytest.raises(FileExistsError, match=r"Audios/mine\.wav"):
        synthetic.ensure_generated("synthetic_msp_podcast", root)
    assert (root / "Audios" / "mine.wav").read_bytes() == b"RIFF"
    assert (root / "Audios" / "MSP-PODCAST_0001_0001.wav").is_file()


def test_a_marker_that_does_not_list_its_files_gets_the_list_this_generator_writes(tmp_path):
    root = tmp_path / "corpus"
    synthetic.ensure_generated("synthetic_msp_podcast", root)
    marker = json.loads((root / synthetic.MARKER).read_text())
    assert marker["files"] == synthetic.planned_files("synthetic_msp_podcast")  # the dry run names what is written
    (root / synthetic.MARKER).write_text(json.dumps({k: v for k, v in marker.items() if k != "files"}))
    synthetic.ensure_generated("synthetic_msp_podcast", root)
    assert json.loads((root / synthetic.MARKER).read_text())["files"] == marker["files"]


def test_cli_refuses_with_one_line_and_keeps_the_users_file(tmp_path, capsys):
    from peftser.cli import main

    root = tmp_path / "c"
    synthetic.ensure_generated("synthetic_crema_d", root)  # as a first --manifest or --train would
    (root / "notes.txt").write_text("notes")
    assert main(["--manifest", "synthetic_iemocap", "--task-root", str(root), "--out", str(tmp_path / "b.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "notes.txt" in err and "Traceback" not in err
    assert (root / "notes.txt").read_text() == "notes" and not (tmp_path / "b.csv").exists()


def _as_old_version_without_file_list(root):
    marker = json.loads((root / synthetic.MARKER).read_text())
    marker.pop("files", None)
    (root / synthetic.MARKER).write_text(json.dumps({**marker, "version": 2}))


def test_an_older_corpus_whose_marker_lists_no_files_is_replaced(tmp_path):
    """Caches written before markers listed their files are recognised by the layout's names."""
    root = tmp_path / "corpus"
    synthetic.ensure_generated("synthetic_msp_podcast", root)
    _as_old_version_without_file_list(root)
    with pytest.warns(UserWarning, match="replacing a generated synthetic_msp_podcast corpus"):
        synthetic.ensure_generated("synthetic_msp_podcast", root)
    assert json.loads((root / synthetic.MARKER).read_text())["version"] == synthetic.GENERATOR_VERSION


def test_an_older_corpus_with_a_users_file_is_left_alone(tmp_path):
    root = tmp_path / "corpus"
    synthetic.ensure_generated("synthetic_msp_podcast", root)
    _as_old_version_without_file_list(root)
    (root / "Audios" / "my_notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="my_notes.txt"):
        synthetic.ensure_generated("synthetic_msp_podcast", root)
    assert (root / "Audios" / "my_notes.txt").read_text() == "mine"
