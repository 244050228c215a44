"""Demo-sized trainings with their records saved, as a grid run leaves them, for the tests of the
Python API and the model cards. Import the fixtures into a test module to use them; they are
session-scoped, so the modules of one pytest run share the trainings."""

from __future__ import annotations

import pytest

from peftser.benchmark.cell import Cell
from peftser.benchmark.store import ResultStore
from peftser.benchmark.run.training import run_cell

# The demo grid's schedule and LoRA: DEMO_CELL is the demo grid's cell of that name (a few seconds).
DEMO_TRAIN = {"epochs": 3, "batch_size": 16, "lr": 3e-3, "augment": False, "max_seconds": 1.0}
DEMO_CELL = Cell("demo_whisper_tiny", "lora", "synthetic_crema_d", "fold1",
                 method_args={"rank": 8, "alpha": 1.0, "targets": ["ffn_in", "ffn_out"]}, train=DEMO_TRAIN)
POOLED_CELL = Cell("demo_whisper_tiny", "lora", "synthetic_pooled_four", "release",
                   method_args={"rank": 16, "alpha": 1.0, "targets": ["ffn_in", "ffn_out"]},
                   train={**DEMO_TRAIN, "epochs": 1, "include_input_state": True})


def _train(cell: Cell, results) -> dict:
    record = run_cell(cell, device="cpu", results_dir=results, progress=False)
    ResultStore(results).save_record(record)
    return record


@pytest.fixture(scope="session")
def demo_results(tmp_path_factory):
    """(results folder, record) of one demo-sized LoRA training on synthetic CREMA-D."""
    results = tmp_path_factory.mktemp("demo-results")
    return results, _train(DEMO_CELL, results)


@pytest.fixture(scope="session")
def pooled_results(tmp_path_factory):
    """(results folder, record) of one demo-sized LoRA training on the synthetic pooled corpora."""
    results = tmp_path_factory.mktemp("pooled-results")
    return results, _train(POOLED_CELL, results)
