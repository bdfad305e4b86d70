"""A training step's child dies with the command that started it, however that command dies
(a CI timeout's SIGKILL left a `netgpt train` running before)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PARENT = """
import sys
from pathlib import Path
from edge_worker.learning.state import run_measured
run_measured([sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(120)"],
             Path(sys.argv[1]))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose: it holds no CPU or memory
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


def test_the_step_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(log)])
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        child = int(log.read_text().split()[0])
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()
