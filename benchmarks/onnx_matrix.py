"""Every encoder family x every paper method through the ONNX export, checked with onnxruntime.

    python benchmarks/onnx_matrix.py [--methods downstream adapter ...] [--json]

Each family's encoder is a two- or three-layer random-weight version of a registered one (the demo
twins of Whisper, wav2vec 2.0 and WavLM; HuBERT Base and data2vec-audio Base shrunk by
``upstream_args``), each method with random trained weights. A pair's figure is the larger of two
checks' largest logit differences between onnxruntime and torch (the unmerged artifact): the
export's own check and another on clips of other lengths (1, 0.8, 0.5 and 0.03 s), each on one
padded batch and on every clip alone. A pair the exporter refuses shows its one-line reason. The
test suite runs a few of these pairs (tests/test_onnx_export.py); this script runs them all.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's peftser, whatever else is installed

from random_artifact import make_artifact  # noqa: E402 (beside this script)

PAPER_METHODS = ["downstream", "adapter", "parallel_adapter", "embedding_prompt", "lora"]
SMALL_WAVE = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64,
              "conv_dim": [16] * 7, "num_conv_pos_embedding_groups": 4}
FAMILIES = {  # family -> (upstream, upstream_args)
    "Whisper": ("demo_whisper_tiny", {}),
    "wav2vec 2.0": ("demo_wav2vec2_base", {}),
    "WavLM": ("demo_wavlm_base_plus", {}),
    "HuBERT": ("hubert_base", {**SMALL_WAVE, "num_conv_pos_embeddings": 16}),
    "data2vec-audio": ("data2vec_audio_base", {**SMALL_WAVE, "num_conv_pos_embeddings": 3, "conv_pos_kernel_size": 5}),
}


def _clips():
    import numpy as np

    rng = np.random.default_rng(7)
    return [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in (1.0, 0.8, 0.5, 0.03)]


def run_pair(root: Path, upstream: str, upstream_args: dict, method: str) -> dict:
    import peftser
    from peftser.deploy.check import largest_difference
    from peftser.deploy.command import export
    from peftser.deploy.onnx import ExportRefused

    artifact = make_artifact(root, upstream, method, scale=0.1, max_seconds=1.0, upstream_args=upstream_args)
    started = time.perf_counter()
    try:
        written = export(artifact, root / f"{upstream}-{method}-onnx", "onnx")
    except ExportRefused as err:
        return {"refused": str(err)}
    seconds = time.perf_counter() - started
    onnx_model = peftser.load(root / f"{upstream}-{method}-onnx", device="cpu").model
    torch_model = peftser.load(artifact, device="cpu").model
    other = largest_difference(torch_model, onnx_model, _clips())
    return {"difference": max(other, written["export"]["check"]["max_abs_logit_difference"]), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=PAPER_METHODS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for family, (upstream, upstream_args) in FAMILIES.items():
            for method in args.methods:
                results[family, method] = run_pair(Path(tmp), upstream, upstream_args, method)
                print(family, method, results[family, method], file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps([{"family": f, "method": m, **r} for (f, m), r in results.items()], indent=1))
        return
    print("| family | " + " | ".join(args.methods) + " |")
    print("|---|" + "---|" * len(args.methods))
    for family in FAMILIES:
        cells = [f"{r['difference']:.1e}" if "difference" in r else f"refused: {r['refused']}"
                 for r in (results[family, m] for m in args.methods)]
        print(f"| {family} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
