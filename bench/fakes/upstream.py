"""``FakeUpstream``: a fake OpenAI-compatible chat server for tests and load benchmarks.

It answers ``POST /v1/chat/completions`` in the exact shapes of vLLM's OpenAI server
(``flavor="vllm"``: hermes tool-call text, ``chatcmpl-tool-<32 hex>`` ids, ``stop_reason``) or of
OpenAI (``flavor="openai"``: ``call_<24 alnum>`` ids, ``system_fingerprint``), streamed (SSE) or
not, with token log-probabilities when asked. What it answers is a *behaviour*::

    {"mode": "tool_call", "delay_s": 0.0, "delay_per_running_s": 0.0, "logprob": -0.05, "status": 500,
     "retry_after_s": None, "fail_times": 0, "then": "tool_call", ...}

Modes: ``tool_call`` (arguments generated from the tool's JSON Schema, so they validate),
``text``, ``invalid_name``, ``invalid_json``, ``missing_required``, ``wrong_type``,
``offload_marker``, ``offload_tool``, ``error`` (OpenAI error envelope with ``status``; 429 carries
``Retry-After`` when ``retry_after_s`` is set) and ``drop`` (the connection is closed without an
answer). With ``fail_times=N`` the first N requests behave as ``mode`` and the later ones as
``then``.

The behaviour is layered: constructor defaults, replaced by ``POST /_fake/config`` (body
``{"edge": {...}}`` — the entry under the fake's own name), overridden per request by the body's
``"x_fake": {"edge": {...}, "cloud": {...}}`` (the gateway forwards unknown fields, so one test
request steers both upstreams). ``POST /_fake/reset`` restores the constructor defaults and
clears the recorded requests, which ``GET /_fake/requests`` returns (path, body, headers).

Run one alone: ``python -m bench.fakes --port 8000 --name edge --model m``.

Example::

    fake = FakeUpstream(name="cloud", model="gpt-4o-mini", flavor="openai")
    # serve it with uvicorn; then POST {"messages": [...], "tools": [...],
    #   "x_fake": {"cloud": {"mode": "error", "status": 429, "retry_after_s": 1}}}
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import string
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

Flavor = Literal["vllm", "openai"]
MODES = frozenset(
    {
        "tool_call", "text", "invalid_name", "invalid_json", "missing_required", "wrong_type",
        "offload_marker", "offload_tool", "error", "drop",
    }
)
OFFLOAD_MARKER = "<unknown> I need external assistance </unknown>"
OFFLOAD_TOOL = "request_cloud_assistance"
UNOFFERED_TOOL = "fake_tool_that_was_not_offered"
_ALNUM = string.ascii_letters + string.digits
# crude tokenizer: a word or a punctuation mark with the whitespace before it
_PIECES = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What the fake answers; every field can be set per request under ``x_fake.<name>``."""

    mode: str = "tool_call"
    delay_s: float = 0.0  # before answering
    # interference: each other request running on this fake adds this much to the delay
    delay_per_running_s: float = 0.0
    chunk_delay_s: float = 0.0  # between streamed chunks
    logprob: float = -0.05  # reported for every generated token
    status: int = 500  # for mode "error"
    retry_after_s: float | None = None
    message: str = "the fake upstream was told to fail"
    fail_times: int = 0  # behave as `mode` this many times, then as `then`
    then: str = "tool_call"
    text: str | None = None  # content for text answers

    @classmethod
    def parse(cls, base: Behaviour, raw: Any) -> Behaviour:
        """``base`` with the fields of ``raw`` applied; ValueError names a bad field."""
        if raw is None:
            return base
        if not isinstance(raw, Mapping):
            raise ValueError("the behaviour must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        updates: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise ValueError(f"unknown behaviour field '{key}'")
            updates[key] = _check_field(key, value)
        return replace(base, **updates)


def _check_field(key: str, value: Any) -> Any:
    if key in ("mode", "then"):
        if value not in MODES:
            raise ValueError(f"'{key}' must be one of {sorted(MODES)}")
        return value
    if key in ("message", "text"):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'{key}' must be a string")
        return value
    if key in ("status", "fail_times"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"'{key}' must be a non-negative integer")
        return value
    if value is None and key == "retry_after_s":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{key}' must be a number")
    if key != "logprob" and value < 0:
        raise ValueError(f"'{key}' must be >= 0")
    return float(value)


# --------------------------------------------------------------------------- schema -> values

_TYPE_ALIASES = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}


