"""The verifier's features: cheap facts about the request and the edge draft. Pure, no I/O.

Why these: on real edge models the token log-probabilities separate right from wrong tool calls
poorly (docs/edge-signal.md: AUC 0.66 on SmolLM2), while a wrong draft often shows in how it
relates to the request — a value the user never wrote, a number of the request left unused, a
tool whose name shares no word with the question, a call where no tool fits. Each feature below
is documented in ``FEATURE_DOCS`` with the failure it looks for. Every feature is bounded (a
share in [0, 1], a ``log1p`` of a count, or a clipped log-prob), so a linear model on them
cannot be pushed to extremes by one odd request.

Usage::

    ctx = prepare(messages, tools)              # the request side, once per request
    x = features(ctx, draft_tool_calls, lp)     # full vector, aligned with FEATURE_NAMES

A request-only model (the pre-draft skip) reads only the request part of the vector, so
``features(ctx, ())`` serves it before any draft exists.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.routing.verifier.consistency import SampleSummary
from gateway.routing.verifier.draft import VECTOR_ORDER, DraftStats, draft_stats
from gateway.routing.verifier.text import (
    content_stems,
    normalise,
    number_key,
    numbers,
    proper_names,
    readings,
    word_forms,
    words,
    written_and_readings,
)
from gateway.routing.verifier.tools import ToolInfo, tool_set
from gateway.routing.verifier.tools import clear_caches as clear_tools

REQUEST_DOCS: dict[str, str] = {
    "req_tools": "log1p(tools offered): more tools, more ways to pick the wrong one",
    "req_words": "log1p(content words asked): long requests carry more values to get right",
    "req_numbers": "log1p(numbers written): each is a value the calls must carry exactly",
    "req_enumeration": "log1p(and / , / ; / each / both / respectively): several calls wanted",
    "req_best_overlap": "best word overlap of the request with one tool: low → no tool fits",
    "req_overlap_margin": "best minus second-best tool overlap: small → tools are confusable",
    "req_name_overlap": "best share of a tool name's words found in the request",
    "req_coverage": "share of the request's words the best tool mentions: low → off-topic tool",
    "req_shared_words": "log1p(words the request shares with its closest tool): 0–1 → no fit",
    "req_required": "log1p(mean required parameters per tool): more values to fill",
    "req_turns": "log1p(messages): multi-turn requests are harder for small models",
}
DRAFT_DOCS: dict[str, str] = {
    "draft_no_call": "the draft makes no call: right only when no tool fits",
    "draft_no_call_x_overlap": "no call while a tool overlaps the request well: likely a miss",
    "draft_calls": "log1p(calls): several calls are where small models miscount",
    "draft_calls_per_tool": "calls per offered tool: parallel requests call one tool often",
    "draft_calls_minus_enumeration": "calls minus 1 + enumeration markers, clipped to [-3, 3]",
    "draft_bad_arguments": "share of calls whose arguments are not a JSON object",
    "draft_unknown_tool": "share of calls naming a tool not offered",
    "draft_duplicate_calls": "share of calls repeating an earlier identical call",
    "draft_distinct_tools": "distinct tools called per tool offered",
    "draft_missing_required": "share of required parameters left out",
    "draft_unknown_params": "share of arguments outside the tool's parameters",
    "draft_optional_filled": "share of optional parameters filled: invented defaults are wrong",
    "draft_type_mismatch": "share of arguments whose JSON type differs from the schema's",
    "draft_enum_violation": "share of enum-constrained arguments outside the enum",
    "draft_values_grounded": "share of argument values written literally in the conversation",
    "draft_strings_grounded": "share of string values found in the conversation",
    "draft_numbers_grounded": "share of numeric values among the request's numbers",
    "draft_request_numbers_used": "share of the request's numbers some argument carries",
    "draft_chosen_overlap": "mean word overlap of the request with each called tool",
    "draft_chosen_is_best": "share of calls to the tool that overlaps the request best",
    "draft_chosen_name_overlap": "mean share of the called tool name's words in the request",
    "draft_chosen_coverage": "mean share of the request's words the called tool mentions",
    "draft_chosen_shared_words": "mean log1p(words the request shares with the called tool)",
    "draft_chosen_jaccard": "mean Jaccard similarity of the request's and called tool's words",
    "draft_param_names_asked": "share of argument names whose words the request uses",
    "draft_required_grounded": "share of required arguments whose value the conversation holds",
    "draft_numeric_surplus": "numeric values minus numbers written, clipped to [-3, 3]",
    "draft_optional_ungrounded": "share of filled optional arguments the conversation lacks: "
    "an invented default (unit='units') fails the checker",
    "draft_ungrounded_values": "log1p(string and number values not in the conversation)",
    "draft_request_names_used": "share of the request's capitalised names some argument holds",
    "draft_numbers_literal": "share of numeric values written as such by the user (0.05 for "
    "'5%' or 18 for '6 PM' is a conversion the checker often rejects)",
    "draft_args_per_call": "log1p(mean arguments per call)",
    "draft_value_length": "log1p(mean string value length): long values are often invented",
    "draft_long_values": "share of string values over 40 characters",
    "draft_nested_values": "share of arguments holding an object or array",
    "draft_empty_values": "share of values that are empty strings or null",
}
# a linear model cannot tell "no call, and a tool fits" from "no call, nothing fits" without
# products: each is the draft_no_call indicator times one request feature
NO_CALL_INTERACTIONS = (
    "req_tools",
    "req_words",
    "req_numbers",
    "req_enumeration",
    "req_overlap_margin",
    "req_name_overlap",
    "req_coverage",
    "req_shared_words",
)
DRAFT_DOCS.update(
    {
        f"draft_no_call_x_{name[4:]}": f"draft_no_call × {name}: a missed call looks like this"
        for name in NO_CALL_INTERACTIONS
    }
)
LOGPROB_DOCS: dict[str, str] = {
    "lp_present": "1 when the edge returned log-probs (the other lp_ features are 0 otherwise)",
    "lp_mean": "mean token log-prob of the draft, clipped to [-20, 0]",
    "lp_min": "least likely token's log-prob, clipped to [-30, 0]",
    "lp_sum": "the draft's log-likelihood, clipped to [-300, 0], divided by 10",
}
SAMPLE_DOCS: dict[str, str] = {
    "sc_present": "1 when k sampled drafts were drawn beside the draft (self-consistency on, "
    "NETGPT_EDGE_SAMPLES > 0; the other sc_ features are 0 otherwise)",
    "sc_agreement": "share of the samples making exactly the draft's calls: a model that "
    "answers the same way when asked again is more often right",
    "sc_name_agreement": "share of the samples calling the same functions as the draft (the "
    "values may differ): separates a wrong tool from a wrong value",
    "sc_distinct": "distinct answers among the draft and its samples over k + 1: "
    "1/(k+1) when all agree, 1 when all differ",
}
FEATURE_DOCS: dict[str, str] = {**REQUEST_DOCS, **DRAFT_DOCS, **LOGPROB_DOCS, **SAMPLE_DOCS}
REQUEST_FEATURES: tuple[str, ...] = tuple(REQUEST_DOCS)
DRAFT_FEATURES: tuple[str, ...] = tuple(DRAFT_DOCS)
LOGPROB_FEATURES: tuple[str, ...] = tuple(LOGPROB_DOCS)
SAMPLE_FEATURES: tuple[str, ...] = tuple(SAMPLE_DOCS)
if DRAFT_FEATURES != VECTOR_ORDER + tuple(f"draft_no_call_x_{n[4:]}" for n in NO_CALL_INTERACTIONS):
    raise ImportError("draft.VECTOR_ORDER differs from DRAFT_DOCS: keep them in one order")
FEATURE_NAMES: tuple[str, ...] = (
    REQUEST_FEATURES + DRAFT_FEATURES + LOGPROB_FEATURES + SAMPLE_FEATURES
)

_ENUMERATION = frozenset({"and", "each", "both", "respectively", "also", "then", "plus"})


@dataclass(frozen=True, slots=True)
class LogprobSummary:
    """The draft's token log-probabilities, summarised (``gateway.routing.score``)."""

    mean: float
    min: float
    n_tokens: int


