"""Which command-line options belong to which mode and backend: given to another, an error, not ignored."""

from __future__ import annotations

import argparse

# The modes each option belongs to (argparse dest -> modes); given to any other mode it is an error,
# not silently ignored. An option not listed here belongs to every mode.
OPTION_MODES = {
    "data_root": ("manifest", "train", "grid"),
    "task_root": ("manifest", "train"),
    "task_arg": ("manifest", "train"),
    "strict": ("manifest", "train", "grid"),
    "out": ("manifest",),
    "results": ("train", "grid", "leaderboard", "compare", "cards"),
    "baseline": ("leaderboard",),
    "backend": ("grid",),
    "slurm_partition": ("grid",),
    "slurm_gpus_per_task": ("grid",),
    "slurm_cpus_per_task": ("grid",),
    "slurm_time": ("grid",),
    "slurm_array_parallelism": ("grid",),
    "slurm_mem": ("grid",),
    "slurm_extra": ("grid",),
    "no_wait": ("grid",),
    "only": ("grid", "params"),
    "devices": ("grid",),
    "jobs_per_device": ("grid",),
    "retry_failed": ("grid",),
    "evaluate_only": ("grid",),
    "no_evaluate": ("grid",),
    "device": ("train", "predict", "bench"),
    "precision": ("train", "grid", "bench"),
    "checkpoint_dir": ("train", "predict", "grid", "export"),
    "no_verify": ("predict", "export"),
    "to": ("export",),
    "format": ("export",),
    "epochs": ("train", "grid"),
    "batch": ("bench",),
    "seconds": ("bench",),
    "steps": ("bench",),
    "json": ("list", "params", "bench", "compare"),
}
OTHER_NAME = {("device", "grid"): "--devices", ("devices", "train"): "--device", ("devices", "predict"): "--device",
              ("devices", "bench"): "--device"}  # the near namesake a user probably meant


# Options of one --backend: given with the other one they are an error too, whatever their value.
BACKEND_OPTIONS = {
    "slurm": ("slurm_partition", "slurm_gpus_per_task", "slurm_cpus_per_task", "slurm_time", "slurm_array_parallelism", "slurm_mem", "slurm_extra", "no_wait"),
    "local": ("devices", "jobs_per_device"),
}


def _given(args: argparse.Namespace, action: argparse.Action) -> bool:
    # ``is``/type-aware: 0 and False are values a user gave, not the None default
    value = getattr(args, action.dest)
    return not (value is action.default or (type(value) is type(action.default) and value == action.default))


def check_mode_options(p: argparse.ArgumentParser, args: argparse.Namespace, mode: str) -> None:
    """A ValueError for an option given to a mode (e.g. --only with --train) or backend it does not belong to."""
    for action in p._actions:  # argparse keeps no public list of an option's dest and flag
        backend = next((b for b, dests in BACKEND_OPTIONS.items() if action.dest in dests), None)
        if mode == "grid" and backend and backend != args.backend and _given(args, action):
            hint = "; on Slurm each task gets --slurm-gpus-per-task GPUs" if backend == "local" else ""
            raise ValueError(f"{action.option_strings[0]} applies to --backend {backend}, not --backend {args.backend}{hint}")
        modes = OPTION_MODES.get(action.dest)
        if modes is None or mode in modes or not _given(args, action):
            continue
        flag = _flag(mode)
        allowed = " and ".join(", ".join(_flag(m) for m in modes).rsplit(", ", 1))
        hint = f"; did you mean {OTHER_NAME[action.dest, mode]}?" if (action.dest, mode) in OTHER_NAME else ""
        raise ValueError(f"{action.option_strings[0]} applies to {allowed}, not {flag}{hint}")


def _flag(mode: str) -> str:
    return "--" + mode.replace("_", "-")
