"""Which command-line options belong to which mode and backend: given to another, an error, not ignored."""

from __future__ import annotations

from typing import Iterable

# The modes each option belongs to (option dest -> modes); given to any other mode it is an error,
# not silently ignored. An option not listed here belongs to every mode.
OPTION_MODES = {
    "data_root": ("manifest", "train", "grid"),
    "task_root": ("manifest", "train"),
    "task_arg": ("manifest", "train", "params"),
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


def check_mode_options(given: Iterable[tuple[str, str]], mode: str, backend: str | None) -> None:
    """A ValueError for an option given to a mode (e.g. --only with --train) or backend it does not
    belong to; ``given`` holds the (dest, flag) of each option on the command line."""
    for dest, flag in given:
        owner = next((b for b, dests in BACKEND_OPTIONS.items() if dest in dests), None)
        if mode == "grid" and owner and owner != backend:
            hint = "; on Slurm each task gets --slurm-gpus-per-task GPUs" if owner == "local" else ""
            raise ValueError(f"{flag} applies to --backend {owner}, not --backend {backend}{hint}")
        modes = OPTION_MODES.get(dest)
        if modes is None or mode in modes:
            continue
        allowed = " and ".join(", ".join(_flag(m) for m in modes).rsplit(", ", 1))
        hint = f"; did you mean {OTHER_NAME[dest, mode]}?" if (dest, mode) in OTHER_NAME else ""
        raise ValueError(f"{flag} applies to {allowed}, not {_flag(mode)}{hint}")


def _flag(mode: str) -> str:
    return "--" + mode.replace("_", "-")