@dataclass(slots=True)
class RequestContext:
    """The request side, computed once per request (``prepare``); read-only by convention (not
    ``frozen``: a frozen dataclass's ``__init__`` costs 3x as much, on every request)."""

    text: str  # normalised conversation text with a space at each end, for substring tests
    vocabulary: frozenset[str]  # every word of the conversation
    stems: frozenset[str]  # content stems of the conversation
    numbers: frozenset[float]  # every reading of every number in the conversation (number_key)
    written: tuple[float, ...]  # distinct numbers the user wrote in digits (number_key)
    names: frozenset[str]  # capitalised words of the request, lower-cased
    enumeration: int
    tools: Mapping[str, ToolInfo]  # memoised per tool list (``tools.tool_set``)
    schemas: Mapping[str, Mapping[str, Any]]  # tool name → this request's parameter schemas
    overlap: Mapping[str, float]  # tool name → word overlap with the request
    coverage: Mapping[str, float]  # tool name → share of the request's stems the tool mentions
    shared: Mapping[str, int]  # tool name → stems shared with the request
    best_tool: str | None
    vector: tuple[float, ...]  # the request features, in REQUEST_FEATURES order


def message_text(message: Mapping[str, Any]) -> str:
    """A message's text: a string content or the text parts of a list content."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, Mapping) and "text" in p
        )
    return ""


def clear_caches() -> None:
    """Forget memoised tool lists, tool and name tokenisations (for cold-start timings)."""
    from gateway.routing.verifier.draft import clear_caches as clear_draft

    clear_tools()
    clear_draft()


def _conversation(messages: Sequence[Mapping[str, Any]]) -> tuple[str, str, int]:
    """(the user's text, every message's text, messages counted)."""
    if len(messages) == 1:  # the common case: one user turn
        message = messages[0]
        if type(message) is dict or isinstance(message, Mapping):
            text = message_text(message)  # the user's text, or the only text there is
            return text, text, 1
    turns = [(m.get("role"), message_text(m)) for m in messages if isinstance(m, Mapping)]
    texts = [text for _, text in turns]
    asked = " ".join(t for role, t in turns if role in ("user", None)) or " ".join(texts)
    return asked, " ".join(texts), len(texts)


def prepare(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
) -> RequestContext:
    """Analyse the request once: its words, numbers and each tool's overlap with it."""
    asked, every, turns = _conversation(messages)
    asked_tokens, plain, has_digits = word_forms(asked)
    tokens = asked_tokens if every == asked else words(every)
    stems = content_stems(asked_tokens)
    toolset, schemas = tool_set(tools)
    n_stems = len(stems)
    overlap: dict[str, float] = {}
    coverage: dict[str, float] = {}
    shared: dict[str, int] = {}
    best: str | None = None
    first = second = -1.0  # the two highest overlaps
    name_overlap = 0.0
    for name, info in toolset.infos.items():
        common = shared[name] = len(stems & info.stems)
        n_tool = len(info.stems)
        value = overlap[name] = common / min(n_stems, n_tool) if n_stems and n_tool else 0.0
        coverage[name] = common / n_stems if n_stems else 0.0
        if value > first:
            first, second, best = value, first, name
        elif value > second:
            second = value
        if info.name_stems:
            name_overlap = max(name_overlap, len(info.name_stems & stems) / len(info.name_stems))
    enumeration = sum(map(_ENUMERATION.__contains__, asked_tokens))
    enumeration += asked.count(",") + asked.count(";")
    if has_digits:
        digits, found = written_and_readings(asked, asked_tokens)
    else:
        digits, found = [], readings(asked, [], asked_tokens)
    written = [number_key(v) for v in digits]
    if every == asked:
        keys = frozenset(written + [number_key(v) for v in found[len(digits) :]])
    else:
        keys = frozenset(number_key(v) for v in numbers(every, tokens=tokens))
    vector = (
        toolset.tools_feature,
        math.log1p(n_stems),
        math.log1p(len(found)),
        math.log1p(enumeration),
        first if best is not None else 0.0,
        (first - second if second >= 0 else first) if best is not None else 0.0,
        name_overlap,
        coverage[best] if best is not None else 0.0,
        math.log1p(max(shared.values(), default=0)),
        toolset.required_feature,
        math.log1p(turns),
    )
    return RequestContext(
        text=f" {' '.join(plain) if every == asked else normalise(every)} ",
        vocabulary=frozenset(tokens),
        stems=stems,
        numbers=keys,
        written=tuple(dict.fromkeys(written)),
        names=frozenset(proper_names(asked)),
        enumeration=enumeration,
        tools=toolset.infos,
        schemas=schemas,
        overlap=overlap,
        coverage=coverage,
        shared=shared,
        best_tool=best,
        vector=vector,
    )


