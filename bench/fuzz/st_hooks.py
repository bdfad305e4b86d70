"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS=bench.fuzz.st_hooks): one more check.

``openai_error_envelope``: every answer with a status of 400 or more is OpenAI's envelope, exactly
``{"error": {"message": str, "type": str, "param": str|null, "code": str|null}}``, JSON, and
never a traceback. The built-in checks validate bodies only for declared statuses; this one
covers every error, the 405 of an unsupported method included.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

_TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "site-packages")


@schemathesis.check
def openai_error_envelope(ctx: Any, response: Any, case: Any) -> None:  # noqa: ARG001
    if response.status_code < 400:
        return
    text = response.content.decode("utf-8", "replace") if response.content else ""
    if any(marker in text for marker in _TRACE_MARKERS):
        raise AssertionError(f"HTTP {response.status_code}: the body shows a stack trace")
    try:
        body = json.loads(text)
    except ValueError:
        raise AssertionError(f"HTTP {response.status_code}: the error body is not JSON: {text[:200]!r}") from None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(error, dict):
        raise AssertionError(f"HTTP {response.status_code}: not OpenAI's error envelope: {text[:200]!r}")
    if set(error) != {"message", "type", "param", "code"}:
        raise AssertionError(f"HTTP {response.status_code}: error fields are {sorted(error)}")
    if not isinstance(error["message"], str) or not isinstance(error["type"], str):
        raise AssertionError(f"HTTP {response.status_code}: message and type must be strings")
    for name in ("param", "code"):
        if error[name] is not None and not isinstance(error[name], str):
            raise AssertionError(f"HTTP {response.status_code}: {name} must be a string or null")


# What parse_request refuses beyond what JSON Schema can say: a named tool_choice must name an
# offered tool, and tool names must be unique (JSON Schema has no "unique by field" nor
# "value in a sibling list"). Every other 400 to schema-valid data is a failure, as in the
# built-in positive_data_acceptance, which the runs exclude in favour of this one.
CROSS_FIELD = (
    ("tool_choice", "which is not in 'tools'"),
    ("tools", "tool function names must be unique"),
)


@schemathesis.check
def positive_data_accepted(ctx: Any, response: Any, case: Any) -> None:  # noqa: ARG001
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive or response.status_code < 400:
        return
    if response.status_code in (401, 403, 404, 405, 409, 429) or response.status_code >= 500:
        return  # credentials, limits, upstreams: not about the data (500s: not_a_server_error)
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        error = {}
    if response.status_code == 400 and any(
        error.get("param") == param and text in str(error.get("message")) for param, text in CROSS_FIELD
    ):
        return
    raise AssertionError(
        f"schema-valid data refused with HTTP {response.status_code}: {response.content[:300]!r}"
    )
