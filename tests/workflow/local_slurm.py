"""A real single-node SLURM on localhost for the profile's integration test.

Debian's ``slurm-wlm`` and ``munge`` are installed with apt when absent (needs
root).  ``slurm.conf`` goes to /etc/slurm (``srun`` inside a job finds no
configuration otherwise); an existing one that this module did not write is
never touched.  No accounting daemon: job status comes from ``squeue``, and
MinJobAge keeps finished jobs visible to it.  One fake GPU (``File=/dev/null``)
lets GPU requests (``--gpus=1``) schedule.  The daemons run in the foreground
as children of the test and are stopped by their PIDs.
"""

import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

CONF_DIR = Path("/etc/slurm")
MARKER = "# written by difftn's tests (tests/workflow/local_slurm.py)"
PACKAGES = ("slurm-wlm", "munge")


class SlurmUnavailable(RuntimeError):
    """A local SLURM cannot be set up here (the reason says why)."""


def _installed() -> bool:
    return all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "sbatch", "squeue", "munged"))


def install() -> None:
    """apt-get install slurm-wlm and munge unless present (about 25 s as root)."""
    if _installed():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SlurmUnavailable("slurm-wlm/munge are not installed and apt-get as root is not available")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(cmd)} failed: {run.stderr[-2000:]}")


def _config(workdir: Path, host: str, cpus: int, memory_mb: int) -> str:
    return f"""{MARKER}
ClusterName=difftn-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation={workdir}/state
SlurmdSpoolDir={workdir}/spool
SlurmctldPidFile={workdir}/slurmctld.pid
SlurmdPidFile={workdir}/slurmd.pid
SlurmctldLogFile={workdir}/slurmctld.log
SlurmdLogFile={workdir}/slurmd.log
GresTypes=gpu
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} Gres=gpu:fake:1 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _wait_for(check, what: str, timeout: float, logs=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {p}:\n{Path(p).read_text()[-1500:]}" for p in logs if Path(p).exists())
    raise SlurmUnavailable(f"timed out waiting for {what}\n{tails}")


@contextmanager
def local_slurm(workdir: Path, cpus: int = 2):
    """Run munged, slurmctld and slurmd for the duration of the ``with`` block.

    Yields the partition name.  Raises SlurmUnavailable if it cannot be set up.
    """
    install()
    workdir = Path(workdir)
    conf = CONF_DIR / "slurm.conf"
    if conf.exists() and MARKER not in conf.read_text():
        raise SlurmUnavailable(f"{conf} belongs to a real SLURM installation; not touching it")
    for pattern in ("slurmctld", "slurmd"):
        if subprocess.run(["pgrep", "-x", pattern], capture_output=True).returncode == 0:
            raise SlurmUnavailable(f"a {pattern} is already running on this machine")
    for sub in ("state", "spool"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0]
    memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    CONF_DIR.mkdir(parents=True, exist_ok=True)
    conf.write_text(_config(workdir, host, cpus, memory_mb))
    (CONF_DIR / "gres.conf").write_text(f"{MARKER}\nAutoDetect=off\nNodeName={host} Name=gpu Type=fake File=/dev/null\n")

    daemons = []
    try:
        # munged as user munge with its default socket (/run/munge), reused if already running.
        munge_dir = Path("/run/munge")
        munge_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(munge_dir, "munge", "munge")
        if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode != 0:
            daemons.append(subprocess.Popen(  # setpriv execs munged: the PID is munged's own
                ["setpriv", "--reuid=munge", "--regid=munge", "--init-groups", "munged", "--foreground", "--force"],
                stdout=subprocess.DEVNULL, stderr=open(workdir / "munged.err", "w"),
            ))  # fmt: skip
            credential = lambda: subprocess.run(["munge", "-n"], capture_output=True).returncode == 0  # noqa: E731
            _wait_for(credential, "munged", 30, [workdir / "munged.err"])
        for daemon in ("slurmctld", "slurmd"):
            daemons.append(subprocess.Popen(
                [daemon, "-D"], stdout=subprocess.DEVNULL, stderr=open(workdir / f"{daemon}.err", "w")
            ))  # fmt: skip

        def node_idle():
            run = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
            return run.returncode == 0 and run.stdout.strip() in ("idle", "mix")

        logs = [workdir / name for name in ("slurmctld.log", "slurmd.log", "slurmctld.err", "slurmd.err")]
        _wait_for(node_idle, "the node to become idle", 60, logs)
        yield "debug"
    finally:
        for proc in reversed(daemons):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for name in ("slurm.conf", "gres.conf"):
            path = CONF_DIR / name
            if path.exists() and MARKER in path.read_text():
                path.unlink()
