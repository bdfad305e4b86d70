"""Coverage-guided fuzzing (atheris, libFuzzer) of the request parser and the schema guard.

    python -m bench.fuzz parser --seconds 300

One input is a request body and, after a NUL byte, an edge draft's ``tool_calls`` (JSON). The
target does what the gateway does with them: ``orjson.loads`` + ``parse_request`` (the chat
route's parse, gateway/protocol/chat.py), and for a body that parses, the draft inspection: the
offload signal (gateway/routing/offload.py) and ``check_tool_calls`` of the draft against the
request's tool schemas (gateway/routing/schema_guard.py), which compiles the client's JSON
Schemas with fastjsonschema. The only outcomes allowed are a ``RequestError`` (the
400 the route answers) or a ``SchemaCheck``; any other exception is a crash libFuzzer reports,
with the input saved as ``crash-*`` in the output directory.

Runs in a child process (libFuzzer exits the process when done); the parent reads libFuzzer's
final statistics.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# seeds: the shapes real clients send (the first few bytes guide the mutator to valid JSON)
_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 1, "pattern": "^[A-Z]"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
            },
            "required": ["city"],
            "$defs": {"tag": {"type": "string", "maxLength": 8}},
        },
    },
}
_CALL = {"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\", \"unit\": \"celsius\"}"}}
OFFLOAD_TOOL = "request_cloud_assistance"  # the default NETGPT_ROUTING_OFFLOAD_TOOL
SEEDS: list[tuple[dict[str, Any], Any]] = [
    ({"model": "auto", "messages": [{"role": "user", "content": "Weather in Oslo?"}], "tools": [_TOOL]}, [_CALL]),
    ({"model": "edge", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "x"},
      {"role": "assistant", "tool_calls": [_CALL]}, {"role": "tool", "tool_call_id": "c1", "content": "9"}],
      "tools": [_TOOL], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
      "parallel_tool_calls": False, "max_tokens": 64, "stream": True}, [_CALL, _CALL]),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "tool_choice": "none",
      "n": 1, "temperature": 0.2, "stop": ["\n"]}, []),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [_TOOL], "tool_choice": "required"},
     [{"function": {"name": "get_weather", "arguments": "[1]"}}]),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [_TOOL], "user": "a <unknown> b"},
     [_CALL, {"id": "c2", "type": "function", "function": {"name": OFFLOAD_TOOL, "arguments": "{}"}}]),
]
DICTIONARY = [
    '"role"', '"user"', '"assistant"', '"tool"', '"system"', '"content"', '"messages"', '"tools"',
    '"function"', '"name"', '"parameters"', '"arguments"', '"tool_calls"', '"tool_choice"',
    '"required"', '"type"', '"object"', '"string"', '"integer"', '"array"', '"properties"',
    '"pattern"', '"$ref"', '"#/$defs/"', '"enum"', '"minimum"', '"items"', '"anyOf"', '"oneOf"',
    '"format"', '"null"', '"n"', '"max_tokens"', '"stream"', '"parallel_tool_calls"', "true",
    "false", "null", '"\\u0000"', "1e999", "-0", "[]", "{}",
]


def target() -> None:
    """The child: instrument the gateway modules, then hand the loop to libFuzzer."""
    import atheris

    with atheris.instrument_imports(include=["gateway", "fastjsonschema"]):
        import orjson

        from gateway.errors import RequestError
        from gateway.protocol.chat import parse_request
        from gateway.routing.offload import requests_offload, strip_offload
        from gateway.routing.schema_guard import ValidatorCache, check_tool_calls, tool_schemas

    cache = ValidatorCache(max_size=256)

    def one_input(data: bytes) -> None:
        body, _, draft = data.partition(b"\0")
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            return  # the route answers 400 "not valid JSON"
        try:
            request = parse_request(raw)
        except RequestError:
            return  # a 400 naming the field
        try:
            calls = orjson.loads(draft) if draft else None
        except orjson.JSONDecodeError:
            calls = None
        # the draft inspection's order: offload signal, then the schema guard
        message = {"role": "assistant", "content": raw.get("user"), "tool_calls": calls}
        if requests_offload(message, "<unknown>", OFFLOAD_TOOL):
            message = strip_offload(message, "<unknown>", OFFLOAD_TOOL)
        check_tool_calls(
            message.get("tool_calls"),
            tool_schemas(raw.get("tools")),
            cache,
            tool_choice=raw.get("tool_choice"),
            parallel_tool_calls=request.parallel_tool_calls,
        )

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


_STAT = re.compile(r"^stat::(\w+):\s+(\d+)$", re.M)
_COV = re.compile(r"cov: (\d+) ft: (\d+)")


def run(out: Path, *, seconds: int, seed: int = 1, rss_limit_mb: int = 2048) -> dict[str, Any]:
    """Fuzz for ``seconds``; returns executions, coverage, crashes (files) and the log tail."""
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, (body, calls) in enumerate(SEEDS):
        (corpus / f"seed-{i}").write_bytes(json.dumps(body).encode() + b"\0" + json.dumps(calls).encode())
    # libFuzzer's dictionary format: one double-quoted token a line, \\ and \" escaped
    quoted = ['"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in DICTIONARY]
    (out / "json.dict").write_text("\n".join(quoted) + "\n")
    cmd = [
        sys.executable, "-m", "bench.fuzz.parser", "--child",
        f"-max_total_time={seconds}", f"-seed={seed}", f"-rss_limit_mb={rss_limit_mb}",
        "-max_len=8192", "-timeout=10", "-print_final_stats=1", f"-dict={out / 'json.dict'}",
        f"-artifact_prefix={out}/", str(corpus),
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    log = proc.stdout + proc.stderr
    (out / "libfuzzer.log").write_text(log)
    stats = {name: int(value) for name, value in _STAT.findall(log)}
    cov = _COV.findall(log)
    crashes = sorted(p.name for p in out.glob("crash-*")) + sorted(p.name for p in out.glob("timeout-*"))
    return {
        "exit_code": proc.returncode,
        "seconds": seconds,
        "wall_s": round(time.monotonic() - started, 1),
        "executions": stats.get("number_of_executed_units", 0),
        "execs_per_s": stats.get("average_exec_per_sec", 0),
        "peak_rss_mb": stats.get("peak_rss_mb", 0),
        "coverage_edges": int(cov[-1][0]) if cov else 0,
        "features": int(cov[-1][1]) if cov else 0,
        "corpus_files": len(list(corpus.iterdir())),
        "crashes": crashes,
        "log_tail": "\n".join(log.splitlines()[-40:]),
    }


if __name__ == "__main__" and "--child" in sys.argv:
    sys.argv.remove("--child")
    target()
