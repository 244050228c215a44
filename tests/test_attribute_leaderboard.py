"""The leaderboard's attribute section: CCC tables apart from UAR, paired CCC statistics, its JSON key."""

from __future__ import annotations

import json

import numpy as np
import pytest
from board_fixture import DATA, board_results

from peftser.benchmark.attribute_metrics import attribute_metrics
from peftser.benchmark.cell import Cell
from peftser.benchmark.record import ok_record
from peftser.benchmark.report import stats
from peftser.benchmark.store import ResultStore
from peftser.cli import main

DIMS = ("arousal", "valence", "dominance")
TASK = "synthetic_msp_podcast_dims"


def _record(method: str, training: str, noise: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(1, 7, (60, 3))
    pred = truth + rng.normal(0, noise, truth.shape)
    cell = Cell("demo_whisper_tiny", method, TASK, training)
    return ok_record(cell, kind="attributes", classes=list(DIMS), scale=[1.0, 7.0], method_params=10, head_params=20,
                     test=attribute_metrics(truth, pred, ["female", "male"] * 30, DIMS), predictions=[],
                     wall_time_s=600.0 + seed, device="cpu", cost=_cost(100.0 + seed))


def _cost(peak_memory_mb: float) -> dict:
    return {"peak_memory_mb": peak_memory_mb, "peak_memory_measure": "rss", "train_clips": 480, "train_seconds": 60.0,
            "train_clips_per_s": 8.0, "train_gflop": 100.0, "achieved_gflops": 1.7, "bound_gflops": 50.0,
            "share_of_bound": 0.033}


@pytest.fixture
def mixed_results(tmp_path):
    """The board fixture's 15 categorical records plus 6 attribute records (3 trainings x 2 methods)."""
    results = board_results(tmp_path)
    store = ResultStore(results)
    records = [_record(m, f"seed{k}", noise, 10 * k + (m == "lora"))
               for m, noise in (("downstream", 2.0), ("lora", 1.0)) for k in (1, 2, 3)]
    for record in records:
        store.save_record(record)
    return results, records


def test_attribute_records_leave_the_uar_leaderboard_as_it_was(mixed_results):
    results, _ = mixed_results
    assert main(["--leaderboard", "--results", str(results)]) == 0
    expected_md = (DATA / "expected" / "leaderboard.md").read_text()
    written = (results / "leaderboard.md").read_text()
    categorical, attributes = written.split("## Emotional attributes (CCC, not UAR)")
    # Every line of the UAR leaderboard is there as before; the attribute section comes in between.
    head, tail = expected_md.split("## Missing, failed and unreadable records")
    assert categorical == head and attributes.endswith("## Missing, failed and unreadable records" + tail)
    data = json.loads((results / "leaderboard.json").read_text())
    attribute_json = data.pop("attributes")
    assert data == json.loads((DATA / "expected" / "leaderboard.json").read_text())
    assert {g["variant"] for g in attribute_json["groups"]} == {"downstream", "lora"}


def test_the_attribute_tables_give_mean_and_std_ccc_and_the_paired_ccc_statistics(mixed_results):
    results, records = mixed_results
    assert main(["--leaderboard", "--results", str(results)]) == 0
    data = json.loads((results / "leaderboard.json").read_text())["attributes"]
    lora = next(g for g in data["groups"] if g["variant"] == "lora")
    values = [r["test"]["ccc"]["valence"] for r in records if r["method"] == "lora"]
    assert lora["trainings"] == 3
    assert lora["ccc:valence"]["mean"] == pytest.approx(np.mean(values))
    assert lora["ccc:valence"]["std"] == pytest.approx(np.std(values))
    markdown = (results / "leaderboard.md").read_text()
    assert f"{np.mean(values):.3f} ± {np.std(values):.3f}" in markdown
    # Paired on (task, training) with the UAR tables' statistics: Δ is the mean difference, p the exact sign-flip test.
    overall = data["paired"][0]["comparisons"]
    mean_ccc = next(c for c in overall if c["metric"] == "mean_ccc")
    diffs = [next(r for r in records if r["method"] == "lora" and r["training"] == t)["test"]["mean_ccc"]
             - next(r for r in records if r["method"] == "downstream" and r["training"] == t)["test"]["mean_ccc"]
             for t in ("seed1", "seed2", "seed3")]
    assert mean_ccc["paired_units"] == 3 and mean_ccc["effect"] == pytest.approx(np.mean(diffs))
    assert mean_ccc["p"] == pytest.approx(stats.sign_flip_test([diffs])[0])
    assert data["paired"][0]["holm_tests"] == 4  # mean CCC and CCC of each of the three dimensions
    # Its method text speaks of CCC, not of UAR's points or Table V.
    attribute_part = markdown.split("## Emotional attributes (CCC, not UAR)")[1]
    assert "in CCC units, per training unit" in attribute_part
    assert "in points" not in attribute_part and "for UAR" not in attribute_part


def test_the_attribute_trainings_have_a_cost_table_of_their_own(mixed_results):
    results, records = mixed_results
    assert main(["--leaderboard", "--results", str(results)]) == 0
    rows = {r["variant"]: r for r in json.loads((results / "leaderboard.json").read_text())["attributes"]["cost"]}
    for method in ("downstream", "lora"):
        mine = [r for r in records if r["method"] == method]
        assert rows[method]["trainings"] == 3 and rows[method]["devices"] == ["cpu"]
        assert rows[method]["device_hours"] == pytest.approx(sum(r["wall_time_s"] for r in mine) / 3600)
        assert rows[method]["median_peak_memory_mb"] == pytest.approx(np.median([r["cost"]["peak_memory_mb"] for r in mine]))
        assert rows[method]["trainable_params"] == {"min": 30, "max": 30}
        assert rows[method]["median_train_clips_per_s"] == 8.0
    attribute_part = (results / "leaderboard.md").read_text().split("## Emotional attributes (CCC, not UAR)")[1]
    table = attribute_part.split("### Cost of the attribute trainings")[1].split("\n\n")[1]
    assert [line.split("|")[2].strip() for line in table.splitlines()[2:]] == ["downstream", "lora"]


def test_each_attribute_task_gets_a_mean_ccc_chart_linked_under_its_table(mixed_results, monkeypatch):
    from matplotlib.figure import Figure

    results, records = mixed_results
    bars = {}

    def keep(self, target, **kwargs):
        ax = self.axes[0]
        bars[ax.get_title()] = sorted(round(p.get_height(), 6) for p in ax.patches)
        target.write(b"png")

    monkeypatch.setattr(Figure, "savefig", keep)
    assert main(["--leaderboard", "--results", str(results)]) == 0
    name = f"attributes_ccc_by_backbone_{TASK}.png"
    assert (results / name).is_file()
    assert f"![mean CCC on {TASK} by backbone and method]({name})" in (results / "leaderboard.md").read_text()
    (heights,) = [h for title, h in bars.items() if title.startswith(f"{TASK}: mean CCC")]
    means = [np.mean([r["test"]["mean_ccc"] for r in records if r["method"] == m]) for m in ("downstream", "lora")]
    assert heights == sorted(round(m, 6) for m in means)
