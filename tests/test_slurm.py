"""The workflow on a real SLURM cluster through profiles/slurm: a one-node cluster on this
machine (tests/slurm/cluster.py: munged, slurmctld and slurmd, with a fake GPU), the
command the README's cluster section gives plus only the test profile tests/slurm/profile.

Skipped, saying what is missing, where SLURM cannot be installed or started (not root,
no apt-get). The cluster's daemons are stopped by their process ids after the tests,
whatever happened.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import EXPERIMENTS, REPO, SNAKEMAKE_ENV, snakemake_command
from slurm import cluster as slurm_cluster

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

PROFILES = (
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--profile",
    str(REPO / "tests" / "slurm" / "profile"),
)
TIMING = {"seconds", "samples_per_s"}  # the only parts of a training run that may differ


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:  # a dependency: fail
        pytest.fail("snakemake-executor-plugin-slurm is not installed: pip install -e '.[slurm]'")
    reason = slurm_cluster.unusable()
    if reason:
        pytest.skip(f"no SLURM cluster to test on: {reason}")
    # memory for the biggest job (training: 16 GB), also on a smaller machine
    started = slurm_cluster.start(tmp_path_factory.mktemp("slurm-cluster"), min_memory_mb=16000)
    try:
        yield started
    finally:
        slurm_cluster.stop(started)


def slurm_command(workdir: Path, *args: str, configs: tuple[Path, ...] = ()) -> list[str]:
    """The tiny workflow as the conftest runs it locally (--cores 2), through SLURM."""
    return snakemake_command(workdir, *PROFILES, *args, configs=configs)


def slurm_env(cluster) -> dict[str, str]:
    return {**SNAKEMAKE_ENV, **cluster.vars}


def new_log(workdir: Path, before: set[Path]) -> str:
    """The text of the Snakemake log a run wrote into workdir (not in ``before``)."""
    logs = set((workdir / ".snakemake" / "log").glob("*.snakemake.log")) - before
    assert len(logs) == 1, logs
    return logs.pop().read_text()


def slurm_jobs(log: str) -> dict[str, str]:
    """SLURM job id -> its log file, for every job the log says was submitted."""
    found = re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)\.", log)
    return dict(found)


def job_info(cluster, job_id: str) -> dict[str, str]:
    """`scontrol show job` of a job (finished ones stay MinJobAge=600 s): field -> value."""
    out = cluster.run("scontrol", "show", "job", "--details", "--oneliner", job_id)
    return dict(item.split("=", 1) for item in out.split() if "=" in item)


def stop(process: subprocess.Popen) -> None:
    """End a Snakemake run started in a session of its own, if it still runs (after a
    failed assertion): SIGTERM to its process group, so that its jobs (training saves its
    state) and Snakemake (which cancels its SLURM jobs) stop; SIGKILL after 120 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def assert_same_tree(a, b, where: str) -> None:
    """Checkpoint contents equal: tensors bitwise, numbers exactly (nan equals nan),
    timings (TIMING keys) skipped."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a.keys() - TIMING:
            assert_same_tree(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tree(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b, where


def assert_same_file(a: Path, b: Path) -> None:
    if a.suffix == ".pt":
        load = lambda p: torch.load(p, map_location="cpu", weights_only=True)  # noqa: E731
        assert_same_tree(load(a), load(b), str(b))
    elif a.name == "history.csv":
        drop = lambda p: pd.read_csv(p).drop(columns=list(TIMING))  # noqa: E731
        pd.testing.assert_frame_equal(drop(a), drop(b))
    else:
        assert a.read_bytes() == b.read_bytes(), b


def test_workflow_runs_through_slurm_as_locally(cluster, run, tmp_path):
    """The whole tiny workflow through profiles/slurm: every job is a SLURM job (training
    with a GPU), and the results are those of the local run (`run`), bitwise."""
    workdir = tmp_path / "slurm"
    done = subprocess.run(
        slurm_command(workdir), env=slurm_env(cluster), capture_output=True, text=True, timeout=1500
    )
    assert done.returncode == 0, done.stderr[-5000:] + cluster.logs()
    log = new_log(workdir, set())

    # Every job ran inside a SLURM job: the main process ran only the target rule `all`
    # itself, and the SLURM jobs' logs hold every other job the run planned.
    jobs = slurm_jobs(log)
    assert jobs, "no job was submitted to SLURM"
    assert set(re.findall(r"^localrule (\w+):", log, re.M)) == {"all"}
    stats = log.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    planned = Counter({r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", stats, re.M) if r != "total"})
    del planned["all"]
    in_slurm = Counter()
    for path in jobs.values():
        slurm_log = Path(path)
        assert workdir / ".snakemake" / "slurm_logs" in slurm_log.parents
        in_slurm.update(re.findall(r"^localrule (\w+):", slurm_log.read_text(), re.M))
    assert in_slurm == planned

    # SLURM's own record: every job completed; each training job had a GPU allocated.
    info = {job_id: job_info(cluster, job_id) for job_id in jobs}
    assert {i["JobState"] for i in info.values()} == {"COMPLETED"}
    prefix = "rule_train_wildcards_"
    train = {i["Comment"].removeprefix(prefix): i for i in info.values() if i["Comment"].startswith(prefix)}
    assert sorted(train) == EXPERIMENTS
    for exp, i in train.items():
        assert i["JOB_GRES"] == "gpu:1", (exp, i)  # allocated, not only asked for
        assert i["NumCPUs"] == "2", (exp, i)  # threads 8, at most --cores 2
    # the rest in groups, far fewer SLURM jobs than jobs, each with one CPU: the plugin
    # runs a group's jobs one after another
    groups = [i for i in info.values() if not i["Comment"].startswith(prefix)]
    assert len(groups) < sum(planned.values()) / 10
    assert {(i["NumCPUs"], i["JOB_GRES"]) for i in groups} == {("1", "(null)")}

    # The same results as the local run, file by file.
    files = sorted(p.relative_to(workdir) for p in (workdir / "results").rglob("*") if p.is_file())
    assert len(files) > 80
    for rel in files:
        assert_same_file(run / rel, workdir / rel)


def test_cancelled_training_resumes(cluster, run, tmp_path):
    """scancel a training job mid-run: the retry (profiles/slurm: retries 2) resumes from
    its saved state and ends with the weights of a run that was never interrupted."""
    longer = tmp_path / "longer.yaml"  # 5 epochs: after the first, 4 left to cancel in
    longer.write_text("experiments:\n  direct_ce:\n    epochs: 5\n    steps_per_epoch: 16\n    patience: 5\n")
    target, configs = "results/direct_ce/best.pt", (longer,)
    workdir, reference = tmp_path / "slurm", tmp_path / "local"
    for copy in (workdir, reference):  # the local run's data, prepared
        shutil.copytree(run, copy, symlinks=True)
    before = set((workdir / ".snakemake" / "log").glob("*.snakemake.log"))

    outputs = {name: (tmp_path / f"{name}.out").open("w") for name in ("slurm", "local")}
    runs = {  # the uninterrupted local run beside, while the SLURM one mostly waits
        "slurm": subprocess.Popen(
            slurm_command(workdir, target, configs=configs),
            env=slurm_env(cluster),
            stdout=outputs["slurm"],
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, for stop()
        ),
        "local": subprocess.Popen(
            snakemake_command(reference, target, configs=configs),
            env=SNAKEMAKE_ENV,
            stdout=outputs["local"],
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    }
    output = lambda name: (tmp_path / f"{name}.out").read_text()[-5000:]  # noqa: E731
    try:
        # training saved its first epoch: cancel its SLURM job while it trains on
        state = workdir / "results" / "direct_ce" / "resume" / "last.pt"
        deadline = time.monotonic() + 900
        while not state.exists():
            assert runs["slurm"].poll() is None, output("slurm")
            assert time.monotonic() < deadline, "no training state after 900 s"
            time.sleep(0.1)
        running = cluster.run("squeue", "--noheader", "--states=RUNNING", "--format=%i %k").split("\n")
        (job,) = [line.split()[0] for line in running if line.endswith(" rule_train_wildcards_direct_ce")]
        cluster.run("scancel", job)
        returncodes = {name: process.wait(timeout=900) for name, process in runs.items()}
    finally:
        for process in runs.values():
            stop(process)
        for out in outputs.values():
            out.close()
    assert returncodes == {"slurm": 0, "local": 0}, output("slurm") + output("local")

    # SLURM ran the training twice: the cancelled job, then the retry
    log = new_log(workdir, before)
    info = {job_id: job_info(cluster, job_id) for job_id in slurm_jobs(log)}
    states = [(j, i["JobState"]) for j, i in info.items() if i["Comment"] == "rule_train_wildcards_direct_ce"]
    assert len(states) == 2 and states[0] == (job, "CANCELLED") and states[1][1] == "COMPLETED", states
    # which did not start again at epoch 1, step 0
    train_log = (workdir / "logs" / "train" / "direct_ce.log").read_text()
    resumed = re.search(r"resuming from \S+/resume/last\.pt: epoch (\d+), step (\d+)", train_log)
    assert resumed, train_log
    assert (int(resumed[1]), int(resumed[2])) > (1, 0)

    # and ended where the uninterrupted run ended
    assert "resuming" not in (reference / "logs" / "train" / "direct_ce.log").read_text()
    for name in ("best.pt", "last.pt", "history.csv"):
        assert_same_file(reference / "results" / "direct_ce" / name, workdir / "results" / "direct_ce" / name)