def sample_value(schema: Any) -> Any:
    """A value that validates against ``schema`` (the JSON Schema subset tool definitions use).

    >>> sample_value({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}})
    {'n': 1}
    """
    if not isinstance(schema, Mapping):
        return "value"
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return sample_value(schema[key][0])
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            if isinstance(part, Mapping):
                merged.update(part)
        return sample_value(merged)
    kind = _schema_type(schema)
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: sample_value(props.get(name, {})) for name in schema.get("required") or ()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [sample_value(schema.get("items", {"type": "string"})) for _ in range(count)]
    if kind == "integer":
        return _sample_number(schema, 1, integer=True)
    if kind == "number":
        return _sample_number(schema, 1.5, integer=False)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _sample_string(schema)


def _schema_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        return "object" if "properties" in schema else "string"
    return _TYPE_ALIASES.get(str(kind), str(kind))


def _sample_number(schema: Mapping[str, Any], default: float, *, integer: bool) -> float | int:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = float(default)
    if isinstance(low, int | float):
        value = float(low) + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
    elif isinstance(high, int | float) and value >= high:
        value = float(high) - 1
    return int(value) if integer else value


def _sample_string(schema: Mapping[str, Any]) -> str:
    formats = {"date": "2024-01-01", "date-time": "2024-01-01T00:00:00Z", "email": "a@example.com",
               "uri": "https://example.com", "time": "12:00:00"}
    text = formats.get(str(schema.get("format")), "example")
    min_len = int(schema.get("minLength", 0))
    max_len = schema.get("maxLength")
    if len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    if isinstance(max_len, int):
        text = text[: max(max_len, min_len)]
    return text


def _wrong_value(schema: Any) -> Any:
    """A value of a type the schema does not allow."""
    kind = _schema_type(schema) if isinstance(schema, Mapping) else "string"
    return {"string": 12345, "object": "not-an-object", "array": "not-an-array",
            "boolean": "not-a-boolean", "null": "not-null"}.get(kind, "not-a-number")


# --------------------------------------------------------------------------- answers


@dataclass(slots=True)
class Answer:
    """What the model 'generated': text and/or tool calls, before shaping for a flavor."""

    content: str | None
    calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.calls else "stop"


