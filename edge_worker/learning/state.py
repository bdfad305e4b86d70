"""Resumable steps: each writes its artefacts and then one entry in ``DIR/state.json``.

A rerun skips every step whose entry is there (and whose artefacts still exist), so an
interrupted loop picks up where it stopped. An entry holds what later steps need (paths,
figures), never anything they could not recompute from the artefacts.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge_worker.server_process import die_with_parent

STATE_FILE = "state.json"


class StepFailed(RuntimeError):
    """A step of the loop failed; the message says which and where its log is."""


class State:
    def __init__(self, out: Path) -> None:
        self.path = out / STATE_FILE
        self.data: dict[str, Any] = {"steps": {}}
        if self.path.exists():
            self.data = json.loads(self.path.read_text(encoding="utf-8"))

    def done(self, step: str) -> dict[str, Any] | None:
        entry = self.data["steps"].get(step)
        if entry is None:
            return None
        missing = [p for p in entry.get("artefacts", []) if not Path(p).exists()]
        return None if missing else dict(entry)

    def record(self, step: str, entry: dict[str, Any]) -> dict[str, Any]:
        self.data["steps"][step] = {**entry, "finished_at": time.time()}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.path)
        return dict(self.data["steps"][step])

    def run(self, step: str, work: Callable[[], dict[str, Any]], say: Callable[[str], None]) -> dict[str, Any]:
        entry = self.done(step)
        if entry is not None:
            say(f"[dim]{step}: done earlier, skipped[/]")
            return entry
        started = time.monotonic()
        result = work()
        result.setdefault("seconds", round(time.monotonic() - started, 1))
        return self.record(step, result)


def run_measured(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` (output to ``log``; a terminal still sees the progress bars on stderr when
    attached); returns wall seconds and the child's peak resident memory."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("ab") as handle:
        proc = subprocess.Popen(list(cmd), stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, preexec_fn=die_with_parent)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise StepFailed(f"{' '.join(cmd[2:5])} failed (exit {proc.returncode}); {log}:\n{tail}")
    # ru_maxrss is in KiB on Linux
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def netgpt(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway.cli", *args]


def self_peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
