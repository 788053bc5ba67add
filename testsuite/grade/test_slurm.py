"""scripts/grade_array.sbatch on a real single-node Slurm (munge, slurmctld, slurmd) started here.

The cluster lives in a temporary folder with its own munge key, ports and state, and is stopped
afterwards. Its two array tasks grade the session's examples in 2 shards into one store; to
avoid training the Q5 networks twice more, the store starts with the session run's results for
the two notebooks that train them (solution, partly_wrong): every other input (blank, export zip,
Canvas download, hostile, cheater, broken files) is graded for real by the shards, and the
stored two must be merged, not regraded. ``report`` then must give the one-process grades.csv.
"""

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.common.store import ResultStore
from testsuite.helpers import ROOT, GradedRun

pytestmark = pytest.mark.slow
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo")
Q5_TRAINERS = ("solution.ipynb", "partly_wrong.ipynb")


def unavailable(reason: str) -> None:
    """CI must run this test: there a cluster that does not start is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"single-node Slurm did not start: {reason}")
    pytest.skip(f"single-node Slurm did not start: {reason}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def slurm_conf(folder: Path, socket_path: Path) -> str:
    user = getpass.getuser()
    return f"""
ClusterName=graders
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
AuthInfo=socket={socket_path}
CredType=cred/munge
SlurmUser={user}
SlurmdUser={user}
StateSaveLocation={folder / "state"}
SlurmdSpoolDir={folder / "spool"}
SlurmctldPidFile={folder / "slurmctld.pid"}
SlurmdPidFile={folder / "slurmd.pid"}
SlurmctldLogFile={folder / "slurmctld.log"}
SlurmdLogFile={folder / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=grading Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def start(command: list[str], env: dict[str, str], log: Path) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = log.read_text()[-1500:] if log.is_file() else ""
        unavailable(f"{' '.join(command[:1])} exited {result.returncode}: {result.stderr}{tail}")


def stop(pid_file: Path) -> None:
    """SIGTERM to the daemon named in the pid file; wait up to 10 s for it to go."""
    if not (pid_file.is_file() and pid_file.read_text().strip().isdigit()):
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment (SLURM_CONF) of a running single-node cluster."""
    missing = [name for name in DAEMONS if not shutil.which(name, path="/usr/sbin:/usr/bin")]
    if missing:
        unavailable(f"not installed: {', '.join(missing)} (scripts/system-packages.sh)")
    folder = tmp_path_factory.mktemp("slurm")
    munge = folder / "munge"
    for sub in (munge, folder / "state", folder / "spool"):
        sub.mkdir(mode=0o700)
    (munge / "munge.key").write_bytes(os.urandom(1024))
    (munge / "munge.key").chmod(0o600)
    socket_path = munge / "munge.socket"
    (folder / "slurm.conf").write_text(slurm_conf(folder, socket_path))
    env = os.environ | {"SLURM_CONF": str(folder / "slurm.conf")}
    try:
        start(
            [
                shutil.which("munged", path="/usr/sbin:/usr/bin"),
                "--force",
                f"--key-file={munge / 'munge.key'}",
                f"--socket={socket_path}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
            env,
            munge / "munged.log",
        )
        start([shutil.which("slurmctld", path="/usr/sbin"), "-i"], env, folder / "slurmctld.log")
        start(
            [shutil.which("slurmd", path="/usr/sbin"), "-N", "localhost"],
            env,
            folder / "slurmd.log",
        )
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            info = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True
            )
            state = info.stdout.strip() or info.stderr.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            unavailable(f"the node never became idle (sinfo: {state!r}); logs in {folder}")
        yield env
    finally:
        stop(folder / "slurmd.pid")
        stop(folder / "slurmctld.pid")
        stop(munge / "munged.pid")


def test_sbatch_array_of_two_shards_equals_one_run(
    graded_examples: GradedRun, slurm: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "shared"
    store, done = ResultStore(out), ResultStore(graded_examples.out)
    for name in Q5_TRAINERS:
        store.put(done.get(name))
    downloads = [f"--canvas={path}" for path in graded_examples.downloads]
    inputs = [str(p) for p in graded_examples.input_hashes if p not in graded_examples.downloads]
    inputs = [*downloads, *sorted(inputs)]
    result = subprocess.run(
        [
            "sbatch",
            "--wait",
            "--array=1-2",
            "--cpus-per-task=1",
            f"--output={tmp_path}/task-%a.log",
            str(ROOT / "scripts" / "grade_array.sbatch"),
            str(out),
            *inputs,
        ],
        cwd=ROOT,
        env=slurm | {"GRADER_ROOT": str(ROOT), "GRADER_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    logs = {k: (tmp_path / f"task-{k}.log").read_text() for k in (1, 2)}
    assert result.returncode == 0, f"{result.stdout}{result.stderr}{logs}"
    assert "shard 1/2:" in logs[1] and "shard 2/2:" in logs[2]
    already = sum(int(log.split(" already graded")[0].rsplit(" ", 1)[-1]) for log in logs.values())
    assert already == len(Q5_TRAINERS)  # merged from the store, not graded again
    assert len(store.records()) == len(graded_examples.rows)

    merged = subprocess.run(
        [sys.executable, "-m", "grader", "report", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert merged.returncode == 0, merged.stderr
    assert (out / "grades.csv").read_text() == (graded_examples.out / "grades.csv").read_text()
