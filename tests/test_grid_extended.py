"""The packaged grid `extended`: the paper's five methods x the twelve extended encoders x the four
corpora, with the full grid's protocol; every cell's model builds (on the meta device)."""

from __future__ import annotations

import pytest
import torch

from peftser.benchmark.grids import load_grid
from peftser.model import build_model
from peftser.params import EXTENDED_BACKBONES, PAPER_METHODS
from peftser.registry import GRIDS, load_builtins

load_builtins()
TRAININGS = {"iemocap": 5, "msp_improv": 6, "crema_d": 5, "msp_podcast": 3}


@pytest.fixture(scope="module")
def cells():
    return load_grid("extended").cells()


def test_extended_grid_is_the_full_grid_on_the_extended_encoders(cells):
    assert "extended" in GRIDS
    assert len(cells) == len({c.key for c in cells}) == 12 * 5 * 19
    assert sorted({c.upstream for c in cells}) == sorted(EXTENDED_BACKBONES)
    assert sorted({c.method for c in cells}) == sorted(PAPER_METHODS)
    for corpus, n in TRAININGS.items():
        assert len({c.training for c in cells if c.task == corpus}) == n
    assert all(c.train == {} and c.upstream_args == {} for c in cells)  # the paper's hyperparameters
    # The methods are configured as in the full grid: the same resolved configurations.
    full = {(c.method, c.task, c.training): c.resolved() for c in load_grid("full").cells()}
    for cell in cells:
        expected = {**full[(cell.method, cell.task, cell.training)], "upstream": cell.upstream}
        assert cell.resolved() == expected


def test_the_grid_names_its_deviations_and_mms_licence():
    notes = " ".join(load_grid("extended").footnotes())
    assert "CC-BY-NC 4.0" in notes and "mms_300m" in notes
    assert "reference_residual" in notes and "rank 8" in notes


def test_every_cells_model_builds(cells):
    configurations = {(c.upstream, c.method, repr(sorted(c.method_args.items()))): c for c in cells}
    assert len(configurations) == 12 * 5
    for cell in configurations.values():
        with torch.device("meta"):
            model = build_model(cell.upstream, cell.method, method_args=cell.method_args, pretrained=False)
        counts = model.parameter_counts()
        assert (counts["method_params"] > 0) == (cell.method != "downstream"), cell.label
