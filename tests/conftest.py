"""Session-wide test settings: nothing is written to the user's cache, torch uses one thread."""

import os

import pytest
import torch

from peftser.benchmark.run.tasks import forget_tasks
from peftser.downstream.audio import clear_memory_cache
from peftser.registry import UPSTREAMS
from peftser.upstream import UpstreamSpec


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
def own_cache(tmp_path, monkeypatch):
    """A cache of the test's own under tmp_path, with an empty in-process layer."""
    monkeypatch.setenv("PEFTSER_CACHE", str(tmp_path / "cache"))
    clear_memory_cache()
    yield tmp_path / "cache"
    clear_memory_cache()


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
