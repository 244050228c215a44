"""``python run_benchmark.py``: one entry point for every job of the harness."""

from __future__ import annotations

import argparse
import json
import os
import sys

from peftser.interrupts import interrupted, no_semaphores_to_leak, raise_on_sigterm
from peftser.option_modes import check_mode_options


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_benchmark.py",
        description="PEFT-SER benchmark: frozen speech encoders x PEFT methods x SER corpora.",
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--grid", metavar="NAME|FILE.yaml", help="run every cell of a grid (full, ablation, demo or a YAML file)")
    mode.add_argument("--train", nargs=4, metavar=("UPSTREAM", "METHOD", "TASK", "TRAINING"), help="run one cell")
    mode.add_argument("--leaderboard", action="store_true", help="regenerate DIR/leaderboard.md, leaderboard.json, index.html and the plots from run records")
    mode.add_argument("--cards", action="store_true", help="write a model card (README.md) in every artifact folder of DIR from its record")
    mode.add_argument(
        "--compare", nargs=2, metavar=("A", "B"),
        help="paired statistics of A minus B: two variants ([UPSTREAM/]VARIANT) in --results DIR, or two results"
        " directories (--json too)",
    )
    mode.add_argument("--list", action="store_true", help="list registered upstreams, methods, tasks and grids")
    mode.add_argument("--params", action="store_true", help="trainable-parameter table (Tables II and IV)")
    mode.add_argument("--manifest", metavar="TASK", help="write a task's utterances and splits as CSV")
    mode.add_argument("--predict", nargs="+", metavar=("ARTIFACT_DIR", "FILE.wav"), help="classify audio files")
    mode.add_argument("--bench", nargs=2, metavar=("UPSTREAM", "METHOD"), help="time full-size training steps")
    mode.add_argument("--export", metavar="ARTIFACT_DIR", help="write an artifact as a deployable model (--to DIR, --format)")
    mode.add_argument("--cache-info", action="store_true", help="where the audio cache is, its size, and how much is stale")
    mode.add_argument("--cache-prune", action="store_true", help="remove cache entries of moved, deleted or edited audio files")

    data = p.add_argument_group("data")
    data.add_argument("--data-root", help="folder holding the corpora, each in the folder its task reads (README, Corpora)")
    data.add_argument("--task-root", help="the corpus folder itself, overriding DATA_ROOT/<default folder>")
    data.add_argument("--strict", action="store_true", help="bad audio is an error instead of a counted, skipped utterance")
    data.add_argument(
        "--task-arg", action="append", default=[], metavar="KEY=VALUE",
        help="task option, e.g. label_source=voice_vote for crema_d (--manifest, --train)",
    )
    data.add_argument("--out", help="output file (--manifest)")

    run = p.add_argument_group("running")
    run.add_argument("--results", help="results directory (default: results/<grid> for --grid, else results)")
    run.add_argument("--only", action="append", default=[], metavar="KEY=VALUE", help="filter grid cells, or --params rows by upstream= and method= (task=: heads sized for its classes) (repeatable)")
    run.add_argument("--devices", help="comma-separated CUDA device indices, or cpu (default: every visible GPU, else cpu)")
    run.add_argument(
        "--jobs-per-device", type=int,
        help="trainings run at once on each device (default: 1 per GPU; on the CPU, one per core)",
    )
    run.add_argument("--retry-failed", action="store_true", help="re-run cells (and evaluations) recorded as failed")
    evaluation = run.add_mutually_exclusive_group()
    evaluation.add_argument("--evaluate-only", action="store_true",
                            help="run only the grid's evaluations (cross-corpus, noise) of cells already trained")
    evaluation.add_argument("--no-evaluate", action="store_true", help="skip the grid's evaluations")
    run.add_argument("--device", help="device for --train/--predict/--bench (default: cuda if available, else cpu)")
    run.add_argument("--precision", choices=("fp32", "bf16"), help="bf16 autocast on GPUs that support it")
    run.add_argument("--checkpoint-dir", help="folder with one sub-folder per checkpoint (offline loading)")
    run.add_argument(
        "--no-verify", action="store_true",
        help="load an artifact whose adapter_config.json has no weights_sha256 without checking its weights (--predict)",
    )
    run.add_argument("--epochs", type=int, help="override the number of epochs (--train)")
    run.add_argument("--baseline", metavar="NAME", help="variant every method is compared with (--leaderboard; default downstream)")
    run.add_argument(
        "--backend", choices=("local", "slurm"), default="local",
        help="where a grid's cells train: worker processes on this machine (local), or a Slurm job array (slurm)",
    )

    slurm = p.add_argument_group("--backend slurm")
    slurm.add_argument("--slurm-partition", metavar="NAME", help="partition of the array tasks (default: the cluster's)")
    slurm.add_argument("--slurm-gpus-per-task", type=int, metavar="N", help="GPUs per task (default 1; 0 on CPU nodes)")
    slurm.add_argument("--slurm-cpus-per-task", type=int, metavar="N", help="CPUs per task, for torch and the data loader (default 8)")
    slurm.add_argument("--slurm-time", metavar="TIME", help="time limit per task, minutes or [D-]HH:MM[:SS], more than 10 minutes (default 24:00:00)")
    slurm.add_argument("--slurm-array-parallelism", type=int, metavar="N", help="tasks of an array running at once (default 256)")
    slurm.add_argument("--slurm-mem", metavar="MEM", help="memory per task, e.g. 32G (default: the partition's)")
    slurm.add_argument(
        "--slurm-extra", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
        help="further sbatch options without their dashes, e.g. account=speech qos=normal constraint=a100",
    )
    slurm.add_argument("--no-wait", action="store_true", help="submit and return; a re-run follows the queued cells, --leaderboard tabulates them")

    export = p.add_argument_group("--export")
    export.add_argument("--to", metavar="DIR", help="new or empty folder for the exported model")
    export.add_argument(
        "--format", choices=("safetensors", "onnx"), default="safetensors",
        help="safetensors: encoder, method and head in one file (LoRA merged); onnx: one ONNX graph, checked with onnxruntime",
    )

    bench = p.add_argument_group("--bench")
    bench.add_argument("--batch", type=int, default=32)
    bench.add_argument("--seconds", type=float, default=6.0)
    bench.add_argument("--steps", type=int, default=5)
    p.add_argument("--json", action="store_true", help="machine-readable output (--list, --params, --bench)")
    p.add_argument(
        "--plugin", action="append", default=[], metavar="MODULE",
        help="import MODULE first, so that the upstreams, methods, tasks or grids it registers can be used "
             "(a folder: register each task YAML in it, as --task-file does)",
    )
    p.add_argument("--task-file", action="append", default=[], metavar="FILE.yaml",
                   help="register the corpus this YAML describes (a manifest or EmoBox folds; README, 'Your own corpus')")
    return p


