"""A task's request is checked against the partition's nodes (sinfo) before anything is submitted:
a request no node can meet would pend forever (reason PartitionConfig)."""

from __future__ import annotations

import os

import pytest

from peftser.benchmark.run.slurm import SlurmError, SlurmOptions
from peftser.benchmark.run.slurm.queue import check_fits, parse_nodes, read_nodes

SINFO = "main*|2|1024|infinite\ngpu|4|2048|12:00:00\nlong|4|2048|2-00:00:00\nmixed|8+|4096|1:00:00\n"


def test_sinfo_lines_give_each_node_configuration():
    # "8+" (nodes that differ) tells no maximum; "infinite" is no time limit
    assert parse_nodes(SINFO) == [(2, 1024, None), (4, 2048, 720), (4, 2048, 2880)]


@pytest.mark.parametrize("options, message", [
    (SlurmOptions(partition="main", time_min=20), "--slurm-cpus-per-task 8: no node of partition main has more than 2 CPUs, "
                                                  "so no task could ever start; use --slurm-cpus-per-task 2 or less (sinfo)"),
    (SlurmOptions(cpus_per_task=1, mem="2G", time_min=20), "--slurm-mem 2G: no node of the default partition has more than "
                                                           "1024 MB of memory, so no task could ever start; use --slurm-mem 1024M or less"),
])
def test_a_request_no_node_meets_names_the_option_to_change(options, message):
    with pytest.raises(SlurmError) as err:
        check_fits(options, [(2, 1024, None)])
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_the_default_24_hours_on_a_12_hour_partition_names_slurm_time():
    with pytest.raises(SlurmError, match=r"^--slurm-time 1440 min: partition gpu allows at most 720 min, so no task "
                                         r"could ever start; use --slurm-time 720 or less \(sinfo\)$"):
        check_fits(SlurmOptions(partition="gpu", cpus_per_task=4), [(4, 2048, 720)])


def test_a_request_some_node_meets_or_an_unknown_partition_passes():
    check_fits(SlurmOptions(cpus_per_task=2, mem="1024M", time_min=20), [(2, 1024, None)])
    check_fits(SlurmOptions(cpus_per_task=4, mem="2000", time_min=20), [(2, 1024, 10), (4, 2048, 30)])
    check_fits(SlurmOptions(cpus_per_task=4), [(4, 2048, 720), (4, 2048, None)])  # one partition line without a limit
    check_fits(SlurmOptions(time_min=20), [])  # sinfo told nothing: sbatch and squeue will


def test_read_nodes_asks_sinfo_for_the_partition_or_the_default(tmp_path, monkeypatch):
    sinfo = tmp_path / "sinfo"
    sinfo.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\nprintf "main*|2|1024|infinite\\ngpu|4|2048|1:00:00\\n"\n')
    sinfo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert read_nodes(None) == [(2, 1024, None)]  # the line marked default
    assert "--partition" not in (tmp_path / "args").read_text()
    assert read_nodes("gpu") == [(2, 1024, None), (4, 2048, 60)]  # sinfo itself filters by --partition
    assert "--partition=gpu" in (tmp_path / "args").read_text()
    sinfo.write_text("#!/bin/sh\necho 'sinfo: error: Could not establish a configuration source' >&2\nexit 1\n")
    assert read_nodes("gpu") == []
