"""Session-wide test settings: nothing is written to the user's cache, torch uses one thread."""

import os

import pytest
import torch


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
