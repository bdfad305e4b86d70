"""One decoder per recorded output format: raw model output → what a client would receive.

The recorded answers (``results/<model>/…_result.json`` in the shared data; its README lists
the formats) are each model's raw output. A replay must hand the gateway what an
OpenAI-compatible server running that model's tool parser would: ``tool_calls`` in OpenAI's
shape when the parser accepts the output, else the text as ``content`` and no calls (how a
vLLM or llama.cpp server reports a failed parse). Each decoder follows the rule BFCL's handler
for that model applied when the recorded correctness was scored (gorilla,
``berkeley-function-call-leaderboard/model_handler/``, 2024), restated, not copied:

- ``openai_fc`` (``*-FC`` API models): a list of ``{function_name: "<JSON arguments>"}``; a
  string is a text answer. The arguments string is passed through unchanged, as the API does,
  even when it is not valid JSON (the checker then fails it, as BFCL's decoder did).
- ``xlam_json``: the text is JSON, ``{"tool_calls": [{"name", "arguments"}]}`` or a bare list
  of such entries; non-object entries are skipped; text that is not JSON, or JSON of another
  shape, is a failed parse.
- ``hermes``: a line that is exactly ``<tool_call>`` opens a call, the *next line* holds its
  JSON ``{"arguments", "name"}`` (BFCL replaces ``'`` by ``"`` on that line first; kept, so
  that the replay agrees with the recorded verdicts); any broken block fails the whole parse.
- ``python_calls`` (Llama-3-8B-Instruct): newlines removed, the text wrapped in ``[...]`` and
  read as Python call syntax (``pycall.parse_calls``).
- ``glm``: ``name\\n{JSON arguments}``, one call at most; a single line is text; a second line
  that is not JSON fails the parse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.common.replay.pycall import CallSyntaxError, parse_calls


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a client of an OpenAI-compatible server running the model would get.

    ``tool_calls`` are OpenAI-shaped (``{"id", "type": "function", "function": {"name",
    "arguments": str}}``), empty when there is no call; ``content`` is the text answer (the raw
    output when the parser failed or found no call); ``parsed`` is False when the model's
    parser rejected the output; ``error`` says why.
    """

    tool_calls: tuple[dict[str, Any], ...] = ()
    content: str | None = None
    parsed: bool = True
    error: str = ""
    format: str = ""

    def message(self) -> dict[str, Any]:
        """The assistant message of a Chat Completions response."""
        out: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [dict(c) for c in self.tool_calls]
        return out


def openai_name(name: str) -> str:
    """OpenAI tool names cannot hold ``.``; BFCL's OpenAI conversion writes ``_`` instead."""
    return name.replace(".", "_")


def tool_call(
    index: int, name: str, arguments: Any, *, openai_names: bool = True
) -> dict[str, Any]:
    """One OpenAI tool call; ``arguments`` is kept as is when already a string."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {
        "id": f"call_{index}",
        "type": "function",
        "function": {"name": openai_name(name) if openai_names else name, "arguments": text},
    }


def _ok(fmt: str, raw: str | None, calls: Sequence[tuple[str, Any]], openai_names: bool) -> Decoded:
    if not calls:
        return Decoded(content=raw, format=fmt)
    built = tuple(
        tool_call(i, name, args, openai_names=openai_names) for i, (name, args) in enumerate(calls)
    )
    return Decoded(tool_calls=built, content=None, format=fmt)


def _failed(fmt: str, raw: Any, error: str) -> Decoded:
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    return Decoded(content=text, parsed=False, error=error, format=fmt)


def decode_fc(result: Any, *, openai_names: bool = True) -> Decoded:
    """``openai_fc``: the API's own tool calls (a list of one-key dicts) or a text answer."""
    if isinstance(result, str):
        return Decoded(content=result, format="openai_fc")
    if not isinstance(result, list):
        return _failed(
            "openai_fc", result, f"expected a list of calls, got {type(result).__name__}"
        )
    calls: list[tuple[str, Any]] = []
    for item in result:
        if not isinstance(item, Mapping) or len(item) != 1:
            return _failed("openai_fc", result, "a call is not a one-key object")
        ((name, arguments),) = item.items()
        calls.append((str(name), arguments))
    return _ok("openai_fc", None, calls, openai_names)


