"""The probes against a real shaped network: a namespace joined to this one by a veth pair.

    this namespace (test, NetworkMonitor)  10.R.S.1 ──veth── 10.R.S.2  cloud namespace
                                                                        │ tc tbf (rate limit,
                                                                        │   cloud → gateway)
                                                                        delay proxy (one-way
                                                                          delay per direction)
                                                                        ├─ FakeUpstream (cloud)
                                                                        └─ static file server

The kernel has no netem, so the delay comes from an application-level proxy and the rate from
``tbf``. The probes' estimates must track the set RTT within 15% and the set rate within 25%;
when the RTT rises or the rate falls, τ falls and so does the cloud share of a fixed mix.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from gateway.config import Settings
from gateway.network import NetworkMonitor
from gateway.policy.inputs import LiveInputs
from gateway.routing.decision import decide

pytestmark = [pytest.mark.netns, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[3]
FAKE_PORT, BLOB_PORT = 9000, 9001
PROXY_FAKE, PROXY_BLOB = 8080, 8081
BLOB_BYTES = 512 * 1024
PASSIVE_BYTES = 256 * 1024


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    subprocess.run(cmd, check=True, capture_output=True, timeout=10)


def _netns_unavailable() -> str | None:
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "the ip and tc commands are not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (run CI's test job as root)"
    name = f"ngprobe{os.getpid()}"
    done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if done.returncode != 0:
        return f"`ip netns add` failed: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


@dataclass
class Link:
    ns: str
    cloud_ip: str
    veth_cloud: str
    delay_file: Path

    def set_delay_ms(self, one_way_ms: float) -> None:
        self.delay_file.write_text(str(one_way_ms))

    def set_rate(self, rate: str, *, change: bool = True) -> None:
        # a small queue (latency) and burst keep the shaped rate close to `rate` from the start
        verb = "change" if change else "add"
        _ip(
            "tc",
            "qdisc",
            verb,
            "dev",
            self.veth_cloud,
            "root",
            "tbf",
            "rate",
            rate,
            "burst",
            "16kb",
            "latency",
            "30ms",
            ns=self.ns,
        )

    def url(self, port: int) -> str:
        return f"http://{self.cloud_ip}:{port}"


@pytest.fixture
def link(tmp_path: Path) -> Iterator[Link]:
    reason = _netns_unavailable()
    if reason is not None:
        pytest.skip(f"network namespaces cannot be created here: {reason}")
    pid = os.getpid() % 100000
    ns = f"ngcloud{pid}"
    host_if, cloud_if = f"ngh{pid}", f"ngc{pid}"
    subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        _ip("ip", "netns", "add", ns)
        _ip("ip", "link", "add", host_if, "type", "veth", "peer", "name", cloud_if)
        _ip("ip", "link", "set", cloud_if, "netns", ns)
        _ip("ip", "addr", "add", f"{subnet}.1/30", "dev", host_if)
        _ip("ip", "link", "set", host_if, "up")
        _ip("ip", "addr", "add", f"{subnet}.2/30", "dev", cloud_if, ns=ns)
        _ip("ip", "link", "set", cloud_if, "up", ns=ns)
        _ip("ip", "link", "set", "lo", "up", ns=ns)
        link = Link(ns, f"{subnet}.2", cloud_if, tmp_path / "delay_ms")
        link.set_delay_ms(25)
        link.set_rate("20mbit", change=False)
        blob_dir = tmp_path / "blob"
        blob_dir.mkdir()
        (blob_dir / "blob.bin").write_bytes(os.urandom(BLOB_BYTES))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        commands = [
            [
                sys.executable,
                "-m",
                "bench.fakes",
                "--host",
                "127.0.0.1",
                "--port",
                str(FAKE_PORT),
                "--name",
                "cloud",
                "--model",
                "cloud-large",
                "--no-record",
            ],
            [
                sys.executable,
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "--directory",
                str(blob_dir),
                str(BLOB_PORT),
            ],
            [
                sys.executable,
                "-m",
                "tests.gateway.network.delay_proxy",
                "--listen",
                link.cloud_ip,
                "--map",
                f"{PROXY_FAKE}:127.0.0.1:{FAKE_PORT}",
                "--map",
                f"{PROXY_BLOB}:127.0.0.1:{BLOB_PORT}",
                "--delay-ms",
                "25",
                "--delay-file",
                str(link.delay_file),
            ],
        ]
        for cmd in commands:
            procs.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", ns, *cmd],
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        yield link
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


async def _wait_ready(urls: list[str], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        for url in urls:
            while True:
                try:
                    async with session.get(url) as response:
                        await response.read()
                        break
                except aiohttp.ClientError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{url} did not come up in the namespace") from None
                    await asyncio.sleep(0.1)


async def _wait_samples(
    monitor: NetworkMonitor, kind: str, more: int, timeout_s: float = 15.0
) -> None:
    est = monitor.estimators["cloud"]
    signal = est.rtt if kind == "rtt" else est.bandwidth
    goal = signal.samples + more
    deadline = time.monotonic() + timeout_s
    while signal.samples < goal:
        assert time.monotonic() < deadline, f"no new {kind} samples from the probes"
        await asyncio.sleep(0.05)


async def _passive_sample(url: str) -> tuple[int, float]:
    """One real chat completion through the shaped link, timed as the service times it."""
    body = {"model": "cloud-large", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        async with session.post(url + "/v1/chat/completions", json=body) as response:
            first = time.perf_counter()
            data = await response.read()
        end = time.perf_counter()
    assert first - start > 0
    return len(data), end - first


def _cloud_share(policy: LiveInputs, monitor: NetworkMonitor) -> tuple[float, float]:
    """τ for the reference request and the cloud share of a fixed mix under the live state."""
    state = monitor.snapshot()
    mix = random.Random(7)
    cloud = 0
    requests = 2000
    for i in range(requests):
        tau = policy.threshold_for(mix.randint(1000, 4000), state=state, now=0.0).tau
        score = (i + 0.5) / requests
        cloud += decide(score=score, tau=tau, schema_valid=True).route == "cloud"
    return policy.threshold_for(2000, state=state, now=0.0).tau, cloud / requests


def _within(value: float, expected: float, tolerance: float) -> bool:
    return abs(value - expected) <= tolerance * expected


async def test_probes_track_shaped_link_and_tau_follows(link: Link, edge_server) -> None:
    await _wait_ready([link.url(PROXY_FAKE) + "/v1/models", link.url(PROXY_BLOB) + "/blob.bin"])
    settings = Settings(
        cloud={"base_url": link.url(PROXY_FAKE) + "/v1", "model": "cloud-large"},
        edge={"base_url": edge_server[1].url + "/v1"},
        network={
            "probe_interval_s": 0.15,
            "probe_jitter": 0.2,
            "stale_after_s": 5.0,
            "bandwidth_probe_url": link.url(PROXY_BLOB) + "/blob.bin",
            "bandwidth_probe_interval_s": 3600,  # one probe at start; the test drives the rest
            "min_transfer_bytes": 4096,
        },
        # make the latency term weigh enough that a 100 ms change moves τ visibly
        routing={"lambda_latency": 1.0, "expected_response_bytes": 200_000, "cloud_compute_s": 0.1},
    )
    monitor = NetworkMonitor(settings)
    policy = LiveInputs(settings, monitor)
    await monitor.start()
    try:
        # ---- baseline: RTT 50 ms (25 ms each way), 20 Mbit/s --------------------------------
        await _wait_samples(monitor, "bandwidth", 1)
        await monitor.probe_bandwidth_once()
        await _wait_samples(monitor, "rtt", 5)
        base = monitor.snapshot().cloud
        print(
            f"\nset RTT 50 ms, rate 2.50 MB/s -> RTT {base.rtt_s * 1e3:.1f} ms, "
            f"bandwidth {base.bandwidth_bytes_per_s / 1e6:.2f} MB/s"
        )
        assert not base.stale
        assert _within(base.rtt_s, 0.050, 0.15), base
        assert _within(base.bandwidth_bytes_per_s, 2.5e6, 0.25), base

        # passive: a real response, bytes over (total - time to first byte)
        nbytes, transfer_s = await _passive_config_and_sample(link.url(PROXY_FAKE))
        print(
            f"passive sample: {nbytes} B in {transfer_s * 1e3:.0f} ms = "
            f"{nbytes / transfer_s / 1e6:.2f} MB/s"
        )
        assert _within(nbytes / transfer_s, 2.5e6, 0.25)
        monitor.observe_transfer("cloud", nbytes, transfer_s)
        tau_base, share_base = _cloud_share(policy, monitor)
        state_base = monitor.state()["cloud"]

        # ---- RTT rises to 150 ms ---------------------------------------------------------------
        link.set_delay_ms(75)
        await asyncio.sleep(0.1)
        await _wait_samples(monitor, "rtt", 6)
        slow = monitor.snapshot().cloud
        print(f"set RTT 150 ms -> RTT {slow.rtt_s * 1e3:.1f} ms")
        assert _within(slow.rtt_s, 0.150, 0.15), slow
        tau_rtt, share_rtt = _cloud_share(policy, monitor)
        assert tau_rtt < tau_base
        assert share_rtt < share_base
        assert monitor.state()["cloud"]["rtt_s"] != state_base["rtt_s"]

        # ---- bandwidth falls to 8 Mbit/s -------------------------------------------------------
        link.set_rate("8mbit")
        for _ in range(4):
            await monitor.probe_bandwidth_once()
        narrow = monitor.snapshot().cloud
        print(f"set rate 1.00 MB/s -> bandwidth {narrow.bandwidth_bytes_per_s / 1e6:.2f} MB/s")
        assert _within(narrow.bandwidth_bytes_per_s, 1.0e6, 0.25), narrow
        tau_bw, share_bw = _cloud_share(policy, monitor)
        print(
            f"tau {tau_base:.3f} -> {tau_rtt:.3f} -> {tau_bw:.3f}; "
            f"cloud share {share_base:.3f} -> {share_rtt:.3f} -> {share_bw:.3f}"
        )
        assert tau_bw < tau_rtt
        assert share_bw < share_rtt
    finally:
        await monitor.stop()


async def _passive_config_and_sample(url: str) -> tuple[int, float]:
    text = "x" * PASSIVE_BYTES
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url + "/_fake/config", json={"cloud": {"mode": "text", "text": text}}
        ) as response:
            assert response.status == 200, await response.text()
    return await _passive_sample(url)
