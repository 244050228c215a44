"""Model cards: written from run records with huggingface_hub, read back by ModelCard.load with
the record's numbers."""

from __future__ import annotations

import copy

import pytest
from huggingface_hub import ModelCard

from peftser.benchmark.card import card_data, check_card, write_model_card, write_model_cards
from peftser.cli import main
from peftser.benchmark.grids import Grid, MethodEntry, TaskEntry, UpstreamEntry
from peftser.benchmark.store import ResultStore
from trained_cells import DEMO_CELL, DEMO_TRAIN

pytestmark = pytest.mark.slow  # ``pytest -m "not slow"`` is the quick loop


def _eval(card: ModelCard) -> dict[tuple[str, str], float]:
    return {(r.dataset_type, r.metric_name.split(" (")[0]): r.metric_value for r in card.data.eval_results}


def test_cards_for_demo_artifacts_read_back_with_the_records_numbers(demo_results, capsys):
    results, record = demo_results
    grid = Grid(name="tiny", upstreams=(UpstreamEntry(DEMO_CELL.upstream),),
                methods=(MethodEntry("lora", args=dict(DEMO_CELL.method_args)),),
                tasks=(TaskEntry(DEMO_CELL.task, (DEMO_CELL.training,)),), train=dict(DEMO_TRAIN),
                deviations=("A stated departure of this grid.",))
    assert grid.cells()[0].key == record["key"]
    ResultStore(results).remember_grid(grid)
    written_by_training = check_card(results / record["artifact"]["path"] / "README.md")  # every artifact has one
    assert written_by_training.data.base_model == card_data(record).base_model
    assert main(["--cards", "--results", str(results)]) == 0  # again, now with the grid's deviations
    assert "1 model card(s) written" in capsys.readouterr().out
    path = results / record["artifact"]["path"] / "README.md"
    card = check_card(path)
    data = card.data
    test = record["test"]
    assert _eval(card) == {
        ("synthetic_crema_d", "UAR"): round(test["uar"], 4),
        ("synthetic_crema_d", "accuracy"): round(test["acc"], 4),
        ("synthetic_crema_d", "macro F1"): round(test["macro_f1"], 4),
    }
    assert all(r.dataset_split == "test" and r.dataset_config == "fold1" for r in data.eval_results)
    assert data.model_name == f"peftser {record['label']}"
    assert data.base_model is None  # a random-weight twin has no base model
    assert data.license == "unknown" and "unknown: no licence is known for the base checkpoint" in card.text
    assert set(data.tags) >= {"speech-emotion-recognition", "lora", "peft"} and data.library_name == "peftser"
    assert data.datasets == ["peftser synthetic_crema_d"]
    body = card.text
    assert f"`{record['label']}` (key `{record['key']}`)" in body
    assert "- A stated departure of this grid." in body
    assert all(f"Training option {d}." in body for d in record["deviations"]) and record["deviations"]
    assert (f"| {test['demographic_parity']:.2f} | {test['equality_of_odds']:.2f} "
            f"| {test['reference_demographic_parity']:.2f} |") in body  # all three of the record's fairness figures
    assert f'peftser.load("{record["artifact"]["path"]}")' in body
    assert "Four classes only" in body and "language: none (synthetic, no words)" in body


def test_a_pooled_card_has_each_corpus_uar(pooled_results):
    results, record = pooled_results
    [path] = write_model_cards(results)
    card = check_card(path)
    per_source = record["test"]["per_source"]
    assert len(per_source) == 4
    evals = _eval(card)
    for source, metrics in per_source.items():
        assert evals[(source, "UAR")] == round(metrics["uar"], 4)
        assert f"| {source} | {metrics['uar']:.2f} |" in card.text
    assert evals[("synthetic_pooled_four", "UAR")] == round(record["test"]["uar"], 4)
    assert card.data.datasets == [f"peftser synthetic_{n}" for n in ("iemocap", "msp_improv", "msp_podcast", "crema_d")]
    assert {r.dataset_name for r in card.data.eval_results if r.dataset_type in per_source} == set(card.data.datasets)


@pytest.mark.parametrize("upstream, base, licence", [
    ("whisper_small", "openai/whisper-small", "apache-2.0"),
    ("wavlm_base_plus", "microsoft/wavlm-base-plus", "mit"),
    ("whisper_tiny_en", "openai/whisper-tiny.en", "mit"),
])
def test_base_model_licence_and_language_of_real_cells(demo_results, tmp_path, upstream, base, licence):
    _, demo = demo_results
    record = copy.deepcopy(demo)
    record.update(upstream=upstream, task="pooled_four", training="release", label=f"{upstream}/lora/pooled_four/release")
    record["test"]["per_source"] = {s: record["test"] for s in ("iemocap", "msp_improv", "msp_podcast", "crema_d")}
    data = card_data(record)
    assert (data.base_model, data.license, data.language) == (base, licence, ["en"])
    assert data.datasets == ["IEMOCAP", "MSP-IMPROV", "MSP-Podcast", "CREMA-D"]
    written = check_card(write_model_card(tmp_path, record))
    assert f"`{licence}`, the licence of the base checkpoint" in written.text


def test_a_damaged_model_index_or_a_failed_record_is_refused(demo_results, tmp_path):
    results, record = demo_results
    path = write_model_card(tmp_path, record)
    text = path.read_text()
    assert "    - type: recall\n" in text
    path.write_text(text.replace("    - type: recall\n", "    - kind: recall\n", 1))  # a metric without its type
    with pytest.raises(ValueError):
        check_card(tmp_path / "README.md")
    with pytest.raises(ValueError, match="needs an ok run record"):
        write_model_card(tmp_path, {**record, "status": "failed"})
    assert main(["--cards", "--results", str(tmp_path / "nowhere")]) == 2


def test_the_demo_cell_is_the_demo_grids():
    from peftser.benchmark.grids import load_grid

    assert DEMO_CELL.key in {c.key for c in load_grid("demo").cells()}