def decode_xlam(text: str, *, openai_names: bool = True) -> Decoded:
    """``xlam_json``: ``{"tool_calls": [...]}`` or a bare list; ``[]`` is no call."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        return _failed("xlam_json", text, f"not JSON: {exc}")
    if isinstance(data, Mapping):
        entries = data.get("tool_calls", [])
    elif isinstance(data, list):
        entries = data
    else:
        return _failed("xlam_json", text, f"JSON {type(data).__name__}, not tool calls")
    if not isinstance(entries, list):
        return _failed("xlam_json", text, "tool_calls is not a list")
    calls = [
        (str(e.get("name", "")), e.get("arguments", {})) for e in entries if isinstance(e, Mapping)
    ]
    return _ok("xlam_json", text, calls, openai_names)


def decode_hermes(text: str, *, openai_names: bool = True) -> Decoded:
    """``hermes``: ``<tool_call>`` on its own line, the call's JSON on the next."""
    if not isinstance(text, str):
        return _failed("hermes", text, "not text")
    calls: list[tuple[str, Any]] = []
    opened = False
    for line in text.split("\n"):
        if line == "<tool_call>":
            opened = True
            continue
        if line == "</tool_call>" or not opened:
            opened = False
            continue
        opened = False
        try:
            body = json.loads(line.replace("'", '"'))
            calls.append((str(body["name"]), body["arguments"]))
        except (ValueError, TypeError, KeyError) as exc:
            return _failed("hermes", text, f"tool call is not JSON with name and arguments: {exc}")
    return _ok("hermes", text, calls, openai_names)


def decode_python_calls(text: str, *, openai_names: bool = True) -> Decoded:
    """``python_calls``: ``[f(a=1), g(b='x')]`` (brackets optional), keywords only."""
    if not isinstance(text, str):
        return _failed("python_calls", text, "not text")
    flat = text.replace("\n", "")
    wrapped = ("" if flat.startswith("[") else "[") + flat + ("" if flat.endswith("]") else "]")
    try:
        calls = parse_calls(wrapped)
    except CallSyntaxError as exc:
        return _failed("python_calls", text, str(exc))
    try:
        return _ok("python_calls", text, calls, openai_names)
    except (TypeError, ValueError) as exc:  # a value JSON cannot hold
        return _failed("python_calls", text, f"arguments are not JSON: {exc}")


def decode_glm(text: str, *, openai_names: bool = True) -> Decoded:
    """``glm``: the function name on the first line, its JSON arguments on the second."""
    if not isinstance(text, str):
        return _failed("glm", text, "not text")
    lines = text.split("\n")
    if len(lines) == 1:
        return Decoded(content=text, format="glm")
    try:
        arguments = json.loads(lines[1])
    except ValueError as exc:
        return _failed("glm", text, f"second line is not JSON: {exc}")
    return _ok("glm", text, [(lines[0], arguments)], openai_names)


Decoder = Callable[..., Decoded]
FORMATS: dict[str, Decoder] = {
    "openai_fc": decode_fc,
    "xlam_json": decode_xlam,
    "hermes": decode_hermes,
    "python_calls": decode_python_calls,
    "glm": decode_glm,
}


def format_for(model: str) -> str:
    """The output format of a recorded model, from its BFCL name; ``KeyError`` when unknown."""
    rules = (
        ("-FC", "openai_fc"),
        ("xLAM", "xlam_json"),
        ("Hermes", "hermes"),
        ("Llama-3", "python_calls"),
        ("glm-4", "glm"),
    )
    for marker, fmt in rules:
        if marker in model:
            return fmt
    raise KeyError(
        f"no decoder known for model {model!r}; known formats: {', '.join(FORMATS)} "
        "(pass the format explicitly)"
    )


def decode(fmt: str, raw: Any, *, openai_names: bool = True) -> Decoded:
    """Decode one recorded ``result`` in format ``fmt`` (a key of ``FORMATS``)."""
    try:
        decoder = FORMATS[fmt]
    except KeyError:
        raise KeyError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}") from None
    return decoder(raw, openai_names=openai_names)
