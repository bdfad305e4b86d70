"""Three fake experts of different speeds behind the running gateway, under concurrent load:
the spread of placements, a dead expert avoided within one scrape interval and used again once
back, no request lost or failed; SLO headers (400s, slo_cloud); the x-netgpt-expert header."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.fakes import FakeUpstream
from tests.conftest import GatewayServer, chat_body
from tests.support.server import ServerThread

pytestmark = pytest.mark.integration

SCRAPE_S = 0.1
# (fixed delay, extra delay per other running request): fast, medium, slow expert
SPEEDS = {"fast": (0.02, 0.01), "mid": (0.08, 0.03), "slow": (0.25, 0.08)}


@pytest.fixture
def experts(tmp_path: Path) -> Iterator[tuple[dict[str, ServerThread], dict[str, FakeUpstream], Path]]:
    fakes = {
        name: FakeUpstream(
            name="edge", model=f"m-{name}", flavor="vllm", record=False,
            behaviour={"delay_s": d, "delay_per_running_s": k},
        )
        for name, (d, k) in SPEEDS.items()
    }
    servers = {name: ServerThread(fake).start() for name, fake in fakes.items()}
    path = tmp_path / "experts.toml"
    path.write_text("".join(
        f'[[expert]]\nname = "{n}"\nbase_url = "{s.url}/v1"\nmodel = "m-{n}"\nflavor = "vllm"\n\n'
        for n, s in servers.items()
    ))
    yield servers, fakes, path
    for server in servers.values():
        server.stop()


def _settings(make_settings: Any, path: Path, policy: str = "impact", **routing: Any) -> Any:
    return make_settings(
        edge={"experts_file": path, "timeout_s": 5.0},
        routing={"placement_policy": policy, **routing},
        experts={"scrape_interval_s": SCRAPE_S, "scrape_timeout_s": 0.5},
        dataset={"enabled": False},
        log_requests=False,
    )


async def _load(url: str, n: int, concurrency: int, **headers: str) -> list[httpx.Response]:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async def one() -> httpx.Response:
            async with sem:
                return await client.post("/v1/chat/completions", json=chat_body(), headers=headers)

        return list(await asyncio.gather(*(one() for _ in range(n))))


@pytest.mark.parametrize("policy", ["impact", "least_loaded"])
async def test_placements_spread_as_the_policy_predicts(experts, make_settings, cloud_fake, policy):
    _, _, path = experts
    with GatewayServer(_settings(make_settings, path, policy)) as gw:
        answers = await _load(gw.url, 120, 8)
        state = httpx.get(gw.url + "/v1/router/state").json()["experts"]
        metrics = httpx.get(gw.url + "/metrics").text
    assert [a.status_code for a in answers] == [200] * 120
    spread = Counter(a.headers["x-netgpt-expert"] for a in answers)
    # faster experts clear their requests sooner: least-loaded sends them more; the impact
    # policy weighs predicted latency (learned online) and the slowdown caused to the others
    assert spread["fast"] > spread["mid"] > spread["slow"], spread
    assert spread["fast"] >= 0.4 * 120, spread
    for name, count in spread.items():
        line = f'netgpt_placements_total{{expert="{name}",policy="{policy}"}} {float(count)}'
        assert line in metrics
    # the latency models learned the ordering of the experts' speeds
    predicted = {
        n: e["latency_model"]["coefficients"]["ttft_s"] + 29 * e["latency_model"]["coefficients"]["tpot_s"]
        for n, e in state["experts"].items()
    }
    observed = {n: e["latency_model"]["observations"] for n, e in state["experts"].items()}
    # each expert's model learned from its calls (at most MAX_OBSERVE_PER_S a second each)
    assert all(n > 0 for n in observed.values()) and sum(observed.values()) <= 120
    assert predicted["fast"] < predicted["slow"], predicted
    assert state["policy"] == policy


async def test_a_dead_expert_is_avoided_within_one_scrape_and_used_again_once_back(
    experts, make_settings, cloud_fake
):
    servers, fakes, path = experts
    # round robin: every expert gets its turn, so avoidance is plain to see
    with GatewayServer(_settings(make_settings, path, "round_robin")) as gw:
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as client:
            async def burst(n: int) -> list[httpx.Response]:
                return list(await asyncio.gather(*(
                    client.post("/v1/chat/completions", json=chat_body()) for _ in range(n)
                )))

            before = await burst(12)
            assert {a.headers["x-netgpt-expert"] for a in before} == set(SPEEDS)
            port = servers["mid"].port
            servers["mid"].stop()
            await asyncio.sleep(1.5 * SCRAPE_S)  # one scrape has seen it gone (plus slack)
            settled = await burst(12)
            assert [a.status_code for a in settled] == [200] * 12
            assert "mid" not in {a.headers.get("x-netgpt-expert") for a in settled}
            assert all(a.headers["x-netgpt-route"] == "edge" for a in settled)  # the others drafted
            servers["mid"] = ServerThread(fakes["mid"], port=port).start()
            await asyncio.sleep(3 * SCRAPE_S)
            after = await burst(12)
            assert "mid" in {a.headers["x-netgpt-expert"] for a in after}
            state = (await client.get("/v1/router/state")).json()["experts"]["experts"]["mid"]["load"]
            assert state["healthy"] and state["failures"] >= 1


async def test_requests_sent_while_the_expert_dies_are_answered_by_another_route(
    experts, make_settings, cloud_fake
):
    servers, _, path = experts
    with GatewayServer(_settings(make_settings, path, "round_robin")) as gw:
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as client:
            await client.post("/v1/chat/completions", json=chat_body())
            servers["fast"].stop()
            answers = await asyncio.gather(*(
                client.post("/v1/chat/completions", json=chat_body()) for _ in range(9)
            ))
    assert [a.status_code for a in answers] == [200] * 9  # none lost: the cloud took the failed ones
    reasons = Counter(a.headers["x-netgpt-reason"] for a in answers)
    assert set(reasons) <= {"score_above_threshold", "edge_unavailable"}
    assert all(a.headers.get("x-netgpt-expert") != "fast" for a in answers)


async def test_no_expert_in_time_but_the_cloud_is_goes_to_the_cloud(experts, make_settings, cloud_fake):
    _, _, path = experts
    # a fast cloud (compute 10 ms on a 50 ms RTT): ~0.06 s against experts predicted at seconds
    settings = _settings(make_settings, path, "impact", cloud_compute_s=0.01)
    with GatewayServer(settings) as gw:
        resp = httpx.post(gw.url + "/v1/chat/completions", json=chat_body(),
                          headers={"x-netgpt-deadline-ms": "150"}, timeout=30)
        relaxed = httpx.post(gw.url + "/v1/chat/completions", json=chat_body(),
                             headers={"x-netgpt-deadline-ms": "60000"}, timeout=30)
        metrics = httpx.get(gw.url + "/metrics").text
    assert resp.status_code == 200
    assert resp.headers["x-netgpt-route"] == "cloud" and resp.headers["x-netgpt-reason"] == "slo_cloud"
    assert "x-netgpt-expert" not in resp.headers
    assert relaxed.headers["x-netgpt-route"] == "edge" and "x-netgpt-expert" in relaxed.headers
    assert 'netgpt_placements_total{expert="cloud",policy="impact"} 1.0' in metrics


@pytest.mark.parametrize("header", ["x-slo-ttft-ms", "x-slo-tpot-ms", "x-netgpt-deadline-ms"])
async def test_a_malformed_slo_header_is_a_400_naming_it(gw, edge_fake, header):
    resp = await gw.http.post("/v1/chat/completions", json=chat_body(), headers={header: "soon"})
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["param"] == header and header in error["message"]
    assert error["type"] == "invalid_request_error"
    assert edge_fake.requests == type(edge_fake.requests)()  # never reached the edge


async def test_one_edge_answers_carry_the_expert_header_and_the_state_lists_it(gw, edge_fake, cloud_fake):
    resp = await gw.http.post("/v1/chat/completions", json=chat_body())
    assert resp.status_code == 200 and resp.headers["x-netgpt-expert"] == "edge"
    forced_cloud = await gw.http.post("/v1/chat/completions", json=chat_body(model="cloud"))
    assert "x-netgpt-expert" not in forced_cloud.headers
    state = (await gw.http.get("/v1/router/state")).json()["experts"]
    assert list(state["experts"]) == ["edge"] and state["policy"] == "impact"
    assert state["experts"]["edge"]["latency_model"]["observations"] == 1
    assert gw.sample("netgpt_placements_total", {"expert": "edge", "policy": "impact"}) == 1
