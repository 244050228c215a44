"""Slurm options, without Slurm: stand-in sbatch scripts."""

from __future__ import annotations

import io
import os
import time

import pytest

pytest.importorskip("submitit")

from grid_runners import RUNNER, toy_grid  # noqa: E402
from peftser import cli  # noqa: E402
from peftser.benchmark.run.slurm import SlurmBackend, SlurmError, SlurmOptions  # noqa: E402
from peftser.benchmark.store import ResultStore  # noqa: E402

GRES = "sbatch: error: Batch job submission failed: Invalid generic resource (gres) specification"


def stand_ins(tmp_path, monkeypatch, sbatch: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program, script in (("srun", "exit 0"), ("squeue", "exit 0"), ("sbatch", sbatch)):
        (bin_dir / program).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / program).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize("gres", [GRES, "sbatch: error: Invalid generic resource (gres) specification"])
def test_an_invalid_gres_says_how_to_ask_for_cpu_nodes(tmp_path, monkeypatch, gres):
    gpus = 1  # a task never asks for more: a cell trains on one GPU
    stand_ins(tmp_path, monkeypatch, f"echo '{gres}' >&2\nexit 1")
    runner = SlurmBackend(ResultStore(tmp_path / "results"), SlurmOptions(gpus_per_task=gpus, time_min=20),
                          runner=RUNNER, name="peftser-toy", stream=io.StringIO())
    with pytest.raises(SlurmError) as err:
        runner.submit(toy_grid(2).cells(), submitted_at=time.time())
    message = str(err.value)
    assert message.startswith(f"sbatch refused the array: {gres} (asked for {gpus} GPU(s) per task;")
    assert "--slurm-gpus-per-task 0" in message and "\n" not in message


def test_another_refusal_gets_no_gpu_hint(tmp_path, monkeypatch):
    stand_ins(tmp_path, monkeypatch, "echo 'sbatch: error: Invalid account or account/partition combination specified' >&2\nexit 1")
    runner = SlurmBackend(ResultStore(tmp_path / "results"), SlurmOptions(gpus_per_task=1, time_min=20), runner=RUNNER, stream=io.StringIO())
    with pytest.raises(SlurmError) as err:
        runner.submit(toy_grid(1).cells(), submitted_at=time.time())
    assert "--slurm-gpus-per-task" not in str(err.value)


@pytest.mark.parametrize("pair, value", [
    ("time-min=0:30", "0:30"), ("begin=now+1hour", "now+1hour"), ("comment=1_000", "1_000"), ("nice=0x10", "0x10"),
    ("qos=off", "off"), ("constraint=~", "~"), ("mail-type=NONE", "NONE"), ("exclusive=yes", "yes"), ("wckey=1e3", "1e3"),
])
def test_slurm_extra_values_reach_sbatch_as_typed(pair, value):
    args = cli.parser().parse_args(["--grid", "demo", "--backend", "slurm", "--slurm-extra", pair])
    assert cli.backend(args).extra == {pair.split("=")[0]: value}


@pytest.mark.parametrize("argv", [
    ["--slurm-time", "0"], ["--slurm-mem", ""], ["--slurm-partition", ""], ["--slurm-gpus-per-task", "0"],
    ["--slurm-array-parallelism", "-1"], ["--slurm-extra", "a=", "b=false"],
])
def test_falsy_slurm_options_with_the_local_backend_are_refused(argv, capsys):
    assert cli.main(["--grid", "demo", *argv]) == 2
    assert capsys.readouterr().err.startswith(f"error: {argv[0]} applies to --backend slurm, not --backend local")