def parse_pairs(pairs: list[str], option: str, *, typed: bool = True) -> dict[str, object]:
    """``KEY=VALUE`` strings as a dict; values are read as YAML scalars (numbers, booleans, text),
    or with ``typed=False`` kept as the text typed (``true`` alone still means a bare flag)."""
    import yaml

    parsed: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{option} expects KEY=VALUE, got {pair!r}")
        parsed[key] = yaml.safe_load(value) if typed else (True if value == "true" else value)
    return parsed


def _given(args: argparse.Namespace, action: argparse.Action) -> bool:
    # ``is``/type-aware: 0 and False are values a user gave, not the None default
    value = getattr(args, action.dest)
    return not (value is action.default or (type(value) is type(action.default) and value == action.default))


def given_options(p: argparse.ArgumentParser, args: argparse.Namespace) -> list[tuple[str, str]]:
    """(dest, flag) of each option the command line gave."""
    return [(a.dest, a.option_strings[0]) for a in p._actions  # argparse keeps no public list of them
            if a.option_strings and hasattr(args, a.dest) and _given(args, a)]


def mode_of(args: argparse.Namespace) -> str:
    """The one mode option given (the parser makes them mutually exclusive and requires one)."""
    return next(m for m in MODES if getattr(args, m, None))


# -- the modes: each turns the parsed command line into one typed call below it --------------------
def _list(args) -> int:
    from peftser.registry import GRIDS, METHODS, TASKS, UPSTREAMS, load_builtins

    load_builtins()
    listing = {r.kind + "s": r.names() for r in (UPSTREAMS, METHODS, TASKS, GRIDS)}
    if args.json:
        print(json.dumps(listing, indent=2))
    else:
        for kind, names in listing.items():
            print(f"{kind}: {', '.join(names)}")
    return 0


