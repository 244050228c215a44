"""A one-node, CPU-only Slurm cluster in a temporary folder, for the Slurm backend's integration test.

Debian's slurm-wlm and munge are installed when absent (this needs root and a reachable apt
mirror; ``install_reason()`` says why not otherwise). ``OneNodeSlurm(folder).start()`` writes a
minimal slurm.conf (no accounting, no GPUs; the node is this host mapped to 127.0.0.1, on free
ports), starts munged, slurmctld and slurmd with pid files in that folder and waits until the node
is idle; ``stop()`` cancels what is left and stops exactly those daemons by their pids. Clients
find the cluster through ``SLURM_CONF`` (``env``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun")
PACKAGES = ("slurm-wlm", "munge")
POLICY_RC = Path("/usr/sbin/policy-rc.d")

SLURM_CONF = """\
ClusterName=peftsertest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/run/munge.socket
SlurmctldPidFile={dir}/run/slurmctld.pid
SlurmdPidFile={dir}/run/slurmd.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.log
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
KillWait=5
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _missing_programs() -> list[str]:
    return [p for p in PROGRAMS if shutil.which(p) is None and not Path("/usr/sbin", p).exists()]


def install_reason() -> str | None:
    """Install slurm-wlm and munge if absent; None when ready, else why the cluster cannot run here."""
    if not _missing_programs():
        return None if os.geteuid() == 0 else "the one-node Slurm cluster runs its daemons as root; not root"
    if os.geteuid() != 0:
        return f"Slurm is not installed ({', '.join(_missing_programs())} missing) and installing it needs root"
    if shutil.which("apt-get") is None:
        return "Slurm is not installed and there is no apt-get to install Debian's slurm-wlm and munge"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    update = subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, env=env, timeout=300)
    if update.returncode != 0 or "Failed to fetch" in update.stderr or "Could not resolve" in update.stderr:
        return f"apt is unreachable (apt-get update: {(update.stderr.strip().splitlines() or ['exit ' + str(update.returncode)])[-1]})"
    # Packages must not start system-wide daemons of their own at install time: a policy-rc.d that
    # exits 101 forbids it, and is removed again if it was ours.
    ours = not POLICY_RC.exists()
    if ours:
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)
    try:
        install = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
            capture_output=True, text=True, env=env, timeout=600,
        )
    finally:
        if ours:
            POLICY_RC.unlink(missing_ok=True)
    if install.returncode != 0:
        return f"apt-get install {' '.join(PACKAGES)} failed: {(install.stderr.strip().splitlines() or ['?'])[-1]}"
    missing = _missing_programs()
    return f"installed {' '.join(PACKAGES)} but {', '.join(missing)} are still missing" if missing else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OneNodeSlurm:
    """munged + slurmctld + slurmd for this host, all state and logs under ``folder``."""

    def __init__(self, folder: Path):
        self.dir = Path(folder)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.dir / "etc" / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._pid_files = [self.dir / "run" / name for name in ("slurmd.pid", "slurmctld.pid", "munged.pid")]

    def start(self, timeout: float = 60.0) -> None:
        """Write the configuration, start the three daemons and wait until the node is idle."""
        for sub in ("etc", "run", "log", "state", "spool", "munge"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        # munged refuses a socket folder that others cannot traverse.
        os.chmod(self.dir, 0o755)
        os.chmod(self.dir / "run", 0o755)
        key = self.dir / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.conf.write_text(SLURM_CONF.format(
            dir=self.dir, host=self.host, ctld_port=_free_port(), slurmd_port=_free_port(),
            cpus=os.cpu_count() or 1, memory_mb=1024,
        ))
        self._run(["munged", "--force", f"--key-file={key}", f"--socket={self.dir}/run/munge.socket",
                   f"--pid-file={self.dir}/run/munged.pid", f"--log-file={self.dir}/log/munged.log",
                   f"--seed-file={self.dir}/munge/munged.seed"])
        self._run(["slurmctld"])
        self._run(["slurmd", "-N", self.host])
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env, timeout=30)
            state = out.stdout.strip() or out.stderr.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the Slurm node did not become idle within {timeout:.0f} s (last sinfo: {state!r}); logs in {self.dir / 'log'}")

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} did not start (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def stop(self) -> None:
        """Cancel every job of this cluster, then stop the daemons this object started, by their pids."""
        if self.conf.exists():
            subprocess.run(["scancel", "--user", "root"], capture_output=True, env=self.env, timeout=30)
        for pid_file in self._pid_files:
            try:
                pid = int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            _stop_pid(pid)


def _stop_pid(pid: int, timeout: float = 15.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
