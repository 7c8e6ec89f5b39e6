"""A throw-away single-node SLURM cluster for the tests: munged, slurmctld and slurmd on
this machine, with their configuration, state, logs and sockets in one folder.

    cluster = start(folder)          # returns once `sinfo` shows the node idle
    subprocess.run(["sbatch", ...], env=cluster.env)   # SLURM_CONF points at it
    stop(cluster)                    # ends the three daemons by their process ids

The node is this machine as `slurmd -C` describes it, plus one fake GPU (a GRES backed by
/dev/null) so that a job asking for ``--gpus=1`` is really scheduled without a GPU. Nothing
else on the machine is used or changed: munged runs on its own socket with its own key (in
a folder under /tmp that the munge user can enter, removed by stop), the daemons listen
on free ports, and there is no accounting database (so Snakemake must query job states
with squeue, see tests/slurm/profile/config.yaml).

Run as root (slurmd starts jobs as their user; munged runs as the ``munge`` user).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sinfo", "scontrol", "srun")
PACKAGES = ("slurm-wlm", "munge")  # Debian/Ubuntu: slurmctld, slurmd, slurm-client, munge


@dataclass
class Cluster:
    folder: Path
    conf: Path
    node: str
    vars: dict[str, str]  # SLURM_CONF and PATH: what a process needs to use this cluster
    env: dict[str, str]  # os.environ with vars: for sbatch, squeue, snakemake ...
    pids: dict[str, int] = field(default_factory=dict)  # daemon name -> process id
    munge_dir: Path | None = None
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    def run(self, *cmd: str, check: bool = True) -> str:
        """A SLURM client command against this cluster; its stdout."""
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30)
        if check and done.returncode:
            raise RuntimeError(f"{' '.join(cmd)}: {done.returncode}\n{done.stderr}")
        return done.stdout

    def logs(self) -> str:
        """The daemons' log tails, for failure messages."""
        parts = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.folder / "log" / name
            if path.exists():
                parts.append(f"--- {path}\n" + "\n".join(path.read_text().splitlines()[-30:]))
        if self.munge_dir and (self.munge_dir / "munged.log").exists():
            parts.append("--- munged.log\n" + (self.munge_dir / "munged.log").read_text()[-2000:])
        return "\n".join(parts)


def missing() -> list[str]:
    """The programs this module needs that are not on PATH (sbin included)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
    return [p for p in (*DAEMONS, *CLIENTS) if shutil.which(p, path=path) is None]


def install() -> str | None:
    """Install SLURM and munge with apt-get if they are missing. Returns None when all
    is there, else why it cannot be (a reason to skip on)."""
    if not missing():
        return None
    if os.geteuid() != 0:
        return f"{', '.join(missing())} missing, and not root to apt-get install {' '.join(PACKAGES)}"
    if shutil.which("apt-get") is None:
        return f"{', '.join(missing())} missing and no apt-get to install {' '.join(PACKAGES)}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:  # maybe a stale package list
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if missing():
        still = ", ".join(missing())
        return f"apt-get install {' '.join(PACKAGES)} did not provide {still}: {done.stderr[-500:]}"
    return None


def unusable() -> str | None:
    """Why a cluster cannot be started here (None: it can): not root, no munge user, or
    programs missing that apt-get could not install."""
    if os.geteuid() != 0:
        return "starting slurmd and munged needs root"
    reason = install()
    if reason:
        return reason
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return "no 'munge' user to run munged as (the munge package creates it)"
    return None


def _sbin(name: str) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
    found = shutil.which(name, path=path)
    assert found, name
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _node_line(gpus: int, min_cpus: int, min_memory_mb: int) -> tuple[str, str, str]:
    """This machine's NodeName line as `slurmd -C` prints it (CPUs, memory), with fake
    GPUs; with at least ``min_cpus`` and ``min_memory_mb`` (declared beyond the hardware
    where it has less, with the SlurmdParameters line that allows it: nothing enforces
    either here)."""
    out = subprocess.run([_sbin("slurmd"), "-C"], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("NodeName="))
    fields = dict(item.split("=", 1) for item in line.split())
    node, extra = fields["NodeName"], ""
    cpus, memory = int(fields["CPUs"]), int(fields["RealMemory"])
    if cpus < min_cpus or memory < min_memory_mb:
        cpus, memory = max(cpus, min_cpus), max(memory, min_memory_mb)
        line = f"NodeName={node} CPUs={cpus} RealMemory={memory}"
        extra = "SlurmdParameters=config_overrides"
    return node, f"{line} Gres=gpu:{gpus} State=UNKNOWN", extra


def write_config(
    folder: Path, munge_socket: Path, gpus: int = 1, min_cpus: int = 2, min_memory_mb: int = 0
) -> tuple[Path, str]:
    """slurm.conf and gres.conf for a one-node cluster in ``folder``."""
    node, node_line, node_extra = _node_line(gpus, min_cpus, min_memory_mb)
    for sub in ("state", "spool", "log", "run"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "plugstack.conf").write_text("")  # none of the system's SPANK plugins
    (folder / "gres.conf").write_text(
        "".join(f"NodeName={node} Name=gpu File=/dev/null\n" for _ in range(gpus))
    )
    conf = folder / "slurm.conf"
    conf.write_text(
        f"""# single-node test cluster written by tests/slurm/cluster.py
