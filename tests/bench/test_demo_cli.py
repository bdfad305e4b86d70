"""``netgpt demo`` end to end, in a subprocess on synthetic data (no shared data is read):
it shows both routes and exits 0 after --duration, and a SIGINT stops it cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from bench.common.bfcl import DataError
from bench.common.network import synthetic_schedule
from bench.demo import runner
from bench.demo.load import Result, Stats
from bench.demo.runner import Options
from bench.demo.view import DemoInfo, dashboard, status_line, summary
from bench.demo.watch import GatewaySample, GatewayWatch

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _demo(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120")
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "demo", "--synthetic", "--no-live", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _last(pattern: str, text: str) -> int:
    found = re.findall(pattern, text)
    assert found, f"{pattern!r} not in output:\n{text}"
    return int(found[-1])


def test_demo_runs_for_its_duration_and_shows_both_routes() -> None:
    proc = _demo("--duration", "4", "--rate", "12", "--interval", "1")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert "SYNTHETIC" in out
    assert _last(r"edge=(\d+)", out) > 0
    assert _last(r"cloud=(\d+)", out) > 0
    assert _last(r"errors=(\d+)", out) == 0
    assert "NetGPT demo: summary" in out


def test_sigint_stops_everything_cleanly_within_seconds() -> None:
    proc = _demo("--rate", "8", "--interval", "0.5")
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # wait until the load runs
        lines.append(line)
        if line.startswith("t="):
            break
    port = int(re.search(r"gateway http://127.0.0.1:(\d+)", "".join(lines)).group(1))
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    rest, _ = proc.communicate(timeout=15)
    took = time.monotonic() - started
    out = "".join(lines) + rest
    assert proc.returncode in (0, 130), out
    assert took < 8.0, f"took {took:.1f} s to stop"
    assert "Traceback" not in out and "Error" not in out.replace("errors=", ""), out
    assert "NetGPT demo: summary" in out
    with pytest.raises(ConnectionRefusedError):  # the gateway's port is released
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_help_explains_every_option() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in (
        "--data",
        "--synthetic",
        "--trace",
        "--speed",
        "--rate",
        "--arrivals",
        "--concurrency",
        "--duration",
        "--no-live",
        "--port",
        "--budget-share",
    ):
        assert option in out
    assert "replayed" in out


def test_views_render_what_the_demo_measured() -> None:
    stats = Stats()
    stats.add(Result(0.0, "edge", "score_above_threshold", 0.9, 0.6, 200, 0.2, True))
    stats.add(Result(0.0, "cloud", "score_below_threshold", 0.3, 0.6, 200, 1.5, False))
    stats.add(Result(0.0, "cloud", "schema_invalid", 0.0, 0.6, 200, 1.4, True))
    schedule = synthetic_schedule()
    watch = GatewayWatch("http://127.0.0.1:1", schedule)
    watch.history.append(
        GatewaySample(0.0, 5.0, 0.04, 2e7, 0.05, 1.5e7, False, 0.9, 0.61, 0.25, 0.05, 0.0, 0.0123)
    )
    info = DemoInfo(
        "http://127.0.0.1:1",
        "edge-m",
        "cloud-m",
        schedule.name,
        10.0,
        "synthetic note",
        True,
        0.8,
        4.0,
        "poisson",
    )
    console = Console(record=True, width=110, color_system=None)
    console.print(dashboard(info, stats, watch, width=110))
    console.print(summary(info, stats, watch))
    text = console.export_text()
    assert "SYNTHETIC DATA" in text and "τ now 0.61" in text
    assert "50 ms" in text and "15.0 MB/s" in text and "$0.0123" in text
    assert "67%" in text  # accuracy: two of three right
    line = status_line(stats, watch)
    assert "edge=1" in line and "cloud=2" in line and "tau=0.61" in line


def _options(**overrides: object) -> Options:
    base = {
        "data": None,
        "synthetic": False,
        "trace": "ucc_5g",
        "speed": 10.0,
        "rate": 4.0,
        "arrivals": "poisson",
        "concurrency": 8,
        "duration": 1.0,
        "live": False,
        "interval": 1.0,
        "edge_model": "m",
        "cloud_model": "c",
        "auc": 0.8,
        "lambda_latency": 0.25,
        "budget_share": None,
        "port": 0,
        "seed": 1,
        "run_dir": None,
    }
    base.update(overrides)
    return Options(**base)  # type: ignore[arg-type]


def test_without_the_data_directory_the_demo_falls_back_to_synthetic_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "default_data_dir", lambda: tmp_path / "missing")
    inputs = runner.load_inputs(_options())
    assert inputs.synthetic and inputs.data is None
    assert "No data directory" in inputs.note and "SYNTHETIC" in inputs.note
    assert len(inputs.replays) > 100 and inputs.schedule.name.startswith("a synthetic")


def test_a_wrong_data_option_is_an_error_that_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="pass --data DIR"):
        runner.load_inputs(_options(data=tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo", "--data", str(tmp_path), "--no-live"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "pass --data DIR" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
