"""Where GAPG gets the cloud's answer when a sampled answer asks for help.

By default the cloud's answer is the one the gateway logged (the dataset's reference), so
training costs no cloud calls; ``--live-cloud`` asks the configured OpenAI-compatible endpoint
instead (``NETGPT_CLOUD_BASE_URL``, ``NETGPT_CLOUD_MODEL``, ``NETGPT_CLOUD_API_KEY``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Protocol

from edge_worker.training.chat_format import ParsedAnswer
from edge_worker.training.data import Example


class CloudOracle(Protocol):
    def answer(self, example: Example) -> ParsedAnswer:
        """The cloud's answer to the example's prompt (one call per prompt and step)."""
        ...


class LoggedCloud:
    """The answer the cloud gave when the gateway routed this request to it."""

    def answer(self, example: Example) -> ParsedAnswer:
        ref = example.reference
        return ParsedAnswer(content=str(ref.get("content") or ""),
                            tool_calls=list(ref.get("tool_calls") or []))


class LiveCloud:
    """A blocking chat-completions call (training is a batch job; no event loop needed)."""

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout_s: float = 60.0):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s

    def answer(self, example: Example) -> ParsedAnswer:
        body = {"model": self.model, "messages": example.prompt, "temperature": 0}
        if example.tools:
            body["tools"] = example.tools
        headers = {"content-type": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                message = json.loads(response.read())["choices"][0]["message"]
        except (urllib.error.URLError, TimeoutError, KeyError, IndexError, ValueError):
            # a failed cloud call is a wrong cloud answer for the reward, not a crash
            return ParsedAnswer(content="", parse_error=True)
        return ParsedAnswer(content=str(message.get("content") or ""),
                            tool_calls=list(message.get("tool_calls") or []))


def live_cloud_from_env() -> LiveCloud:
    from gateway.config import CloudSettings

    c = CloudSettings()
    key = c.api_key.get_secret_value() if c.api_key else None
    return LiveCloud(str(c.base_url), c.model, key, c.read_timeout_s)