ClusterName=octaseg-test
SlurmctldHost={node}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
# a job's processes by process group: linuxproc (by parent) loses a process whose parent
# died, e.g. the batch step's Snakemake after scancel killed its shell, which then outlives
# the job; pgid reaches it (no cgroups needed)
ProctrackType=proctrack/pgid
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
PlugStackConfig={folder}/plugstack.conf
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/run/slurmctld.pid
SlurmdPidFile={folder}/run/slurmd.pid
SlurmctldLogFile={folder}/log/slurmctld.log
SlurmdLogFile={folder}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ReturnToService=2
# finished jobs stay visible to squeue for 10 minutes: Snakemake (without an accounting
# database) learns their end from squeue, and checks at most every 3 minutes
MinJobAge=600
# scancel: SIGTERM, then SIGKILL 10 s later (training saves its state on SIGTERM)
KillWait=10
MailProg=/bin/true
InactiveLimit=0
SlurmdTimeout=60
{node_extra}
{node_line}
PartitionName=test Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""
    )
    return conf, node


def _munge_dir() -> Path:
    """A folder for munged (owned by the munge user, outside pytest's folders,
    which the munge user cannot enter), with a fresh key."""
    user = pwd.getpwnam("munge")
    folder = Path(tempfile.mkdtemp(prefix="octaseg-munge-"))
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    for path in (folder, key):
        os.chown(path, user.pw_uid, user.pw_gid)
    folder.chmod(0o755)  # munged: clients need to reach the socket; the key stays 0400
    return folder


def _wait(what: str, test, cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in cluster._procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited ({proc.returncode}) while waiting for {what}\n{cluster.logs()}"
                )
        if test():
            return
        time.sleep(0.5)
    raise TimeoutError(f"no {what} after {timeout:.0f} s\n{cluster.logs()}")


