"""Inference latency on this CPU, side by side: torch eager (the artifact as trained, LoRA unmerged),
torch with LoRA merged (the standalone export) and onnxruntime (the ONNX export).

    python benchmarks/deploy_latency.py [--upstreams whisper_tiny wavlm_base_plus] [--seconds 1 6]
                                        [--batch 8] [--repeats 5] [--threads 1]

For each upstream (full size, random weights built from its registry config, LoRA with random
trained weights and head): one artifact, exported both ways, then per clip length the latency of
one clip and of a padded batch of ``--batch`` clips of that length, the three runtimes alternated
within every repeat so that a shared machine's load falls on all three; medians over the repeats
after one warm-up. Torch and onnxruntime get the same number of threads. The 1-minute load
average before and after is printed: on a shared machine read the figures as rough.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's peftser, whatever else is installed

from random_artifact import make_artifact  # noqa: E402 (beside this script)


def _timed(forward, waves, lengths) -> float:
    start = time.perf_counter()
    forward(waves, lengths)
    return time.perf_counter() - start


def measure(upstream: str, method: str, seconds: list[float], batch: int, repeats: int, threads: int) -> list[dict]:
    import numpy as np
    import torch

    import peftser
    from peftser.benchmark.run.batches import collate
    from peftser.deploy.command import export
    from peftser.deploy.onnx import OnnxModel

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        artifact = make_artifact(root, upstream, method, max_seconds=max(seconds))
        started = time.perf_counter()
        export(artifact, root / "merged")
        export(artifact, root / "onnx", "onnx")
        print(f"{upstream}/{method}: exported both ways in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        runtimes = {
            "torch eager": peftser.load(artifact, device="cpu").model,
            "torch merged": peftser.load(root / "merged", device="cpu").model,
            "onnxruntime": OnnxModel(root / "onnx" / "model.onnx", threads=threads),
        }
        rng = np.random.default_rng(0)
        for length in seconds:
            clip = (0.1 * rng.standard_normal(int(length * 16000))).astype(np.float32)
            inputs = {1: collate([clip]), batch: collate([clip] * batch)}
            times = {(name, n): [] for name in runtimes for n in inputs}
            with torch.no_grad():
                for repeat in range(repeats + 1):
                    for n, (waves, lengths) in inputs.items():
                        for name, forward in runtimes.items():
                            elapsed = _timed(forward, waves, lengths)
                            if repeat:  # the first round is a warm-up
                                times[name, n].append(elapsed)
            for name in runtimes:
                one, many = statistics.median(times[name, 1]), statistics.median(times[name, batch])
                rows.append({"upstream": upstream, "seconds": length, "runtime": name, "one_clip_ms": 1000 * one,
                             "batch_ms": 1000 * many, "per_clip_in_batch_ms": 1000 * many / batch})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstreams", nargs="+", default=["whisper_tiny", "wavlm_base_plus"])
    parser.add_argument("--method", default="lora")
    parser.add_argument("--seconds", nargs="+", type=float, default=[1.0, 6.0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    before = os.getloadavg()[0]
    rows = [r for upstream in args.upstreams for r in measure(upstream, args.method, args.seconds, args.batch, args.repeats, args.threads)]
    after = os.getloadavg()[0]
    print(f"{args.method}, {args.threads} thread(s), median of {args.repeats} after a warm-up; "
          f"1-minute load average {before:.1f} before, {after:.1f} after\n")
    print(f"| upstream | clip | runtime | one clip (ms) | batch of {args.batch} (ms) | per clip in the batch (ms) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['upstream']}` | {r['seconds']:g} s | {r['runtime']} | {r['one_clip_ms']:.1f} | {r['batch_ms']:.1f} | "
              f"{r['per_clip_in_batch_ms']:.1f} |")


if __name__ == "__main__":
    main()