def _tools(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    out = []
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            out.append(function)
    return out


def _chosen_tool(body: Mapping[str, Any], tools: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping):
        wanted = (choice.get("function") or {}).get("name")
        for tool in tools:
            if tool["name"] == wanted:
                return tool
    return tools[0]


def generate(body: Mapping[str, Any], behaviour: Behaviour, mode: str, name: str) -> Answer:
    """The fake model's answer to ``body`` in ``mode``."""
    tools = _tools(body)
    if mode == "offload_marker":
        return Answer(f"I cannot answer this reliably. {OFFLOAD_MARKER}")
    if mode == "offload_tool":
        offered = next((t for t in tools if t["name"] == OFFLOAD_TOOL), None)
        args = sample_value(offered.get("parameters")) if offered else {"reason": "uncertain"}
        return Answer(None, [(OFFLOAD_TOOL, orjson.dumps(args).decode())])
    if mode == "text" or not tools or body.get("tool_choice") == "none":
        return Answer(behaviour.text or f"This is a fake answer from the {name} model.")
    tool = _chosen_tool(body, tools)
    schema = tool.get("parameters") or {"type": "object"}
    args = sample_value(schema)
    props = schema.get("properties") or {} if isinstance(schema, Mapping) else {}
    if mode == "invalid_name":
        return Answer(None, [(UNOFFERED_TOOL, orjson.dumps(args).decode())])
    if mode == "invalid_json":
        return Answer(None, [(tool["name"], orjson.dumps(args).decode()[:-1] + ', "oops": ')])
    if mode == "missing_required" and isinstance(args, dict) and args:
        args.pop(next(iter(args)))
    elif mode == "wrong_type" and props:
        first = next(iter(args)) if isinstance(args, dict) and args else next(iter(props))
        args = dict(args) if isinstance(args, dict) else {}
        args[first] = _wrong_value(props.get(first))
    return Answer(None, [(tool["name"], orjson.dumps(args).decode())])


def _hermes_text(answer: Answer) -> str:
    """The text vLLM's hermes-format model generates for ``answer``."""
    if not answer.calls:
        return answer.content or ""
    parts = []
    for name, arguments in answer.calls:
        try:
            args_text = orjson.dumps(orjson.loads(arguments)).decode()
        except orjson.JSONDecodeError:
            args_text = arguments
        parts.append(f'<tool_call>\n{{"name": "{name}", "arguments": {args_text}}}\n</tool_call>')
    return "\n".join(parts)


def _logprob_items(text: str, logprob: float, top: int) -> list[dict[str, Any]]:
    items = []
    for piece in _PIECES.findall(text):
        alternatives = [
            {"token": f"{piece}#{i}", "logprob": logprob - 1.0 - i, "bytes": list(piece.encode())}
            for i in range(max(0, top - 1))
        ]
        chosen = {"token": piece, "logprob": logprob, "bytes": list(piece.encode())}
        entry = dict(chosen)
        entry["top_logprobs"] = [chosen, *alternatives][:top] if top else []
        items.append(entry)
    return items


def _prompt_tokens(body: Mapping[str, Any]) -> int:
    # about 4 bytes per token, as tokenizers average on English and JSON
    return max(1, len(orjson.dumps(body.get("messages") or [])) // 4)


# --------------------------------------------------------------------------- the app


class FakeUpstream:
    """An ASGI app: a fake vLLM (``flavor="vllm"``) or OpenAI (``flavor="openai"``) server."""

    def __init__(
        self,
        name: str = "edge",
        model: str = "fake-model",
        flavor: Flavor = "vllm",
        behaviour: Behaviour | Mapping[str, Any] | None = None,
        *,
        record: bool = True,
        max_recorded: int = 1000,
    ) -> None:
        self.name = name
        self.model = model
        self.flavor: Flavor = flavor
        self.defaults = (
            behaviour if isinstance(behaviour, Behaviour) else Behaviour.parse(Behaviour(), behaviour)
        )
        self.behaviour = self.defaults
        self.record = record
        self.requests: deque[dict[str, Any]] = deque(maxlen=max_recorded)
        self.failures = 0  # answers failed so far under fail_times
        self.running = 0
        self.prompt_tokens_total = 0
        self.generation_tokens_total = 0
        self.created = int(time.time())
        # LoRA adapters loaded at runtime (vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True): name -> path
        self.adapters: dict[str, str] = {}
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
                Route("/metrics", self._metrics, methods=["GET"]),
                Route("/_fake/config", self._config, methods=["POST"]),
                Route("/_fake/reset", self._reset, methods=["POST"]),
                Route("/_fake/requests", self._requests, methods=["GET"]),
                Route("/v1/load_lora_adapter", self._load_lora, methods=["POST"]),
                Route("/v1/unload_lora_adapter", self._unload_lora, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # the server's own send callable, for closing the connection in mode "drop"
        scope["fake.raw_send"] = send
        await self.app(scope, receive, send)

    # -- control -----------------------------------------------------------------------------

    def configure(self, overrides: Mapping[str, Any] | None) -> None:
        """Replace the defaults (the entry under this fake's name in ``POST /_fake/config``)."""
        self.behaviour = Behaviour.parse(self.defaults, overrides)
        self.failures = 0

    def reset(self) -> None:
        self.behaviour = self.defaults
        self.failures = 0
        self.requests.clear()

    async def _config(self, request: Request) -> Response:
        try:
            raw = orjson.loads(await request.body())
            if not isinstance(raw, dict):
                raise ValueError("the body must be a JSON object")
            self.configure(raw.get(self.name))
        except (ValueError, orjson.JSONDecodeError) as exc:
            return self._error(400, str(exc), param="x_fake")
        return _json({"ok": True, "behaviour": _behaviour_dict(self.behaviour)})

    async def _reset(self, _request: Request) -> Response:
        self.reset()
        return _json({"ok": True})

    async def _requests(self, _request: Request) -> Response:
        return _json({"object": "list", "data": list(self.requests)})

    # -- vLLM / OpenAI endpoints -------------------------------------------------------------

    async def _models(self, _request: Request) -> Response:
        card: dict[str, Any] = {"id": self.model, "object": "model", "created": self.created,
                                "owned_by": "vllm" if self.flavor == "vllm" else "system"}
        if self.flavor == "vllm":
            card.update(root=self.model, parent=None, max_model_len=32768, permission=[])
        cards = [card]
        for name, path in self.adapters.items():  # as vLLM lists LoRA adapters
            cards.append({"id": name, "object": "model", "created": self.created, "owned_by": "vllm",
                          "root": path, "parent": self.model, "max_model_len": None,
                          "permission": []})
        return _json({"object": "list", "data": cards})

    async def _lora_body(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return self._error(400, "the request body is not valid JSON")
        if not isinstance(body, dict):
            return self._error(400, "the request body must be a JSON object")
        return body

    async def _load_lora(self, request: Request) -> Response:
        """vLLM's ``POST /v1/load_lora_adapter``: plain-text success, 400 on bad or duplicate names."""
        if self.flavor != "vllm":
            return self._error(404, "Not Found")
        body = await self._lora_body(request)
        if isinstance(body, Response):
            return body
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            return self._error(400, "Both 'lora_name' and 'lora_path' must be provided.")
        if name in self.adapters:
            return self._error(400, f"The lora adapter '{name}' has already been loaded.")
        if not (Path(str(path)) / "adapter_config.json").is_file():
            return self._error(404, f"Loading lora {name} failed: No adapter found for {path}")
        self.adapters[str(name)] = str(path)
        return Response(f"Success: LoRA adapter '{name}' added successfully.".encode(),
                        media_type="text/plain; charset=utf-8")

    async def _unload_lora(self, request: Request) -> Response:
        """vLLM's ``POST /v1/unload_lora_adapter``: 404 when the name is not loaded."""
        if self.flavor != "vllm":
            return self._error(404, "Not Found")
        body = await self._lora_body(request)
        if isinstance(body, Response):
            return body
        name = body.get("lora_name")
        if not name:
            return self._error(400, "'lora_name' needs to be provided to unload a LoRA adapter.")
        if name not in self.adapters:
            return self._error(404, f"The lora adapter '{name}' cannot be found.")
        del self.adapters[name]
        return Response(f"Success: LoRA adapter '{name}' removed successfully.".encode(),
                        media_type="text/plain; charset=utf-8")

    async def _health(self, _request: Request) -> Response:
        return Response(b"", status_code=200)

    async def _metrics(self, _request: Request) -> Response:
        label = f'{{model_name="{self.model}"}}'
        series = [
            ("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
             self.running),
            ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", 0),
            ("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage.",
             min(1.0, self.running / 100)),
            ("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.",
             min(1.0, self.running / 100)),
            ("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
             self.prompt_tokens_total),
            ("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
             self.generation_tokens_total),
        ]
        lines = []
        for metric, kind, help_text, value in series:
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}",
                      f"{metric}{label} {float(value)}"]
        return Response(("\n".join(lines) + "\n").encode(),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    async def _chat(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self._error(400, "the request body is not valid JSON")
        if self.record:
            self.requests.append({"path": request.url.path, "body": body,
                                  "headers": dict(request.headers)})
        problem = _check_body(body)
        if problem is not None:
            return self._error(400, problem[0], param=problem[1])
        try:
            steer = body.get("x_fake") or {}
            behaviour = Behaviour.parse(self.behaviour, steer.get(self.name))
        except (ValueError, AttributeError) as exc:
            return self._error(400, str(exc), param="x_fake")
        mode = behaviour.mode
        if behaviour.fail_times:
            if self.failures < behaviour.fail_times:
                self.failures += 1
            else:
                mode = behaviour.then
        self.running += 1
        try:
            delay = behaviour.delay_s + behaviour.delay_per_running_s * (self.running - 1)
            if delay:
                await asyncio.sleep(delay)
            if mode == "drop":
                return await self._drop(request)
            if mode == "error":
                return self._error(behaviour.status, behaviour.message,
                                   retry_after_s=behaviour.retry_after_s)
            answer = generate(body, behaviour, mode, self.name)
            return self._answer(body, answer, behaviour)
        finally:
            self.running -= 1

    async def _drop(self, request: Request) -> Response:
        cycle = getattr(request.scope.get("fake.raw_send"), "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:
            # not under uvicorn: failing mid-response is the closest thing to a disconnect
            raise ConnectionAbortedError("fake upstream dropped the connection")
        transport.abort()
        # let the server see the connection lost, so it does not answer 500 for us
        for _ in range(3):
            await asyncio.sleep(0)
        return _NoResponse()

    def _error(self, status: int, message: str, *, param: str | None = None,
               retry_after_s: float | None = None) -> Response:
        code: int | str | None
        if self.flavor == "vllm":  # vLLM: exception class name, numeric code
            kind = {404: "NotFoundError", 429: "RateLimitError"}.get(
                status, "BadRequestError" if status < 500 else "InternalServerError")
            code = status
        else:
            kind = "invalid_request_error" if status < 500 else "server_error"
            code = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(status)
        envelope = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        headers = {}
        if status == 429 and retry_after_s is not None:
            headers["retry-after"] = f"{retry_after_s:g}"
        return _json(envelope, status=status, headers=headers)

    # -- shaping -----------------------------------------------------------------------------

    def _call_id(self) -> str:
        if self.flavor == "vllm":
            return f"chatcmpl-tool-{uuid.uuid4().hex}"
        return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))

    def _answer(self, body: Mapping[str, Any], answer: Answer, behaviour: Behaviour) -> Response:
        text = _hermes_text(answer) if self.flavor == "vllm" else (
            answer.content or "".join(args for _, args in answer.calls))
        pieces = _PIECES.findall(text)
        prompt = _prompt_tokens(body)
        self.prompt_tokens_total += prompt
        self.generation_tokens_total += len(pieces)
        usage = {"prompt_tokens": prompt, "completion_tokens": len(pieces),
                 "total_tokens": prompt + len(pieces)}
        top = body.get("top_logprobs") or 0
        logprobs = None
        if body.get("logprobs"):
            logprobs = {"content": _logprob_items(text, behaviour.logprob, int(top))}
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()),
                "model": str(body.get("model") or self.model)}
        calls = [{"id": self._call_id(), "type": "function",
                  "function": {"name": name, "arguments": args}} for name, args in answer.calls]
        if body.get("stream"):
            stream = self._chunks(head, answer, calls, usage, body, behaviour)
            return StreamingResponse(stream, media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": answer.content,
                                   "tool_calls": calls}
        choice: dict[str, Any] = {"index": 0, "message": message, "logprobs": logprobs,
                                  "finish_reason": answer.finish_reason}
        out: dict[str, Any] = {**head, "object": "chat.completion", "choices": [choice],
                               "usage": usage}
        if self.flavor == "vllm":
            message["reasoning_content"] = None
            choice["stop_reason"] = None
            out["prompt_logprobs"] = None
        else:
            message["refusal"] = None
            if not calls:  # OpenAI leaves the key out; vLLM sends []
                del message["tool_calls"]
            out["system_fingerprint"] = "fp_fake"
            out["service_tier"] = "default"
        return _json(out)

    async def _chunks(self, head: dict[str, Any], answer: Answer, calls: list[dict[str, Any]],
                      usage: dict[str, int], body: Mapping[str, Any],
                      behaviour: Behaviour) -> AsyncIterator[bytes]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        want_logprobs = bool(body.get("logprobs"))
        top = int(body.get("top_logprobs") or 0)
        base = {**head, "object": "chat.completion.chunk"}
        if include_usage:
            base["usage"] = None

        def chunk(delta: dict[str, Any], finish: str | None = None,
                  piece: str | None = None) -> bytes:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None,
                                      "finish_reason": finish}
            if want_logprobs and piece:
                choice["logprobs"] = {"content": _logprob_items(piece, behaviour.logprob, top)}
            return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

        deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""},
                                                            None)]
        for piece in _PIECES.findall(answer.content or ""):
            deltas.append(({"content": piece}, piece))
        for index, call in enumerate(calls):
            fn = call["function"]
            deltas.append(({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                            "function": {"name": fn["name"], "arguments": ""}}]},
                           None))
            for piece in _PIECES.findall(fn["arguments"]):
                deltas.append(({"tool_calls": [{"index": index,
                                                "function": {"arguments": piece}}]}, piece))
        for delta, piece in deltas:
            yield chunk(delta, piece=piece)
            if behaviour.chunk_delay_s:
                await asyncio.sleep(behaviour.chunk_delay_s)
        yield chunk({}, answer.finish_reason)
        if include_usage:
            yield b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
        yield b"data: [DONE]\n\n"