def parse_calls(tool_calls: Sequence[Mapping[str, Any]] | None) -> list[tuple[str, Any]]:
    """(name, parsed arguments or None when they are not a JSON object) per call."""
    out: list[tuple[str, Any]] = []
    for call in tool_calls or ():
        function = call.get("function") if type(call) is dict or isinstance(call, Mapping) else None
        function = function if type(function) is dict or isinstance(function, Mapping) else {}
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except (ValueError, RecursionError):
                arguments = None
        out.append(
            (str(function.get("name") or ""), arguments if isinstance(arguments, dict) else None)
        )
    return out


def _logprob_part(logprobs: LogprobSummary | None) -> tuple[float, ...]:
    if logprobs is None or not (math.isfinite(logprobs.mean) and math.isfinite(logprobs.min)):
        return (0.0, 0.0, 0.0, 0.0)
    mean = min(0.0, max(-20.0, logprobs.mean))
    low = min(0.0, max(-30.0, logprobs.min))
    total = min(0.0, max(-300.0, logprobs.mean * max(0, logprobs.n_tokens)))
    return (1.0, mean, low, total / 10.0)


_NO_SAMPLES = (0.0, 0.0, 0.0, 0.0)


def _sample_part(samples: SampleSummary | None) -> tuple[float, ...]:
    if samples is None or samples.k <= 0:
        return _NO_SAMPLES
    return (1.0, samples.agreement, samples.name_agreement, samples.distinct)


def features(
    ctx: RequestContext,
    tool_calls: Sequence[Mapping[str, Any]] | None,
    logprobs: LogprobSummary | None = None,
    samples: SampleSummary | None = None,
) -> tuple[float, ...]:
    """The full feature vector (``FEATURE_NAMES`` order) of one draft for one request;
    ``samples``: the agreement of sampled drafts with it (``consistency.summarise``)."""
    stats: DraftStats = draft_stats(ctx, parse_calls(tool_calls))
    return ctx.vector + stats.vector(ctx) + _logprob_part(logprobs) + _sample_part(samples)


def extract(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    tool_calls: Sequence[Mapping[str, Any]] | None,
    logprobs: LogprobSummary | None = None,
    samples: SampleSummary | None = None,
) -> tuple[float, ...]:
    """``features(prepare(messages, tools), tool_calls, logprobs, samples)``."""
    return features(prepare(messages, tools), tool_calls, logprobs, samples)