def _params(args) -> int:
    from peftser.params import backbone_rows, format_tables, parameter_rows

    only = dict(item.partition("=")[::2] for item in args.only)  # --only upstream=/method=NAME: one row; task=: its head
    wrong = [item for item in args.only if item.partition("=")[0] not in PARAMS_ONLY or "=" not in item]
    if wrong:
        print(f"error: --only {wrong[0]}: with --params, give upstream=NAME, method=NAME or task=NAME", file=sys.stderr)
        return 2
    upstreams = [only["upstream"]] if "upstream" in only else None
    task = _params_task(only.get("task"), parse_pairs(args.task_arg, "--task-arg"))
    rows = parameter_rows(upstreams, [only["method"]] if "method" in only else None, task=task)
    if args.json:
        keys = ("upstream", "method", "method_params", "head_params", "upstream_params", "task", "outputs")
        print(json.dumps([{k: r[k] for k in keys} for r in rows], indent=2))
    else:
        print(format_tables(rows, backbone_rows(upstreams)))
    return 0


PARAMS_ONLY = ("upstream", "method", "task")


def _params_task(name: str | None, options: dict) -> tuple[str, tuple[str, ...]] | None:
    """(task, its outputs: classes or dimensions) whose head --params counts; None: the paper's four classes."""
    if name is None:
        if options:
            raise ValueError("--task-arg with --params needs --only task=NAME")
        return None
    from peftser.downstream.tasks import task_classes

    return name, task_classes(name, options)


def _manifest(args) -> int:
    from peftser.downstream.manifest import manifest_command

    return manifest_command(args.manifest, out=args.out, data_root=args.data_root, task_root=args.task_root,
                            strict=args.strict, task_options=parse_pairs(args.task_arg, "--task-arg"))


def _train_overrides(args) -> dict[str, object]:
    """--epochs and --precision as training options (they change the cells' configuration)."""
    return {k: v for k, v in (("epochs", args.epochs), ("precision", args.precision)) if v is not None}


def _train(args) -> int:
    from peftser.benchmark.cell import Cell
    from peftser.benchmark.run.training import train_command

    upstream, method, task, training = args.train
    cell = Cell(upstream=upstream, method=method, task=task, training=training, train=_train_overrides(args),
                task_args=parse_pairs(args.task_arg, "--task-arg"))
    return train_command(cell, results_dir=args.results, device=args.device, options=runner_options(args),
                         task_root=args.task_root)


def _predict(args) -> int:
    from peftser.predict import predict_command

    artifact_dir, *files = args.predict
    return predict_command(artifact_dir, files, device=args.device, checkpoint_dir=args.checkpoint_dir,
                           verify=not args.no_verify)


def _bench(args) -> int:
    from peftser.benchmark.run.bench import bench_command

    upstream, method = args.bench
    return bench_command(upstream, method, batch=args.batch, seconds=args.seconds, steps=args.steps,
                         device=args.device, precision=args.precision or "fp32", as_json=args.json)


def _export(args) -> int:
    from peftser.deploy.command import export_command

    return export_command(args.export, args.to, args.format, checkpoint_dir=args.checkpoint_dir, verify=not args.no_verify)


def backend(args):
    """The backend the options describe: Local(--devices, --jobs-per-device), or SlurmOptions(--slurm-*)."""
    if args.backend != "slurm":
        from peftser.benchmark.run.slots import Local

        return Local(args.devices, args.jobs_per_device)
    from peftser.benchmark.run.slurm import DEFAULT_TIME, SlurmOptions, parse_time
    from peftser.benchmark.run.slurm.options import DEFAULT_CPUS_PER_TASK

    return SlurmOptions(
        partition=args.slurm_partition,
        gpus_per_task=1 if args.slurm_gpus_per_task is None else args.slurm_gpus_per_task,
        cpus_per_task=DEFAULT_CPUS_PER_TASK if args.slurm_cpus_per_task is None else args.slurm_cpus_per_task,
        time_min=parse_time(args.slurm_time or DEFAULT_TIME),
        array_parallelism=args.slurm_array_parallelism,
        mem=args.slurm_mem,
        # sbatch reads text: "1:00:00" and "0123" must reach it as typed, not as YAML numbers
        extra=parse_pairs(args.slurm_extra, "--slurm-extra", typed=False),
        wait=not args.no_wait,
    )


def runner_options(args):
    """What every training and evaluation is told: where the corpora and checkpoints are, --strict."""
    from peftser.benchmark.run.runner import RunnerOptions

    return RunnerOptions(data_root=args.data_root, checkpoint_dir=args.checkpoint_dir, strict=args.strict)


