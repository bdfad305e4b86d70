"""The verifier's feature values are frozen: a rewrite for speed must not move any of them.

``features_frozen.json`` holds the vectors that the implementation before the speed rewrite
(commit 7f15c6f) computed for ~1,200 synthetic drafts of 400 generated requests: a digest of
every vector (exact: ``repr`` of each float) and the full vectors of the first ones, for a
readable diff. The generator below is deterministic (only ``Random.random``, whose sequence
Python keeps stable) and deliberately awkward: camelCase and snake_case, Unicode case and
digits, numbers with scales and number words, proper names, duplicate and unknown tools,
schemas without types or with type lists, malformed arguments, nested and long values.

Regenerate (only when a feature is meant to change, and say so in the commit)::

    python -m tests.gateway.routing.verifier.test_features_frozen
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path
from typing import Any

from gateway.routing.verifier import (
    FEATURE_NAMES,
    LogprobSummary,
    SampleSummary,
    clear_caches,
    features,
    prepare,
)

FROZEN = Path(__file__).with_name("features_frozen.json")
N_REQUESTS = 400
N_FULL = 30

WORDS = (
    "weather forecast city days stock price calculate area triangle base height interest "
    "rate principal book flight hotel from to the and each both respectively then plus also "
    "in for of with please find get units percent million thousand k m bn three twice half "
    "dozen one ten v2 H2O x-5 per year time period total amount user name id list of sort "
    "ascending order distance between velocity mass energy temperature celsius fahrenheit"
).split()
NAMES = (
    "Paris", "London", "New York", "NYSE", "Zürich", "O'Brien", "AT&T", "Dr. Smith",
    "McDonald's", "iPhone", "São Paulo", "İstanbul", "ΟΔΟΣ", "K-9", "Tokyo", "Apple",
)  # fmt: skip
NUMBERS = (
    "10", "1,500", "3.14", "-7", "+4", "5%", "2 million", "1.5e3", "10k", "٣", "0.05",
    "6 PM", "1,000,000", "42", "0", "7.", "x-5", "v22", "1e400", "12 percent", "3 bn",
)  # fmt: skip
CAMEL = ("getWeatherForecast", "stockPrice2Get", "HTTPServer", "snake_case_name", "calcArea")
PUNCT = (",", ";", ".", "?", "!", " -", " (", ")", '"', ":", "'")
TYPES = ("string", "integer", "number", "boolean", "array", "object", "date", None)


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def u(self) -> float:
        return self.rng.random()

    def pick(self, seq: Any) -> Any:
        return seq[int(self.u() * len(seq))]

    def n(self, low: int, high: int) -> int:
        return low + int(self.u() * (high - low + 1))

    def sentence(self) -> str:
        parts = []
        for _ in range(self.n(1, 28)):
            r = self.u()
            if r < 0.55:
                parts.append(self.pick(WORDS))
            elif r < 0.7:
                parts.append(self.pick(NAMES))
            elif r < 0.85:
                parts.append(self.pick(NUMBERS))
            elif r < 0.92:
                parts.append(self.pick(CAMEL))
            else:
                parts.append(self.pick(PUNCT))
        text = " ".join(parts)
        return text.capitalize() if self.u() < 0.5 else text

    def message(self) -> Any:
        r = self.u()
        if r < 0.05:
            return "not a message"
        role = self.pick(("user", "user", "user", "system", "assistant", "tool", None))
        content: Any = self.sentence()
        if self.u() < 0.15:
            content = [{"type": "text", "text": self.sentence()}, {"type": "image"}]
        elif self.u() < 0.05:
            content = None
        message: dict[str, Any] = {"content": content}
        if role is not None:
            message["role"] = role
        return message

    def schema(self) -> Any:
        r = self.u()
        if r < 0.05:
            return None
        if r < 0.08:
            return "string"
        schema: dict[str, Any] = {}
        kind = self.pick(TYPES)
        if self.u() < 0.1:
            schema["type"] = [kind, "null"]
        elif kind is not None:
            schema["type"] = kind
        if self.u() < 0.2:
            schema["enum"] = [self.pick(WORDS) for _ in range(self.n(1, 4))]
            if self.u() < 0.3:
                schema["enum"].append(self.n(0, 12))
        if self.u() < 0.3:
            schema["description"] = self.sentence()
        return schema

    def tool(self, names: list[str]) -> Any:
        if self.u() < 0.04:
            return self.pick(("junk", {"function": "junk"}, {"function": {"name": 7}}))
        name = self.pick(names)
        props = {self.pick(WORDS + list(CAMEL)): self.schema() for _ in range(self.n(0, 5))}
        required: Any = [p for p in props if self.u() < 0.5]
        if self.u() < 0.1:
            required.append(self.pick((3, "nonexistent")))
        if self.u() < 0.05:
            required = "city"
        function: dict[str, Any] = {"name": name}
        if self.u() < 0.9:
            function["description"] = self.sentence() if self.u() < 0.95 else 12
        if self.u() < 0.95:
            function["parameters"] = {"type": "object", "properties": props, "required": required}
        return {"type": "function", "function": function} if self.u() < 0.85 else function

    def value(self, text: str, depth: int = 0) -> Any:
        r = self.u()
        words = text.split() or ["x"]
        if r < 0.3:  # a fragment of the conversation
            start = self.n(0, len(words) - 1)
            return " ".join(words[start : start + self.n(1, 3)])
        if r < 0.4:
            return self.pick(NUMBERS)
        if r < 0.55:
            return self.pick((3, 10, 1500, 0.05, -7, 42.0, 1e300, 2, 0))
        if r < 0.62:
            return self.pick((True, False, None, ""))
        if r < 0.7:
            return self.sentence() + " " + self.sentence()
        if r < 0.8 and depth < 3:
            if self.u() < 0.5:
                return [self.value(text, depth + 1) for _ in range(self.n(0, 3))]
            return {self.pick(WORDS): self.value(text, depth + 1) for _ in range(self.n(0, 3))}
        return self.pick(WORDS + list(NAMES) + list(CAMEL))

    def call(self, names: list[str], text: str, params: dict[str, list[str]]) -> Any:
        r = self.u()
        if r < 0.03:
            return "not a call"
        if r < 0.05:
            return {"function": "nope"}
        name = self.pick(names) if self.u() < 0.85 else self.pick(("unknown_tool", "", None))
        known = params.get(name) or [] if isinstance(name, str) else []
        args: Any = {
            self.pick(known) if known and self.u() < 0.7 else self.pick(WORDS + list(CAMEL)):
            self.value(text) for _ in range(self.n(0, 5))
        }  # fmt: skip
        if self.u() < 0.02:
            args = {"many": list(range(300))}
        r = self.u()
        if r < 0.08:
            arguments: Any = self.pick(('{"city": "Paris"', "[1, 2]", "null", "", "{" * 50))
        elif r < 0.15:
            arguments = args  # an object, not a JSON string
        else:
            arguments = json.dumps(args, ensure_ascii=self.u() < 0.5)
        function: dict[str, Any] = {"name": name, "arguments": arguments}
        if self.u() < 0.03:
            del function["arguments"]
        return {"id": "c", "type": "function", "function": function}

    def draft(self, names: list[str], text: str, params: dict[str, list[str]]) -> Any:
        r = self.u()
        if r < 0.08:
            return None
        if r < 0.15:
            return []
        calls = [self.call(names, text, params) for _ in range(self.n(1, 4))]
        if self.u() < 0.15:
            calls.append(calls[0])  # a duplicate
        return calls

    def extras(self) -> tuple[LogprobSummary | None, SampleSummary | None]:
        lp = None
        if self.u() < 0.4:
            mean = self.pick((-0.3, -2.5, -25.0, 0.0, math.nan, -1.1))
            lp = LogprobSummary(mean, self.pick((-3.0, -40.0, -0.5, -math.inf)), self.n(0, 900))
        samples = None
        if self.u() < 0.3:
            samples = SampleSummary(self.n(0, 5), self.u(), self.u(), self.u())
        return lp, samples


def cases() -> list[tuple[Any, Any, list[tuple[Any, Any, Any]]]]:
    """(messages, tools, [(draft tool_calls, logprobs, samples), ...]) per request."""
    gen = Gen(20261207)
    out = []
    for _ in range(N_REQUESTS):
        messages = [gen.message() for _ in range(gen.n(0, 3) if gen.u() < 0.3 else 1)]
        names = [gen.pick(WORDS) + "_" + gen.pick(WORDS) for _ in range(gen.n(1, 5))]
        names += [gen.pick(CAMEL)]
        tools = [gen.tool(names) for _ in range(gen.n(0, 5))]
        text = " ".join(m["content"] for m in messages if isinstance(m, dict)
                        and isinstance(m.get("content"), str))  # fmt: skip
        params = {}
        for tool in tools:
            function = tool.get("function", tool) if isinstance(tool, dict) else None
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                props = (function.get("parameters") or {}).get("properties") or {}
                params[function["name"]] = list(props)
        drafts = [(gen.draft(names, text, params), *gen.extras()) for _ in range(gen.n(1, 5))]
        out.append((messages, tools, drafts))
    return out


def vectors() -> list[tuple[float, ...]]:
    out = []
    for messages, tools, drafts in cases():
        ctx = prepare(messages, tools)
        out.extend(features(ctx, calls, lp, samples) for calls, lp, samples in drafts)
    return out


def digest(vector: tuple[float, ...]) -> str:
    return hashlib.sha256("|".join(map(repr, vector)).encode()).hexdigest()[:16]


def test_feature_values_match_the_frozen_implementation():
    frozen = json.loads(FROZEN.read_text(encoding="utf-8"))
    assert frozen["feature_names"] == list(FEATURE_NAMES)
    clear_caches()
    cold = vectors()
    warm = vectors()  # every tool list and tool seen before: the cached path
    assert len(cold) == len(frozen["digests"]) > 900
    for i, (full, vector) in enumerate(zip(frozen["full"], cold, strict=False)):
        moved = [
            n for n, a, b in zip(FEATURE_NAMES, full, vector, strict=True) if repr(a) != repr(b)
        ]
        assert not moved, f"vector {i}: {moved} moved"
    for which, got in (("cold", cold), ("warm", warm)):
        moved = [i for i, (d, v) in enumerate(zip(frozen["digests"], got, strict=True))
                 if d != digest(v)]  # fmt: skip
        assert not moved, f"{which} caches: vectors {moved[:20]} moved ({len(moved)} in all)"


def test_the_generator_covers_the_awkward_cases():
    """The frozen cases exercise what the rewrite could break, not only the easy paths."""
    x = [dict(zip(FEATURE_NAMES, v, strict=True)) for v in vectors()]
    assert sum(v["draft_no_call"] for v in x) > 50
    assert sum(v["draft_bad_arguments"] > 0 for v in x) > 50
    assert sum(v["draft_unknown_tool"] > 0 for v in x) > 50
    assert sum(v["draft_duplicate_calls"] > 0 for v in x) > 30
    assert sum(0 < v["draft_strings_grounded"] < 1 for v in x) > 50
    assert sum(v["draft_request_names_used"] < 1 for v in x) > 50
    assert sum(v["draft_enum_violation"] > 0 for v in x) > 10
    assert sum(v["draft_type_mismatch"] > 0 for v in x) > 50
    assert sum(v["lp_present"] for v in x) > 100 and sum(v["sc_present"] for v in x) > 50
    assert len({v["req_best_overlap"] for v in x}) > 50


def _regenerate() -> None:
    vs = vectors()
    doc = {
        "feature_names": list(FEATURE_NAMES),
        "digests": [digest(v) for v in vs],
        "full": [list(v) for v in vs[:N_FULL]],
    }
    FROZEN.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{FROZEN}: {len(vs)} vectors")


if __name__ == "__main__":
    _regenerate()


def test_tools_differing_only_in_schemas_share_the_cache_not_the_checks():
    """The tool-list memo is keyed by names, descriptions and parameter names; the types and
    enums come from each request's own schemas."""

    def tools(kind: str, enum: list[str] | None) -> list[dict[str, Any]]:
        schema: dict[str, Any] = {"type": kind} | ({"enum": enum} if enum else {})
        params = {"type": "object", "properties": {"city": schema}, "required": ["city"]}
        return [{"type": "function", "function": {"name": "f", "parameters": params}}]

    ask = [{"role": "user", "content": "weather in Paris"}]
    draft = [{"function": {"name": "f", "arguments": '{"city": "Paris"}'}}]
    clear_caches()
    for _ in range(2):  # cold, then every tool list seen before

        def x(kind: str, enum: list[str] | None) -> dict[str, float]:
            vector = features(prepare(ask, tools(kind, enum)), draft)
            return dict(zip(FEATURE_NAMES, vector, strict=True))

        as_string, as_int, enum = x("string", None), x("integer", None), x("string", ["Oslo"])
        assert as_string["draft_type_mismatch"] == 0.0 and as_int["draft_type_mismatch"] == 1.0
        assert enum["draft_enum_violation"] == 1.0 and as_string["draft_enum_violation"] == 0.0
