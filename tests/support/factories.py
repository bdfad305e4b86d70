"""Record and settings factories of the dataset tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from gateway.config import CloudSettings, DatasetSettings, Settings

CLOUD_KEY = "sk-dataset-cloud-key-MUST-NOT-LEAK-42"
CLIENT_KEY = "client-dataset-key-MUST-NOT-LEAK-77"

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "book_table",
            "parameters": {
                "type": "object",
                "properties": {
                    "restaurant": {"type": "string"},
                    "people": {"type": "integer", "minimum": 1},
                },
                "required": ["restaurant", "people"],
            },
        },
    },
]


def make_record(
    i: int,
    *,
    kind: str = "routed",
    text: str | None = None,
    call: tuple[str, str] | None = None,
    tools: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A record dict as the service builds it (gateway/service/trace.py), for request ``i``."""
    name, arguments = call or ("get_weather", f'{{"city": "City{i}", "unit": "celsius"}}')
    record: dict[str, Any] = {
        "id": f"req-{i:06d}:{kind}",
        "request_id": f"req-{i:06d}",
        "kind": kind,
        "created_at": 1_790_000_000.0 + i,
        "route": "cloud" if kind == "routed" else "edge",
        "reason": "score_below_threshold",
        "score": 0.2,
        "threshold": 0.6,
        "request": {
            "model": "auto",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": text or f"What is the weather in City{i}?"},
            ],
            "tools": tools if tools is not None else TOOLS,
            "tool_choice": "auto",
            "temperature": 0.1,
        },
        "edge_draft": {
            "message": {"role": "assistant", "content": "I am not sure."},
            "finish_reason": "stop",
            "schema_valid": True,
            "schema_error": None,
            "mean_logprob": -0.9,
            "min_logprob": -3.2,
        },
        "cloud_response": {
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                ],
            },
            "finish_reason": "tool_calls",
            "model": "gpt-4o-mini",
            "usage": {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140},
        },
        "cloud_schema_valid": True,
        "network": {"cloud": {"rtt_s": 0.05, "bandwidth_bytes_per_s": 1.25e7, "stale": False}},
        "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
        "latency": {"edge_s": 0.05, "cloud_s": 0.4, "total_s": 0.46},
        "tokens": {"input": 120, "output": 20},
        "cost_usd": 3.0e-5,
        "models": {"edge": "edge-1b", "cloud": "gpt-4o-mini"},
    }
    record.update(overrides)
    return record


def make_settings(data_dir: Path, redis_url: str | None, **dataset: Any) -> Settings:
    return Settings(
        redis_url=redis_url,
        data_dir=data_dir,
        api_keys=[SecretStr(CLIENT_KEY)],
        cloud=CloudSettings(api_key=SecretStr(CLOUD_KEY)),
        dataset=DatasetSettings(**{"stream_key": "netgpt:pairs", **dataset}),
    )
