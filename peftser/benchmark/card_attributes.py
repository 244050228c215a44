"""The parts of a model card that differ for an attribute model: CCC, r and RMSE per dimension."""

from __future__ import annotations

from typing import Any

from huggingface_hub import EvalResult


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def is_attribute_record(record: dict[str, Any]) -> bool:
    """Whether a run record is an attribute task's (CCC, not UAR)."""
    return record.get("kind") == "attributes"


def attribute_results(record: dict[str, Any], dataset_name: str) -> list[EvalResult]:
    """The model-index entries: test CCC of each dimension and their mean."""
    test, split = record["test"], f"{record['training']} test"
    figures = [(f"CCC {dim} ({split})", value) for dim, value in test["ccc"].items()]
    figures.append((f"mean CCC ({split})", test.get("mean_ccc")))
    return [
        EvalResult(task_type="audio-classification", task_name="Speech emotion attribute regression",
                   dataset_type=record["task"], dataset_name=dataset_name, dataset_config=record["training"],
                   dataset_split="test", metric_type="ccc", metric_name=name, metric_value=round(float(value), 4))
        for name, value in figures if value is not None
    ]


def attribute_objective(record: dict[str, Any]) -> str:
    """The protocol sentence's end: the loss and the model selection of an attribute training."""
    dev = record.get("dev") or {}
    loss = ((record.get("config") or {}).get("train") or {}).get("attribute_loss", "ccc")
    what = "mean squared error" if loss == "mse" else "the loss 1 - CCC averaged over the dimensions over each batch"
    return (f"{what}, targets scaled to [0, 1], the test set scored once with the weights of the best mean dev CCC "
            f"epoch (here epoch {record.get('best_epoch')}, dev mean CCC {_num(dev.get('mean_ccc'))}).")


def attribute_results_section(record: dict[str, Any]) -> list[str]:
    """The card's results and fairness sections of an attribute model."""
    test = record["test"]
    low, high = record.get("scale") or ("?", "?")
    lines = [f"## Results (test, ratings on the corpus' {low:g}-{high:g} scale)", "",
             "| dimension | CCC | Pearson r | RMSE |", "|---|---|---|---|"]
    lines += [f"| {d} | {_num(test['ccc'][d])} | {_num(test['r'][d])} | {_num(test['rmse'][d])} |" for d in test["ccc"]]
    lines += ["", f"Mean CCC {_num(test.get('mean_ccc'))} over {test.get('n')} utterances.", "",
              "## Fairness (test, by speaker gender; lower is fairer)", "",
              "| dimension | CCC gap | RMSE gap |", "|---|---|---|"]
    lines += [f"| {d} | {_num(test['ccc_gap'][d])} | {_num(test['rmse_gap'][d])} |" for d in test["ccc"]]
    return lines + [""]
