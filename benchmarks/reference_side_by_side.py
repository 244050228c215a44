"""The harness and the PEFT-SER reference code timed on the same work, side by side.

Run with the harness's Python; the reference runs in its own environment (transformers 4.30.2,
loralib), through ``reference_driver.py``:

    python benchmarks/reference_side_by_side.py --reference-repo PEFT_SER_CHECKOUT --reference-python REFERENCE_VENV/bin/python

Figures, each side in its own process, the two sides alternated (harness, reference, then
reference, harness, ...) so that a shared machine's load falls on both alike:

1. seconds per training step (forward, backward, optimiser step; median of ``--steps`` after a
   warm-up) at batch 4 x 6 s of random audio, full-size encoders with random weights built from
   the harness's configs: whisper_tiny downstream, whisper_tiny LoRA, wavlm_base_plus LoRA. The
   harness side is ``run_benchmark.py --bench ... --json``, which also reports ``share_of_bound``.
2. one whole training, whisper_tiny LoRA, batch 32, 2 epochs, fold1 of synthetic_crema_d: the
   harness's ``--train`` (from a random-weight checkpoint folder) against the reference's own data
   loader, train_epoch and validate_epoch on the same clips written in its layout.
3. peak resident memory of the process, wavlm_base_plus LoRA, batch 8 x 6 s.

Ratios are harness / reference: below 1, the harness is faster (or smaller). Each cell of the
table is the median over ``--rounds``; the 1-minute load average before and after each
measurement is printed with it. See benchmarks/README.md for what differs between the two sides.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's peftser, whatever else is installed
DRIVER = Path(__file__).resolve().parent / "reference_driver.py"

STEP_CELLS = (("whisper_tiny", "downstream"), ("whisper_tiny", "lora"), ("wavlm_base_plus", "lora"))
MEMORY_CELL = ("wavlm_base_plus", "lora")
TRAIN_CELL = ("whisper_tiny", "lora", "synthetic_crema_d", "fold1")
# The harness's emotions as the reference's CREMA-D letters (its map_label reads these).
CREMA_D_LETTERS = {"neutral": "N", "happy": "H", "sad": "S", "angry": "A"}


def load_average() -> float:
    return os.getloadavg()[0]


def run_json(command: list[str]) -> tuple[dict, float]:
    """Run a command whose stdout ends with a JSON object; that object and the wall seconds."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    text = done.stdout.strip()
    start_of_json = text.rfind("\n{") + 1 if not text.startswith("{") else 0
    return json.loads(text[start_of_json:]), seconds


def measured(run) -> dict:
    """``run()``'s figures with the load average around it."""
    before = load_average()
    figures = run()
    return {**figures, "load_before": before, "load_after": load_average()}


def upstream_config(upstream: str) -> dict:
    """The transformers configuration the harness builds ``upstream`` from."""
    from peftser.upstream import SPECS

    return next(spec.config for spec in SPECS if spec.name == upstream)


# --- the two sides' commands -----------------------------------------------------------------


def harness_bench(upstream: str, method: str, batch: int, seconds: float, steps: int) -> dict:
    command = [sys.executable, str(REPO / "run_benchmark.py"), "--bench", upstream, method,
               "--batch", str(batch), "--seconds", f"{seconds:g}", "--steps", str(steps), "--json"]
    return run_json(command)[0]


def reference_command(args, upstream: str, method: str) -> list[str]:
    return [args.reference_python, str(DRIVER), "--reference-repo", str(args.reference_repo),
            "--config", json.dumps(upstream_config(upstream)), "--upstream", upstream, "--method", method]


def reference_steps(args, upstream: str, method: str, batch: int, seconds: float, steps: int) -> dict:
    command = reference_command(args, upstream, method) + ["steps", "--batch", str(batch), "--seconds", f"{seconds:g}", "--steps", str(steps)]
    return run_json(command)[0]


def harness_training(args, work: Path, round_: int) -> dict:
    upstream, method, task, training = TRAIN_CELL
    results = work / f"harness-results-{round_}"  # a fresh folder: a recorded cell would be skipped
    command = [sys.executable, str(REPO / "run_benchmark.py"), "--train", upstream, method, task, training,
               "--epochs", str(args.epochs), "--checkpoint-dir", str(work / "checkpoints"), "--results", str(results)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"harness --train failed:\n{done.stderr[-3000:]}")
    record = json.loads(Path(done.stdout.strip().rsplit("-> ", 1)[1]).read_text())
    return {"wall_s": wall, "record_wall_time_s": record["wall_time_s"], "split_sizes": record["split_sizes"],
            "test_uar": record["test"]["uar"], "history": record["history"],
            "trainable_params": record.get("trainable_params")}


