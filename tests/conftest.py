"""Session-wide test settings (nothing is written to the user's cache, torch uses one thread) and
the fixtures several test modules share, each defined once here."""

import os
from pathlib import Path

import pytest
import torch

from peftser.benchmark.run.tasks import forget_tasks
from peftser.benchmark.store import ResultStore
from peftser.downstream.audio import clear_memory_cache
from peftser.registry import UPSTREAMS, load_builtins
from peftser.upstream import UpstreamSpec

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    # Tests that need their own cache set PEFTSER_CACHE themselves (monkeypatch); the rest share
    # one per session, so the synthetic corpora are generated once.
    previous = os.environ.get("PEFTSER_CACHE")
    os.environ["PEFTSER_CACHE"] = str(tmp_path_factory.mktemp("peftser-cache"))
    torch.set_num_threads(1)
    yield
    if previous is None:
        os.environ.pop("PEFTSER_CACHE", None)
    else:
        os.environ["PEFTSER_CACHE"] = previous


@pytest.fixture(autouse=True)
def _corpora_read_afresh():
    # A worker reads each corpus once (peftser.benchmark.run.tasks); a test may build or edit one.
    forget_tasks()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache of the test's own under tmp_path, with an empty in-process layer. A module whose every
    test needs one says ``pytestmark = pytest.mark.usefixtures("cache")``."""
    monkeypatch.setenv("PEFTSER_CACHE", str(tmp_path / "cache"))
    clear_memory_cache()
    yield tmp_path / "cache"
    clear_memory_cache()


@pytest.fixture
def task_files(monkeypatch):
    """Task files a test registers (--task-file, manifests) are forgotten after it."""
    from peftser.downstream.tasks import manifest
    from peftser.registry import TASKS, load_builtins

    monkeypatch.setenv("PEFTSER_TASK_FILES", "")  # --task-file sets it; restored as it was afterwards
    load_builtins()  # so that only the test's own tasks are forgotten afterwards
    with TASKS.preserved():
        yield
    manifest._REGISTERED.clear()


@pytest.fixture(scope="session")
def registries():
    """The built-in upstreams, methods, tasks and grids, loaded (user grids in tests use their names)."""
    load_builtins()


def _untrained_artifact(tmp_path_factory, method: str):
    """A tiny demo_whisper_tiny model with ``method``, untrained, saved as an artifact (its config names no cell)."""
    from peftser.benchmark.artifact import artifact_config, save_artifact
    from peftser.model import build_model

    directory = tmp_path_factory.mktemp(f"{method}_artifact")
    model = build_model("demo_whisper_tiny", method, head_hidden=16)
    save_artifact(model, directory, artifact_config(model, "demo_whisper_tiny", {}, 1.0))
    return directory


@pytest.fixture(scope="session")
def artifact(tmp_path_factory):
    """An untrained tiny LoRA model saved as an artifact: predicting and loading need weights, not good ones."""
    return _untrained_artifact(tmp_path_factory, "lora")


@pytest.fixture(scope="session")
def downstream_artifact(tmp_path_factory):
    """An untrained tiny head-only model saved as an artifact."""
    return _untrained_artifact(tmp_path_factory, "downstream")


@pytest.fixture
def toy_env(tmp_path, monkeypatch):
    """Where the stand-in runner (grid_runners) logs its runs and waits; workers, local or submitit's,
    inherit this environment and import path."""
    monkeypatch.setenv("GRID_TEST_LOG", str(tmp_path / "runs.log"))
    monkeypatch.setenv("GRID_TEST_BARRIER", str(tmp_path / "barrier"))
    monkeypatch.delenv("GRID_TEST_FAIL", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH")])))
    return tmp_path


def _train(cell, results) -> dict:
    from peftser.benchmark.run.training import run_cell

    record = run_cell(cell, device="cpu", results_dir=results, progress=False)
    ResultStore(results).save_record(record)
    return record


@pytest.fixture(scope="session")
def demo_results(tmp_path_factory):
    """(results folder, record) of the demo grid's LoRA cell on synthetic CREMA-D fold1 (trained_cells.DEMO_CELL),
    trained once for every module that needs a real training's record and artifact."""
    from peftser.benchmark.run import meter
    from trained_cells import DEMO_CELL

    meter._per_sample.clear()  # it counts its own first step's arithmetic (the cost tests read that)
    results = tmp_path_factory.mktemp("demo-results")
    return results, _train(DEMO_CELL, results)


@pytest.fixture(scope="session")
def pooled_results(tmp_path_factory):
    """(results folder, record) of one demo-sized LoRA training on the synthetic pooled corpora."""
    from trained_cells import POOLED_CELL

    results = tmp_path_factory.mktemp("pooled-results")
    return results, _train(POOLED_CELL, results)


@pytest.fixture
def registered_upstream():
    """Registers test upstreams; removed afterwards."""
    names = []

    def register(spec: UpstreamSpec) -> str:
        UPSTREAMS.register(spec.name, spec)
        names.append(spec.name)
        return spec.name

    yield register
    for name in names:
        UPSTREAMS.unregister(name)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """(results folder, markdown) of one leaderboard written from fake_records' grid, for read-only tests."""
    from fake_records import fill
    from peftser.benchmark.report.leaderboard import write_leaderboard

    results = tmp_path_factory.mktemp("board") / "results"
    expected = fill(results)
    path = write_leaderboard(results, expected_cells=expected, footnotes=["Whisper runs on the real input length."])
    return results, path.read_text()