class _NoResponse(Response):
    """Sends nothing: the connection is already gone."""

    def __init__(self) -> None:
        super().__init__(b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        return None


def _check_body(body: Any) -> tuple[str, str | None] | None:
    if not isinstance(body, dict):
        return "the request body must be a JSON object", None
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array", "messages"
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return "'tools' must be an array", "tools"
    if body.get("x_fake") is not None and not isinstance(body["x_fake"], dict):
        return "'x_fake' must be an object", "x_fake"
    return None


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=_JSON, headers=headers)


def _behaviour_dict(behaviour: Behaviour) -> dict[str, Any]:
    return {f.name: getattr(behaviour, f.name) for f in fields(behaviour)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fakes",
        description="Serve a fake vLLM/OpenAI chat server (for load tests and local runs).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default %(default)s)")
    parser.add_argument("--name", default="edge",
                        help="the fake's name: which x_fake entry it obeys (default %(default)s)")
    parser.add_argument("--model", default="fake-model", help="model id it reports")
    parser.add_argument("--flavor", choices=["vllm", "openai"], default=None,
                        help="response shapes (default: vllm for edge, openai otherwise)")
    parser.add_argument("--mode", choices=sorted(MODES), default="tool_call",
                        help="default behaviour (default %(default)s)")
    parser.add_argument("--delay-s", type=float, default=0.0, help="delay before each answer")
    parser.add_argument("--logprob", type=float, default=-0.05,
                        help="log-probability reported per token (default %(default)s)")
    parser.add_argument("--no-record", action="store_true",
                        help="don't keep requests for GET /_fake/requests (load tests)")
    args = parser.parse_args(argv)
    import uvicorn  # only the standalone server needs it

    flavor: Flavor = args.flavor or ("vllm" if args.name == "edge" else "openai")
    fake = FakeUpstream(args.name, args.model, flavor,
                        Behaviour(mode=args.mode, delay_s=args.delay_s, logprob=args.logprob),
                        record=not args.no_record)
    uvicorn.run(fake, host=args.host, port=args.port, log_level="warning", access_log=False,
                lifespan="off")


if __name__ == "__main__":
    main()
