"""One small JSON-over-HTTP call for the edge commands (urllib: no client library needed).

Used by ``netgpt edge load-adapter`` (vLLM's and the gateway's endpoints) and by the llama.cpp
adapter switch; errors come back as :class:`CallFailed` with the upstream's own message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class CallFailed(Exception):
    """``status`` is the HTTP status, 0 when the server could not be reached."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def call(method: str, url: str, body: Any, key: str | None, timeout: float) -> tuple[int, str]:
    """``method url`` with ``body`` as JSON (and ``key`` as a bearer token): (status, text)."""
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise CallFailed(exc.code, error_message(exc.read().decode("utf-8", "replace"))) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CallFailed(0, f"cannot reach {url}: {reason}") from None


def error_message(text: str) -> str:
    """The ``error.message`` of an OpenAI-style envelope, else the text itself (shortened)."""
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return text.strip()[:500]
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or text)[:500]