def start(folder: Path, gpus: int = 1, min_memory_mb: int = 0, timeout: float = 60) -> Cluster:
    """Start munged, slurmctld and slurmd for a one-node cluster configured in ``folder``
    (``gpus`` fake GPUs, at least 2 CPUs and ``min_memory_mb``); return once the node is
    idle. On failure, whatever was started is stopped again."""
    folder = Path(folder).resolve()
    munge_dir = _munge_dir()
    munge_socket = munge_dir / "munge.socket"
    cluster = Cluster(
        folder=folder, conf=folder / "slurm.conf", node="", vars={}, env={}, munge_dir=munge_dir
    )
    try:
        cluster.conf, cluster.node = write_config(folder, munge_socket, gpus, min_memory_mb=min_memory_mb)
        # srun inside a job: snakemake-executor-plugin-slurm-jobstep (0.6.1) runs it with all
        # SLURM_* variables but a few removed, SLURM_CONF too, so that it would look for
        # /etc/slurm/slurm.conf (a real cluster's, left alone here) or ask DNS. A wrapper on
        # PATH puts it back.
        bin_dir = folder / "bin"
        bin_dir.mkdir(exist_ok=True)
        srun = bin_dir / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={cluster.conf} exec {_sbin("srun")} "$@"\n')
        srun.chmod(0o755)
        path = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
        cluster.vars = {"SLURM_CONF": str(cluster.conf), "PATH": path}
        cluster.env = {**os.environ, **cluster.vars}
        commands = {
            "munged": [
                _sbin("munged"),
                "--foreground",
                f"--socket={munge_socket}",
                f"--key-file={munge_dir / 'munge.key'}",
                f"--pid-file={munge_dir / 'munged.pid'}",
                f"--log-file={munge_dir / 'munged.log'}",
                f"--seed-file={munge_dir / 'munged.seed'}",
            ],
            # -D: in the foreground (so that the pid is the daemon's); -i: no saved state
            "slurmctld": [_sbin("slurmctld"), "-D", "-i"],
            "slurmd": [_sbin("slurmd"), "-D"],
        }
        with (folder / "log" / "daemons.out").open("a") as log:
            for name, cmd in commands.items():
                proc = subprocess.Popen(
                    cmd,
                    env=cluster.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    user="munge" if name == "munged" else None,
                    start_new_session=True,  # a Ctrl-C in pytest does not reach them
                )
                cluster._procs[name], cluster.pids[name] = proc, proc.pid
                if name == "munged":
                    _wait("munge socket", munge_socket.exists, cluster, timeout)
                elif name == "slurmctld":
                    _wait("slurmctld answer", lambda: _answers(cluster), cluster, timeout)
        _wait(f"idle node {cluster.node}", lambda: _idle(cluster), cluster, timeout)
    except BaseException:
        stop(cluster)
        raise
    return cluster


def _answers(cluster: Cluster) -> bool:
    done = subprocess.run(["scontrol", "ping"], env=cluster.env, capture_output=True, text=True)
    return " is UP" in done.stdout


def _idle(cluster: Cluster) -> bool:
    done = subprocess.run(
        ["sinfo", "--noheader", "--Node", "--format=%N %t"], env=cluster.env, capture_output=True, text=True
    )
    return f"{cluster.node} idle" in done.stdout


def _active_jobs(cluster: Cluster) -> list[str]:
    done = subprocess.run(
        ["squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING,CONFIGURING", "--format=%i"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.split() if done.returncode == 0 else []


def stop(cluster: Cluster, timeout: float = 30) -> None:
    """Cancel what is still queued, then end the daemons by their process ids (SIGTERM,
    SIGKILL after ``timeout``), slurmd first, munged last, and any process of a job that
    is left; remove munged's folder."""
    if "slurmctld" in cluster._procs and cluster._procs["slurmctld"].poll() is None:
        # jobs run in slurmstepd processes of their own, which outlive slurmd: end them first
        cancel = ["scancel", "--partition=test"]
        subprocess.run(cancel, env=cluster.env, capture_output=True, timeout=30)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _active_jobs(cluster):
            time.sleep(0.5)
    for name in reversed(DAEMONS):
        proc = cluster._procs.get(name)
        if proc is None or proc.poll() is not None:
            continue
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    for pid in _job_processes(cluster):  # none, unless a job's process escaped SLURM
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if cluster.munge_dir is not None:
        shutil.rmtree(cluster.munge_dir, ignore_errors=True)


def _job_processes(cluster: Cluster) -> list[int]:
    """Processes of this cluster's jobs still running: SLURM_JOB_ID and this cluster's
    SLURM_CONF in their environment."""
    ours = f"SLURM_CONF={cluster.conf}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if ours in environ and any(v.startswith(b"SLURM_JOB_ID=") for v in environ):
            found.append(int(proc.name))
    return found
