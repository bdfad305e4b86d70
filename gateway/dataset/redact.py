"""Privacy scrubbing of a record before it is stored anywhere (stream, spool, export).

Two passes over the raw record dict:

1. configured patterns (``NETGPT_DATASET_REDACT_PATTERNS``: e-mail addresses and phone numbers
   by default) over *message text*: string content, text content parts and the string values
   inside tool-call arguments (parsed, so a redaction never breaks their JSON);
2. secrets over *every* string of the record: the configured cloud key and client keys, and
   anything shaped like a bearer token or an API key. Headers are never passed in, but a client
   may paste its key into a message, and the record must not carry it.

Example::

    redactor = Redactor([r"[\\w.]+@[\\w.]+"], secrets=["sk-live-abc123def456"])
    redactor.text("mail bob@example.com")  # 'mail [REDACTED]'
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from gateway.config import Settings

PII_MARK = "[REDACTED]"
SECRET_MARK = "[REDACTED_SECRET]"

# key-shaped strings: OpenAI/Anthropic style "sk-...", and bearer credentials
SECRET_PATTERNS = (
    r"\bsk-[A-Za-z0-9_\-]{8,}",
    r"\b(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{6,}",
)
MIN_SECRET_LEN = 4  # shorter literals would wipe ordinary words and cannot be real keys


class RedactionConfigError(ValueError):
    """A configured redaction pattern is not a valid regular expression."""


def _compile(patterns: Iterable[str], what: str) -> list[re.Pattern[str]]:
    # one regex each, applied in turn: combining them would break patterns with global flags
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise RedactionConfigError(
                f"{what}: {pattern!r} is not a valid regular expression ({exc}); fix or remove it"
            ) from None
    return compiled


class Redactor:
    """Scrubs PII from message text and secrets from every string of a record."""

    def __init__(self, patterns: Iterable[str], secrets: Iterable[str] = ()) -> None:
        self._pii = _compile(patterns, "NETGPT_DATASET_REDACT_PATTERNS")
        literals = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=len, reverse=True
        )  # longest first, so a key that contains another is removed whole
        self._secret = _compile(
            [re.escape(s) for s in literals] + list(SECRET_PATTERNS), "secret patterns"
        )
        # every string of a record goes through secrets(), and almost none holds one: a string
        # shorter than the shortest possible match, or in which no pattern matches anywhere,
        # is returned as is; one alternation of the (escaped or inline-flag-scoped) secret
        # patterns finds a match wherever any of them would
        self._shortest = min((_min_width(p) for p in self._secret), default=0)
        self._any_secret = re.compile("|".join(f"(?:{p.pattern})" for p in self._secret))

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        secrets = [key.decode() for key in settings.client_keys()]
        for key in (settings.cloud.api_key, settings.edge.api_key):
            if key is not None:
                secrets.append(key.get_secret_value())
        return cls(settings.dataset.redact_patterns, secrets)

    def secrets(self, text: str) -> str:
        if len(text) < self._shortest or self._any_secret.search(text) is None:
            return text
        for pattern in self._secret:
            text = pattern.sub(SECRET_MARK, text)
        return text

    def text(self, text: str) -> str:
        """Both passes on one string."""
        for pattern in self._pii:
            text = pattern.sub(PII_MARK, text)
        return self.secrets(text)

    def record(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A scrubbed copy of a raw record dict (the input is not modified)."""
        out = dict(raw)
        request = out.get("request")
        if isinstance(request, dict):
            request = dict(request)
            messages = request.get("messages")
            if isinstance(messages, list):
                request["messages"] = [self._message(m) for m in messages]
            out["request"] = request
        for key in ("edge_draft", "cloud_response"):
            part = out.get(key)
            if isinstance(part, dict) and isinstance(part.get("message"), dict):
                out[key] = {**part, "message": self._message(part["message"])}
        scrubbed: dict[str, Any] = _walk(out, self.secrets)
        return scrubbed

    def _message(self, message: Any) -> Any:
        if not isinstance(message, dict):
            return message
        out = dict(message)
        content = out.get("content")
        if isinstance(content, str):
            out["content"] = self.text(content)
        elif isinstance(content, list):
            out["content"] = [self._part(part) for part in content]
        calls = out.get("tool_calls")
        if isinstance(calls, list):
            out["tool_calls"] = [self._call(call) for call in calls]
        return out

    def _part(self, part: Any) -> Any:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            return {**part, "text": self.text(part["text"])}
        return part

    def _call(self, call: Any) -> Any:
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            return call
        function = dict(call["function"])
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            function["arguments"] = self._arguments(arguments)
        return {**call, "function": function}

    def _arguments(self, arguments: str) -> str:
        try:
            parsed = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return self.text(arguments)
        cleaned = _walk(parsed, self.text)
        if cleaned == parsed:
            return arguments  # keep the model's exact bytes when nothing was redacted
        return orjson.dumps(cleaned).decode()


def _min_width(pattern: re.Pattern[str]) -> int:
    """The fewest characters ``pattern`` can match (0 when it cannot be worked out)."""
    try:
        parser = importlib.import_module("re._parser")  # what re compiles with (3.11+)
        return int(parser.parse(pattern.pattern, pattern.flags).getwidth()[0])
    except Exception:  # noqa: BLE001 - a private module: without it, no shortcut
        return 0


def _walk(value: Any, fn: Callable[[str], str]) -> Any:
    """Apply ``fn`` to every string (keys included) of a JSON-like value."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {fn(k) if isinstance(k, str) else k: _walk(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, fn) for item in value]
    return value