def _grid(args) -> int:
    from peftser.benchmark.run.orchestrator import grid_command

    return grid_command(
        args.grid, results_dir=args.results, backend=backend(args), only=tuple(args.only),
        retry_failed=args.retry_failed, options=runner_options(args),
        train=_train_overrides(args), evaluate=not args.no_evaluate, evaluate_only=args.evaluate_only,
    )


def _leaderboard(args) -> int:
    from peftser.benchmark.report.leaderboard import leaderboard_command

    return leaderboard_command(args.results, baseline=args.baseline)


def _cards(args) -> int:
    from peftser.benchmark.card import cards_command

    return cards_command(args.results)


def _compare(args) -> int:
    from peftser.benchmark.report.compare import compare_command

    a, b = args.compare
    return compare_command(a, b, results=args.results, as_json=args.json)


def _cache(args) -> int:
    from peftser.downstream.cache import cache_command

    return cache_command(prune=args.cache_prune)


MODES = {
    "list": _list, "params": _params, "manifest": _manifest, "train": _train, "predict": _predict, "bench": _bench,
    "export": _export,
    "grid": _grid, "leaderboard": _leaderboard, "cards": _cards, "compare": _compare, "cache_info": _cache,
    "cache_prune": _cache,
}
# What an interrupted mode says it leaves behind (Ctrl-C, or SIGTERM).
LEFT_BEHIND = {"grid": "finished cells are recorded; run the same command again to resume"}
LEFT_BEHIND_DEFAULT = "the job stopped; what it had not finished is not recorded"


def _one_line(err: Exception) -> str:
    from peftser.files import describe_os_error

    return describe_os_error(err) if isinstance(err, OSError) else str(err)


def main(argv: list[str] | None = None) -> int:
    # The SIGTERM handler comes first, before any import below: a job stopped while it starts up
    # (torch and plugins take seconds to import) ends as one stopped while it works.
    restore_sigterm = raise_on_sigterm()  # the one place: every mode stops on SIGTERM as on Ctrl-C
    no_semaphores_to_leak()  # nor leaves a warning behind when it is killed
    mode = None
    try:
        p = parser()
        args = p.parse_args(argv)
        mode = mode_of(args)
        return _run(p, args, mode)
    except BrokenPipeError:  # the reader went away (`| head`): stop as a shell tool does, quietly
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what the shell reports for a tool stopped so
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM
        status, what = interrupted(exc)
        print(f"{what}: {LEFT_BEHIND.get(mode, LEFT_BEHIND_DEFAULT)}", file=sys.stderr)
        return status
    finally:
        restore_sigterm()


def _silence_stdout() -> None:
    # Python flushes stdout again at exit, which would fail on the closed pipe and print a warning.
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # a stdout without a file descriptor (redirected in Python)
        pass


def _run(p: argparse.ArgumentParser, args: argparse.Namespace, mode: str) -> int:
    from peftser.registry import UnknownNameError

    try:
        check_mode_options(given_options(p, args), mode, args.backend)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.results is None and not (args.grid or args.compare):  # --compare tells given from absent
        args.results = "results"
    task_files = [os.path.abspath(p) for p in args.task_file + [p for p in args.plugin if os.path.isdir(p)]]
    args.plugin = [p for p in args.plugin if not os.path.isdir(p)]
    if task_files:  # through the environment too, so that worker processes register the same corpora
        from peftser.registry import TASK_FILES_ENV

        os.environ[TASK_FILES_ENV] = os.pathsep.join(filter(None, [os.environ.get(TASK_FILES_ENV, ""), *task_files]))
    if args.plugin:  # through the environment, so that worker processes import them too
        from peftser.registry import PLUGINS_ENV

        if os.getcwd() not in sys.path:  # a plugin next to the user, as `python -m` would find it
            sys.path.insert(0, os.getcwd())
        os.environ[PLUGINS_ENV] = ",".join(filter(None, [os.environ.get(PLUGINS_ENV, ""), *args.plugin]))
    try:
        return MODES[mode](args)
    except BrokenPipeError:
        raise  # not a user error: main() stops quietly
    except (UnknownNameError, ValueError, OSError) as err:
        # User errors (unknown names, bad files or options, paths that cannot be read or written)
        # get one clear line, not a traceback.
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2

if __name__ == "__main__":
    sys.exit(main())
