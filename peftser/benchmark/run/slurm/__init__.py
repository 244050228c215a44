"""The Slurm backend: a grid's cells without a record become one submitit job array.

``python run_benchmark.py --grid NAME --backend slurm [--slurm-partition P] [--slurm-gpus-per-task N]
[--slurm-time T] [--slurm-array-parallelism N] [--slurm-mem M] [--slurm-extra KEY=VALUE ...] [--no-wait]``.
Each array task trains one cell through the same runner path as a local worker (``call_runner``,
``outcome_record``, ``save_outcome``), holding the cell's claim, and writes its record into the
shared results directory. The orchestrator follows the run in the result store itself (a record
means done or failed, a held claim means running), so it needs no Slurm accounting: submitit asks
``sacct`` for job states, and without slurmdbd its ``result()`` waits forever on a task that was
killed before it wrote anything. Only ``squeue`` is asked, for which tasks are still queued.

Added under the results directory::

    slurm/jobs/<job id>.json   the cell each submitted task runs (the submission ledger)
    slurm/logs/                submitit's folder: the sbatch script, one pickled task per cell, and
                               each task's output, <array id>_<task>_0_log.out and .err

Resuming, as locally: a cell with a record is never submitted again (a failed one only with
``--retry-failed``); nor is a cell whose claim is held (a task or a local orchestrator is training
it) or whose task is still queued, running or requeued; a cell whose task ended without a record
(preempted and not requeued, over its time limit, out of memory, cancelled) is submitted by the
next run. Arrays longer than the cluster's MaxArraySize are split; ``--slurm-array-parallelism``
caps each array, not their sum.

What the shared filesystem must provide (NFS, Lustre, GPFS, BeeGFS):

- One path for the results directory on every node, and the same Python environment.
- Atomic renames within a folder: every record is written to a temporary file beside it and
  renamed into place, so a reader on any node sees the old file or the whole new one.
- ``flock`` locks that hold across nodes, for the claims (``filelock.FileLock``). Linux NFS clients
  turn ``flock`` into POSIX locks that the server arbitrates (NFSv4, or NFSv3 with lockd), unless
  the share is mounted ``nolock`` or ``local_lock=flock|all``; Lustre needs the ``flock`` mount
  option (``localflock`` locks only within a node). The lock is released by the kernel when its
  holder dies. Where locks are node-local, a cell could train twice only if two orchestrators
  submit it at the same moment; each task re-reads the record under its claim before training, and
  the last complete record wins.
- NFS caches file attributes for up to a minute, so a record may reach the orchestrator late; a
  task that left the queue without a visible record is called lost only after ``LOST_GRACE_SECONDS``.
"""

from peftser.benchmark.run.slurm.backend import LOGS_DIR, SlurmBackend
from peftser.benchmark.run.slurm.ledger import JOBS_DIR, Ledger
from peftser.benchmark.run.slurm.options import DEFAULT_TIME, SlurmError, SlurmOptions, parse_time
from peftser.benchmark.run.slurm.queue import SlurmQueue, chunked, parse_max_array_size, read_max_array_size
from peftser.benchmark.run.slurm.task import CellTask, run_task

__all__ = [
    "CellTask", "DEFAULT_TIME", "JOBS_DIR", "LOGS_DIR", "Ledger", "SlurmBackend", "SlurmError", "SlurmOptions",
    "SlurmQueue", "chunked", "parse_max_array_size", "parse_time", "read_max_array_size", "run_task",
]
