"""Self-consistency on the edge side: the settings, the sampled request's shape (the draft's
shaping kept, temperature > 0, ``n`` and a seed) and ``EdgeClient.sample``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from edge_worker.flavors import Sampling, shape_request
from gateway.config import ConfigError, EdgeSettings, load_settings
from tests.conftest import TOOLS

PREFILL = "<tool_call>\n"


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": "Weather in Oslo?"}],
            "tools": TOOLS, "n": 5, **extra}


def shape(flavor: Any, sampling: Sampling | None, **kw: Any) -> dict[str, Any]:
    return shape_request(body(tool_choice="auto", temperature=0.2), flavor=flavor, model="smollm2",
                         top_logprobs=1, draft_max_tokens=96, call_prefill=PREFILL,
                         sampling=sampling, **kw)


def test_samples_are_off_by_default_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    edge = EdgeSettings()
    assert edge.samples == 0 and edge.sample_temperature == 0.7 and edge.sample_wait_s == 1.0
    monkeypatch.setenv("NETGPT_EDGE_SAMPLES", "4")
    monkeypatch.setenv("NETGPT_EDGE_SAMPLE_TEMPERATURE", "1.1")
    monkeypatch.setenv("NETGPT_EDGE_SAMPLE_WAIT_S", "0.25")
    edge = load_settings().edge
    assert (edge.samples, edge.sample_temperature, edge.sample_wait_s) == (4, 1.1, 0.25)


@pytest.mark.parametrize(("name", "value"), [
    ("NETGPT_EDGE_SAMPLES", "-1"),
    ("NETGPT_EDGE_SAMPLES", "many"),
    ("NETGPT_EDGE_SAMPLE_TEMPERATURE", "0"),  # greedy samples would only repeat the draft
    ("NETGPT_EDGE_SAMPLE_WAIT_S", "-0.5"),
])
def test_bad_sample_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert name in str(info.value)


def test_samples_are_bounded() -> None:
    with pytest.raises(ValidationError):
        EdgeSettings(samples=17)


@pytest.mark.parametrize("flavor", ["llamacpp", "vllm", "openai"])
def test_a_sampled_request_keeps_the_drafts_shape_at_a_temperature(flavor: Any) -> None:
    greedy = shape(flavor, None, call_strategy="prefill")
    sampled = shape(flavor, Sampling(n=3, temperature=0.8, seed=42), call_strategy="prefill")
    assert greedy["temperature"] == 0.0 and "n" not in greedy and "seed" not in greedy
    assert (sampled["n"], sampled["temperature"], sampled["seed"]) == (3, 0.8, 42)
    # everything else is the draft's: the prefilled call, one call, the cap, the stop
    assert {k: v for k, v in sampled.items() if k not in ("n", "temperature", "seed")} == {
        k: v for k, v in greedy.items() if k not in ("temperature",)}
    assert sampled["messages"][-1] == {"role": "assistant", "content": PREFILL}
    assert sampled["max_tokens"] == 96 and sampled["stop"] == ["</tool_call>"]


def test_guided_samples_keep_the_strict_tools() -> None:
    sampled = shape("vllm", Sampling(n=2, temperature=0.7, seed=1), call_strategy="guided")
    assert sampled["tool_choice"] == "required" and sampled["temperature"] == 0.7
    assert all(t["function"]["strict"] is True for t in sampled["tools"])
    assert sampled["messages"][-1]["role"] == "user"  # guided: no prefill
