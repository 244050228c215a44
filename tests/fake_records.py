"""Well-formed fake run records for the leaderboard tests: a small main grid with a failed and a
missing training, and the helpers that write and read them. ``board`` (conftest) writes one
leaderboard from them for the read-only tests."""

from __future__ import annotations

import json
from pathlib import Path

from peftser.benchmark.cell import Cell

# Short training lists keep the test small; the expected cells make them the full count.
TRAININGS = {
    "iemocap": ["fold1", "fold2", "fold3"],
    "msp_improv": ["fold1", "fold2"],
    "crema_d": ["fold1", "fold2"],
    "msp_podcast": ["seed1", "seed2"],
}
# wavlm_base_plus / lora, hand-checked below.
WAVLM_LORA = {
    "iemocap": [60.0, 62.0, 64.0],
    "msp_improv": [50.0, 54.0],
    "crema_d": [70.0, 72.0],
    "msp_podcast": [55.0, 59.0],
}
WAVLM_LORA_FAIRNESS = {"iemocap": [(10.0, 20.0), (12.0, 21.0), (14.0, 22.0)]}


def make_cell(upstream: str, method: str, task: str, training: str, variant: str = "", **method_args) -> Cell:
    return Cell(upstream, method, task, training, method_args=method_args, variant=variant)


def make_record(cell: Cell, uar: float, *, dp: float = 10.0, eo: float = 15.0, method_params: int = 370_000,
                head_params: int = 400_000, notes: tuple[str, ...] = ()) -> dict:
    """A run record with every field of the contract (predictions omitted: not used here)."""
    test = {"uar": uar, "acc": uar, "macro_f1": uar, "demographic_parity": dp, "equality_of_odds": eo,
            "confusion": [[1, 0, 0, 0]] * 4, "n": 4, "notes": list(notes)}
    return {
        "status": "ok", "key": cell.key, "label": cell.label, "cell": cell.to_dict(), "config": cell.resolved(),
        "upstream": cell.upstream, "method": cell.method, "variant": cell.variant or cell.method,
        "task": cell.task, "training": cell.training, "seed": 8, "test": test, "dev": test, "best_epoch": 3,
        "history": [], "trainable_params": method_params + head_params, "method_params": method_params,
        "head_params": head_params, "upstream_params": 94_700_000,
        "artifact": {"path": f"artifacts/{cell.key}", "bytes": 1000}, "wall_time_s": 1.0, "device": "cpu",
        "precision": "fp32", "versions": {}, "predictions": [],
    }


def make_failed(cell: Cell, error: str) -> dict:
    return {"status": "failed", "key": cell.key, "label": cell.label, "cell": cell.to_dict(),
            "config": cell.resolved(), "upstream": cell.upstream, "method": cell.method,
            "variant": cell.variant or cell.method, "task": cell.task, "training": cell.training,
            "error": error, "traceback": "Traceback (most recent call last):\n  ...\n" + error}


def save(results: Path, record: dict) -> None:
    path = results / "records" / record["task"] / f"{record['key']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def grid() -> list[Cell]:
    """Main grid: 2 backbones x 2 methods x 4 corpora, listed out of the paper's order on purpose."""
    return [make_cell(b, m, t, tr) for b in ("wavlm_base_plus", "whisper_tiny") for m in ("lora", "downstream")
            for t, trainings in TRAININGS.items() for tr in trainings]


def fill(results: Path) -> list[Cell]:
    """Records for the grid with one failed and one missing training; returns the expected cells."""
    cells = grid()
    for cell in cells:
        i = TRAININGS[cell.task].index(cell.training)
        if (cell.upstream, cell.method) == ("wavlm_base_plus", "lora"):
            dp, eo = WAVLM_LORA_FAIRNESS.get(cell.task, [(10.0, 15.0)] * 3)[i]
            save(results, make_record(cell, WAVLM_LORA[cell.task][i], dp=dp, eo=eo))
        elif cell.label == "whisper_tiny/downstream/iemocap/fold3":
            save(results, make_failed(cell, "RuntimeError: boom on fold3"))
        elif cell.label == "whisper_tiny/lora/msp_podcast/seed2":
            continue  # never ran
        else:
            save(results, make_record(cell, 40.0 + i, method_params=0 if cell.method == "downstream" else 370_000))
    return cells


def table_after(markdown: str, heading: str) -> dict[str, dict[str, str]]:
    """The first markdown table after a heading, as {first column: {header: cell}}."""
    lines = markdown.split(f"\n{heading}\n", 1)[1].splitlines()
    rows = [line for line in lines[lines.index(next(line for line in lines if line.startswith("|"))):]]
    rows = rows[: next((i for i, line in enumerate(rows) if not line.startswith("|")), len(rows))]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows if not set(row) <= set("|-: ")]
    header, body = cells[0], cells[1:]
    return {row[0]: dict(zip(header, row)) for row in body}
