"""The load generators: ``wrk`` (Debian, closed loop, for saturation) and ``openloop`` (ours, C,
open loop at a fixed rate, for latency), both run as subprocesses and parsed from JSON.

wrk reports through a Lua ``done()`` hook that prints one ``NETGPT_JSON {...}`` line, so nothing
depends on wrk's human-readable output. openloop is compiled from ``openloop.c`` on first use
with the system C compiler into the tools directory.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.common import procs

MARK = "NETGPT_JSON "
SOURCE = Path(__file__).with_name("openloop.c")

_LUA = """-- written by bench/load/loadgen.py: POST the benchmark's tool-calling request
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{headers}wrk.body = [==[{body}]==]

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"mean_us": %.1f, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


def lua_script(body: bytes, headers: tuple[str, ...] = ()) -> str:
    """A wrk script that POSTs ``body`` (embedded in a Lua long bracket) with the extra
    ``"Name: value"`` header lines and reports JSON."""
    text = body.decode()
    if "]==]" in text:
        raise ValueError("the body contains ']==]', which would end the Lua long string")
    lines = ""
    for line in headers:
        name, _, value = line.partition(": ")
        if not name or '"' in line or "\\" in line:
            raise ValueError(f"a header line must be 'Name: value' without quotes: {line!r}")
        lines += f'wrk.headers["{name}"] = "{value}"\n'
    return _LUA.format(body=text, mark=MARK, headers=lines)


def parse_marked(output: str) -> dict[str, Any]:
    """The JSON object on the ``NETGPT_JSON`` line of a wrk run's output."""
    for line in output.splitlines():
        if line.startswith(MARK):
            parsed = orjson.loads(line[len(MARK) :])
            if isinstance(parsed, dict):
                return parsed
    raise ValueError(f"no {MARK.strip()} line in the load generator's output:\n{output[-500:]}")


@dataclass(frozen=True)
class Saturation:
    """A closed-loop run: requests per second with ``connections`` always busy."""

    rps: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    cpu_s: float | None = None  # CPU time the server under test used during the run

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_s is None or not self.requests:
            return None
        return 1e6 * self.cpu_s / self.requests

    @classmethod
    def from_wrk(cls, report: dict[str, Any]) -> Saturation:
        errors = sum(int(report[k]) for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
        seconds = report["duration_us"] / 1e6
        return cls(
            rps=report["requests"] / seconds if seconds > 0 else 0.0,
            requests=int(report["requests"]),
            errors=errors,
            p50_ms=report["p50_us"] / 1e3,
            p99_ms=report["p99_us"] / 1e3,
        )


@dataclass(frozen=True)
class FixedRate:
    """An open-loop run at ``rate`` requests per second; latency counted from when each was due."""

    rate: float
    achieved_rps: float
    completed: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def from_openloop(cls, report: dict[str, Any]) -> FixedRate:
        errors = int(report["errors"]) + int(report["non2xx"]) + int(report["unfinished"]) + int(report["dropped"])
        return cls(
            rate=float(report["rate"]),
            achieved_rps=float(report["achieved_rps"]),
            completed=int(report["completed"]),
            errors=errors,
            p50_ms=float(report["p50_ms"]),
            p90_ms=float(report["p90_ms"]),
            p99_ms=float(report["p99_ms"]),
            max_ms=float(report["max_ms"]),
        )


def run_wrk(url: str, script: Path, seconds: float, connections: int, cpus: str | None) -> Saturation:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk not found: apt-get install -y wrk")
    cmd = procs.pinned(
        [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script), url],
        cpus,
    )
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return Saturation.from_wrk(parse_marked(done.stdout))


def build_openloop(tools_dir: Path) -> Path:
    """Compile openloop.c (once per source version) and return the binary's path."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    binary = tools_dir / f"openloop-{digest}"
    if binary.exists():
        return binary
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler for the open-loop generator: apt-get install -y gcc")
    tools_dir.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_suffix(".tmp")
    subprocess.run([cc, "-O2", "-Wall", "-o", str(tmp), str(SOURCE)], check=True, capture_output=True)
    tmp.replace(binary)
    return binary


def run_openloop(
    binary: Path, port: int, path: str, body_file: Path, rate: float, seconds: float,
    connections: int, warmup_s: float, cpus: str | None, headers: tuple[str, ...] = (),
) -> FixedRate:
    cmd = procs.pinned(
        [str(binary), "127.0.0.1", str(port), path, str(body_file), f"{rate:g}", f"{seconds:g}",
         str(connections), f"{warmup_s:g}", *headers],
        cpus,
    )
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + warmup_s + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openloop failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return FixedRate.from_openloop(orjson.loads(done.stdout))