def reference_training(args, work: Path, round_: int) -> dict:
    upstream, method, _, _ = TRAIN_CELL
    out = work / f"reference-out-{round_}"
    out.mkdir(exist_ok=True)
    command = reference_command(args, upstream, method) + [
        "train", "--split-dir", str(work / "split"), "--audio-dir", str(work / "audio"), "--out-dir", str(out),
        "--dataset", "crema_d", "--epochs", str(args.epochs)]
    figures, wall = run_json(command)
    return {"wall_s": wall, **figures}


# --- shared inputs -----------------------------------------------------------------------------


def write_random_checkpoint(work: Path) -> None:
    """whisper_tiny with random weights as a checkpoint folder, for the harness's --train (which
    loads weights; the reference side builds the same configuration with random weights)."""
    from transformers import WhisperConfig, WhisperModel

    folder = work / "checkpoints" / "whisper-tiny"
    if not (folder / "config.json").is_file():
        WhisperModel(WhisperConfig(**upstream_config("whisper_tiny"))).save_pretrained(folder)


def write_reference_split(work: Path) -> None:
    """The harness's split of the training cell, in the reference's layout: DATASET_fold1.json
    (entries [key, speaker, gender, path, label]) and the clips under audio/crema_d/."""
    from peftser.downstream.tasks import make_task

    _, _, task, training = TRAIN_CELL
    split = make_task(task).training(training)
    audio = work / "audio" / "crema_d"
    audio.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, utterances in (("train", split.train), ("dev", split.dev), ("test", split.test)):
        entries[name] = []
        for u in utterances:
            link = audio / Path(u.path).name
            if not link.exists():
                link.symlink_to(Path(u.path).resolve())
            entries[name].append([u.key, u.speaker, u.gender, str(link), CREMA_D_LETTERS[u.label]])
    (work / "split").mkdir(exist_ok=True)
    (work / "split" / "crema_d_fold1.json").write_text(json.dumps(entries))


# --- the comparisons ---------------------------------------------------------------------------


def alternate(rounds: int, harness, reference) -> dict[str, list[dict]]:
    """Both sides ``rounds`` times, in the order H R, R H, H R, ... so neither always goes first."""
    out = {"harness": [], "reference": []}
    for k in range(rounds):
        order = (("harness", harness), ("reference", reference))
        for side, run in order if k % 2 == 0 else order[::-1]:
            print(f"  round {k + 1}: {side} ...", file=sys.stderr, flush=True)
            out[side].append(measured(lambda: run(k)))
    return out


def compare_steps(args) -> dict:
    results = {}
    for upstream, method in STEP_CELLS:
        print(f"training steps: {upstream} {method}", file=sys.stderr, flush=True)
        results[f"{upstream} {method}"] = alternate(
            args.rounds,
            lambda k: harness_bench(upstream, method, 4, 6.0, args.steps),
            lambda k: reference_steps(args, upstream, method, 4, 6.0, args.steps),
        )
    return results


def compare_training(args, work: Path) -> dict:
    print("whole training: whisper_tiny lora, synthetic_crema_d fold1", file=sys.stderr, flush=True)
    write_random_checkpoint(work)
    write_reference_split(work)
    return alternate(args.rounds, lambda k: harness_training(args, work, k), lambda k: reference_training(args, work, k))


def compare_memory(args) -> dict:
    upstream, method = MEMORY_CELL
    print(f"peak memory: {upstream} {method}, batch 8", file=sys.stderr, flush=True)
    return alternate(
        args.rounds,
        lambda k: harness_bench(upstream, method, 8, 6.0, args.memory_steps),
        lambda k: reference_steps(args, upstream, method, 8, 6.0, args.memory_steps),
    )


# --- the report --------------------------------------------------------------------------------


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def loads(pair: dict[str, list[dict]]) -> str:
    values = [v for side in pair.values() for r in side for v in (r["load_before"], r["load_after"])]
    return f"{min(values):.1f} to {max(values):.1f}"


