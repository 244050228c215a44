"""Memory of one encoder serving five artifacts (the paper's five methods) against loading each
artifact on its own.

    python benchmarks/shared_encoder_memory.py [--upstreams wavlm_base_plus whisper_tiny]

For each upstream (full size, random weights built from its registry config): five artifacts,
one per paper method (trained weights drawn at random), then, each in a fresh process:

- ``separate``: ``peftser.load(dir)`` five times, one model per artifact;
- ``shared``: ``peftser.load([dir, ...])``, one frozen encoder for the five.

Each process scores one 1 s clip with every artifact (so nothing is left to allocate lazily) and
reports how far its resident memory rose over loading (VmRSS after minus before, the imports
already done) and the bytes of the distinct tensors its models hold (every parameter and buffer,
a tensor shared by several models counted once): the second is exact, the first includes the
allocator's and the modules' own overhead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's peftser, whatever else is installed

from random_artifact import make_artifact  # noqa: E402 (beside this script)
PAPER_METHODS = ("downstream", "adapter", "parallel_adapter", "embedding_prompt", "lora")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _tensor_bytes(models) -> int:
    seen = {}
    for model in models:
        for t in (*model.parameters(), *model.buffers()):
            seen[t.data_ptr()] = t.numel() * t.element_size()
    return sum(seen.values())


def child(mode: str, directories: list[str]) -> None:
    """One measurement, in its own process: prints a JSON line."""
    import numpy as np
    import torch

    import peftser

    torch.set_num_threads(1)
    clip = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    before = _rss_mb()
    if mode == "shared":
        shared = peftser.load(directories, device="cpu")
        predictors = [shared[name] for name in shared.names]
    else:
        predictors = [peftser.load(d, device="cpu") for d in directories]
    for predictor in predictors:
        predictor.predict(clip, sample_rate=16000)
    after = _rss_mb()
    print(json.dumps({"mode": mode, "rss_mb": after - before, "tensor_mb": _tensor_bytes(p.model for p in predictors) / 2**20}))


def _make(root: Path, upstream: str) -> list[str]:
    return [str(make_artifact(root, upstream, method, seed=seed)) for seed, method in enumerate(PAPER_METHODS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstreams", nargs="+", default=["wavlm_base_plus", "whisper_tiny"])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1:])
    print("| upstream | five artifacts' files | separate: RSS rise | separate: tensors | shared: RSS rise | shared: tensors |")
    print("|---|---|---|---|---|---|")
    for upstream in args.upstreams:
        with tempfile.TemporaryDirectory() as tmp:
            directories = _make(Path(tmp), upstream)
            files = sum(f.stat().st_size for d in directories for f in Path(d).iterdir()) / 2**20
            result = {}
            for mode in ("separate", "shared"):
                out = subprocess.run([sys.executable, __file__, "--child", mode, *directories], check=True,
                                     capture_output=True, text=True).stdout
                result[mode] = json.loads(out.strip().splitlines()[-1])
        s, h = result["separate"], result["shared"]
        print(f"| `{upstream}` | {files:.1f} MB | {s['rss_mb']:.0f} MB | {s['tensor_mb']:.0f} MB | "
              f"{h['rss_mb']:.0f} MB | {h['tensor_mb']:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
