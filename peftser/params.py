"""The trainable-parameter table (Table IV) and backbone sizes (Table II), from configs alone.

Models are built on PyTorch's meta device: every shape, no memory, no weights, a few seconds.
"""

from __future__ import annotations

from typing import Any

import torch

from peftser.downstream.task import EMOTIONS
from peftser.model import build_model
from peftser.registry import METHODS, load_builtins
from peftser.upstream import listed, spec_of

# The tables' rows are the entries listed in them (UpstreamSpec.table), in their order.
PAPER_BACKBONES = listed("paper")
# Beyond the paper (the extended grid): large and newer encoders, each built from its embedded config.
EXTENDED_BACKBONES = listed("extended")
TABLE_BACKBONES = PAPER_BACKBONES + EXTENDED_BACKBONES


def table_backbones() -> tuple[str, ...]:
    """Every encoder of Tables II and IV now, a plugin's entries included."""
    return listed("paper") + listed("extended")
PAPER_METHODS = ("downstream", "adapter", "parallel_adapter", "embedding_prompt", "lora")

# Table IV in millions: the downstream model, and what each PEFT method adds to it.
PAPER_TABLE_IV = {
    "whisper_tiny": {"downstream": 0.3, "adapter": 0.40, "embedding_prompt": 0.01, "lora": 0.06},
    "whisper_base": {"downstream": 0.33, "adapter": 0.79, "embedding_prompt": 0.02, "lora": 0.12},
    "whisper_small": {"downstream": 0.4, "adapter": 2.37, "embedding_prompt": 0.05, "lora": 0.37},
    "wav2vec2_base": {"downstream": 0.4, "adapter": 2.37, "embedding_prompt": 0.05, "lora": 0.37},
    "wavlm_base_plus": {"downstream": 0.4, "adapter": 2.37, "embedding_prompt": 0.05, "lora": 0.37},
}

NOTES = [
    "Paper column: Table IV of the paper (millions); for `downstream` it is the head, for the others what the method adds.",
    "LoRA: rank 8 on both feed-forward linears (the reference code) is twice Table IV, whose figure equals rank 8 on one "
    "linear per layer; a grid can set `targets: [ffn_in]` to match the table instead.",
    "parallel_adapter has the adapter's parameter count (Table IV has no column for it).",
    "Backbone sizes: the paper's Table II prints Whisper Tiny with hidden size 376 and Whisper Base with 8 layers; "
    "the checkpoints (and this table) have 384 and 6. Only the Whisper encoder is counted.",
    "wav2vec2_base / wavlm_base_plus count 0.67 M / 0.32 M fewer than Table II, which does not say what it "
    "includes; this table counts the modules that run (CNN front end, feature projection, transformer).",
    "Rows after the paper's five backbones are the extended grid's encoders (not in the paper): the same methods with "
    "the paper's sizes; whisper_large_v3 and whisper_large_v3_turbo have the same encoder size.",
]


def ordered_methods() -> list[str]:
    """The paper's five methods in its order, then every other registered one."""
    load_builtins()
    return [m for m in PAPER_METHODS if m in METHODS] + [m for m in METHODS.names() if m not in PAPER_METHODS]


def parameter_rows(upstreams=None, methods=None, *, task: tuple[str, tuple[str, ...]] | None = None) -> list[dict[str, Any]]:
    """One row per upstream x method with method_params, head_params and upstream_params; the heads
    have ``task``'s outputs ((name, its classes or dimensions); default: the paper's four classes)."""
    load_builtins()
    name, outputs = task or ("", tuple(EMOTIONS))
    rows = []
    for upstream in upstreams or table_backbones():
        for method in methods or ordered_methods():
            with torch.device("meta"):
                model = build_model(upstream, method, pretrained=False, num_classes=len(outputs))
            counts = model.parameter_counts()
            # Table IV's heads have four outputs: its figure says nothing of another head
            paper = PAPER_TABLE_IV.get(upstream, {}).get("downstream" if method == "downstream" else method)
            rows.append(
                {
                    "upstream": upstream,
                    "method": method,
                    "method_params": counts["method_params"],
                    "head_params": counts["head_params"],
                    "upstream_params": counts["upstream_params"],
                    "paper_m": paper if len(outputs) == len(EMOTIONS) or method != "downstream" else None,
                    "task": name or None,
                    "outputs": list(outputs),
                }
            )
    return rows


def backbone_rows(upstreams=None) -> list[dict[str, Any]]:
    """Table II: layers, hidden size and encoder parameters, ours and the paper's (with where that
    figure comes from), and the entry's licence and pre-training data."""
    load_builtins()
    rows = []
    for name in upstreams or table_backbones():
        with torch.device("meta"):
            model = build_model(name, "downstream", pretrained=False)
        spec = spec_of(name)
        rows.append(
            {
                "upstream": name,
                "checkpoint": spec.checkpoint if spec else None,
                "layers": model.upstream.num_layers,
                "hidden": model.upstream.hidden_size,
                "upstream_params": model.upstream.parameter_count(),
                "paper_m": spec.paper_params_m if spec else None,
                "paper_m_source": spec.params_source if spec else "",
                "licence": (spec.licence if spec else None) or "unknown",
                "pretrained_on": spec.pretraining_text() if spec else "",
            }
        )
    return rows


def format_tables(rows: list[dict], backbones: list[dict]) -> str:
    from tabulate import tabulate

    def m(n):
        return f"{n / 1e6:.2f} M"

    table_ii = tabulate(
        [[b["upstream"], b["checkpoint"], b["layers"], b["hidden"], m(b["upstream_params"]),
          "" if b["paper_m"] is None else f"{b['paper_m']:.2f} M"] for b in backbones],
        headers=["upstream", "checkpoint", "layers", "hidden", "encoder params", "paper (Table II)"],
        tablefmt="github",
    )
    table_iv = tabulate(
        [[r["upstream"], r["method"], m(r["method_params"]), m(r["head_params"]),
          m(r["method_params"] + r["head_params"]), "" if r["paper_m"] is None else f"{r['paper_m']:.2f} M"]
         for r in rows],
        headers=["upstream", "method", "method params", "head params", "trainable", "paper (Table IV)"],
        tablefmt="github",
    )
    data = tabulate([[b["upstream"], b["licence"], b["pretrained_on"] or "none (random weights)"] for b in backbones],
                    headers=["upstream", "licence", "pre-trained on (as its paper states it)"], tablefmt="github")
    notes = "\n".join(f"- {n}" for n in NOTES)
    heads = ""
    if rows and rows[0]["task"]:
        outputs = rows[0]["outputs"]
        heads = f", heads for {rows[0]['task']}: {len(outputs)} outputs ({', '.join(outputs)})"
    return (f"Backbones (Table II)\n\n{table_ii}\n\nLicences and pre-training data\n\n{data}\n\n"
            f"Trainable parameters (Table IV{heads})\n\n{table_iv}\n\nNotes\n{notes}\n")