def table(results: dict) -> str:
    rows = ["| figure | harness | reference | harness / reference | load average (1 min) |", "|---|---|---|---|---|"]

    def row(figure, pair, key, unit, scale=1.0):
        h, r = median_of(pair["harness"], key) * scale, median_of(pair["reference"], key) * scale
        rows.append(f"| {figure} | {h:.2f} {unit} | {r:.2f} {unit} | {h / r:.2f} | {loads(pair)} |")

    for cell, pair in results.get("steps", {}).items():
        row(f"training step, {cell}, batch 4 x 6 s", pair, "sec_per_step", "s")
    for cell, pair in results.get("steps", {}).items():  # a check that both sides train the same parameters
        h, r = pair["harness"][0]["trainable_params"], pair["reference"][0]["trainable_params"]
        rows.append(f"| trainable parameters, {cell} | {h:,} | {r:,} | {h / r:.2f} | |")
    if "training" in results:
        pair = results["training"]
        row("whole training, whisper_tiny lora, batch 32, 2 epochs (process wall time)", pair, "wall_s", "s")
    if "memory" in results:
        pair = results["memory"]
        row("peak RSS, wavlm_base_plus lora, batch 8 x 6 s", pair, "peak_memory_mb", "GB", 1 / 1024)
        row(f"training step, wavlm_base_plus lora, batch 8 x 6 s ({pair['harness'][0]['steps']} step(s) after a warm-up)",
            pair, "sec_per_step", "s")
    return "\n".join(rows)


def bound_table(results: dict) -> str:
    """The harness's own measure of how close its step runs to the machine (--bench --json)."""
    rows = ["| harness --bench | step GFLOP | achieved GFLOP/s | matmul bound GFLOP/s | share_of_bound |", "|---|---|---|---|---|"]
    benches = [(f"{cell}, batch 4", pair) for cell, pair in results.get("steps", {}).items()]
    if "memory" in results:
        benches.append((f"{' '.join(MEMORY_CELL)}, batch 8", results["memory"]))
    for name, pair in benches:
        for k, run in enumerate(pair["harness"]):
            rows.append(f"| {name} (round {k + 1}) | {run['step_gflop']:.1f} | {run['achieved_gflops']:.1f} | "
                        f"{run['matmul_gflops']:.1f} | {run['share_of_bound']:.0%} |")
    return "\n".join(rows)


def measure(args) -> dict:
    args.reference_repo = args.reference_repo.resolve()
    chosen = args.only or ["steps", "training", "memory"]
    results = {"settings": {"rounds": args.rounds, "steps": args.steps, "memory_steps": args.memory_steps, "epochs": args.epochs}}
    with tempfile.TemporaryDirectory(prefix="peftser-side-by-side-") as scratch:
        work = args.work_dir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        comparisons = {"steps": lambda: compare_steps(args), "training": lambda: compare_training(args, work),
                       "memory": lambda: compare_memory(args)}
        for name in (n for n in comparisons if n in chosen):
            results[name] = comparisons[name]()
            if args.json_out:  # after each part, so that a long run stopped midway keeps what it measured
                args.json_out.write_text(json.dumps(results, indent=2))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-repo", type=Path, help="a checkout of usc-sail/peft-ser")
    parser.add_argument("--reference-python", help="the Python of the reference's environment")
    parser.add_argument("--rounds", type=int, default=1, help="alternations of the two sides per figure")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per step measurement")
    # The peak is reached in the first steps; more only cost time (minutes a step for the reference).
    parser.add_argument("--memory-steps", type=int, default=1, help="timed training steps of the memory measurement")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the whole training")
    parser.add_argument("--only", choices=("steps", "training", "memory"), action="append",
                        help="run only these comparisons (repeatable; default all)")
    parser.add_argument("--work-dir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--json-out", type=Path, help="also write every measurement here")
    parser.add_argument("--report", type=Path, help="print the tables of a --json-out file; measure nothing")
    args = parser.parse_args(argv)
    if args.report:
        results = json.loads(args.report.read_text())
    elif not (args.reference_repo and args.reference_python):
        parser.error("--reference-repo and --reference-python are required (or --report FILE)")
    else:
        results = measure(args)
    print(table(results))
    if "steps" in results or "memory" in results:
        print()
        print(bound_table(results))
    print(f"\nmedian over {results['settings']['rounds']} round(s), each side in its own process, alternated; "
          f"CPU threads: torch's default ({os.cpu_count()} cores visible); ratio below 1: the harness is faster or smaller.")
    print("command: " + " ".join(["python", "benchmarks/reference_side_by_side.py", *(argv if argv is not None else sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
