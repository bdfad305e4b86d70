"""``netgpt edge load-adapter``: vLLM's runtime LoRA endpoints, then the gateway switch.

The fake vLLM implements ``/v1/load_lora_adapter`` and ``/v1/unload_lora_adapter`` as vLLM does;
the gateway runs under uvicorn; the command talks to both over loopback.
"""

from __future__ import annotations

import json

import httpx
import pytest

from gateway.cli import main
from tests.conftest import chat_body

pytestmark = pytest.mark.integration


@pytest.fixture
def adapter_dir(tmp_path):
    # what `netgpt train` writes; the fake, like vLLM, only needs the adapter config to exist
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    return out


def test_fake_vllm_lora_endpoints_behave_like_vllm(edge_fake, edge_server, adapter_dir):
    base = edge_server[1].url + "/v1"
    edge_fake.adapters.clear()
    ok = httpx.post(base + "/load_lora_adapter", json={"lora_name": "a1", "lora_path": str(adapter_dir)})
    assert ok.status_code == 200 and ok.text == "Success: LoRA adapter 'a1' added successfully."
    again = httpx.post(base + "/load_lora_adapter", json={"lora_name": "a1", "lora_path": str(adapter_dir)})
    assert again.status_code == 400 and "already been loaded" in again.json()["error"]["message"]
    missing = httpx.post(base + "/load_lora_adapter", json={"lora_name": "a2"})
    assert missing.status_code == 400
    listed = {m["id"]: m for m in httpx.get(base + "/models").json()["data"]}
    assert listed["a1"]["root"] == str(adapter_dir) and listed["a1"]["parent"] == edge_fake.model
    gone = httpx.post(base + "/unload_lora_adapter", json={"lora_name": "a1"})
    assert gone.status_code == 200 and "removed successfully" in gone.text
    assert httpx.post(base + "/unload_lora_adapter", json={"lora_name": "a1"}).status_code == 404


def test_load_adapter_switches_the_gateway_and_refits(
    edge_fake, cloud_fake, edge_server, gateway_server, adapter_dir, capsys
):
    edge_fake.adapters.clear()
    edge = edge_server[1].url + "/v1"
    args = ["edge", "load-adapter", str(adapter_dir), "--name", "weather-v2",
            "--edge-base-url", edge, "--gateway", gateway_server.url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "added successfully" in out and "edge-small -> weather-v2" in out
    assert "calibration:" in out
    assert edge_fake.adapters == {"weather-v2": str(adapter_dir.resolve())}

    state = httpx.get(gateway_server.url + "/v1/router/state").json()
    assert state["models"]["edge"] == "weather-v2"
    assert "calibration" in state
    resp = httpx.post(gateway_server.url + "/v1/chat/completions", json=chat_body(), timeout=10)
    assert resp.status_code == 200 and resp.headers["x-netgpt-route"] == "edge"
    assert edge_fake.requests[-1]["body"]["model"] == "weather-v2"

    # loading the same name twice is refused with a hint; --replace reloads it
    assert main(args) == 1
    assert "--replace" in capsys.readouterr().err
    assert main([*args, "--replace"]) == 0


def test_load_adapter_refuses_a_directory_without_an_adapter(tmp_path, capsys):
    assert main(["edge", "load-adapter", str(tmp_path), "--name", "x", "--no-gateway"]) == 1
    assert "adapter_config.json" in capsys.readouterr().err


def test_load_adapter_says_when_vllm_lacks_runtime_lora(adapter_dir, cloud_server, capsys):
    # an OpenAI-flavoured server has no LoRA endpoints: the same 404 as vLLM without the env var
    base = cloud_server[1].url + "/v1"
    code = main(["edge", "load-adapter", str(adapter_dir), "--name", "x", "--edge-base-url", base,
                 "--no-gateway"])
    assert code == 1
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING" in capsys.readouterr().err
