"""The draft side of the verifier's features (see ``features.DRAFT_DOCS`` for why each is
there): how the draft's calls fit the offered schemas and how well their values are grounded
in the conversation. Pure, no I/O."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gateway.routing.verifier.text import content_stems, normalise, number_key, numbers, words

if TYPE_CHECKING:
    from gateway.routing.verifier.features import RequestContext, ToolInfo

_MAX_LEAVES = 256  # a draft with more values is judged on its first 256
_MAX_DEPTH = 8
_LONG = 40
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


@lru_cache(maxsize=8192)
def _name_stems(name: str) -> frozenset[str]:
    return content_stems(words(name))


@lru_cache(maxsize=1)
def _interacting() -> tuple[tuple[str, int], ...]:
    """(feature name, index of its request feature) of each no-call interaction."""
    from gateway.routing.verifier.features import NO_CALL_INTERACTIONS, REQUEST_FEATURES

    return tuple(
        (f"draft_no_call_x_{name[4:]}", REQUEST_FEATURES.index(name))
        for name in NO_CALL_INTERACTIONS
    )


@lru_cache(maxsize=1)
def _draft_features() -> tuple[str, ...]:
    from gateway.routing.verifier.features import DRAFT_FEATURES

    return DRAFT_FEATURES


def clear_caches() -> None:
    _name_stems.cache_clear()


def _share(part: float, whole: float, default: float) -> float:
    return part / whole if whole else default


def _leaves(value: Any, depth: int = 0) -> Iterator[Any]:
    if isinstance(value, dict) and depth < _MAX_DEPTH:
        for v in value.values():
            yield from _leaves(v, depth + 1)
    elif isinstance(value, list) and depth < _MAX_DEPTH:
        for v in value:
            yield from _leaves(v, depth + 1)
    elif not isinstance(value, dict | list):
        yield value


def _type_ok(value: Any, schema: Any) -> bool | None:
    """Whether ``value`` has the schema's JSON type; None when the schema names none we know."""
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    kinds = kind if isinstance(kind, list) else [kind]
    allowed = [_TYPES[k] for k in kinds if isinstance(k, str) and k in _TYPES]
    if not allowed:
        return None
    if isinstance(value, bool):
        return any(bool in a for a in allowed)
    return any(isinstance(value, a) for a in allowed)


@dataclass(slots=True)
class DraftStats:
    """Counters over one draft's calls; ``vector`` turns them into the draft features."""

    calls: int = 0
    bad_arguments: int = 0
    unknown_tool: int = 0
    duplicates: int = 0
    distinct: set[str] = field(default_factory=set)
    required: int = 0
    missing_required: int = 0
    optional: int = 0
    optional_filled: int = 0
    arguments: int = 0
    unknown_params: int = 0
    typed: int = 0
    type_mismatch: int = 0
    enums: int = 0
    enum_violation: int = 0
    nested: int = 0
    values: int = 0  # string and number leaves that can be grounded
    grounded: int = 0
    strings: int = 0
    strings_grounded: int = 0
    nums: int = 0
    nums_grounded: int = 0
    empty: int = 0
    leaves: int = 0
    string_chars: int = 0
    long_strings: int = 0
    used_numbers: set[float] = field(default_factory=set)
    overlap: float = 0.0
    best: int = 0
    name_overlap: float = 0.0
    coverage: float = 0.0
    shared: float = 0.0
    jaccard: float = 0.0
    param_names: int = 0
    param_names_asked: int = 0
    required_values: int = 0
    required_grounded: int = 0
    numeric_values: set[float] = field(default_factory=set)
    optional_values: int = 0
    optional_ungrounded: int = 0
    value_words: set[str] = field(default_factory=set)
    nums_literal: int = 0

    def vector(self, ctx: RequestContext) -> tuple[float, ...]:
        n, tools = self.calls, len(ctx.tools)
        best_overlap = ctx.vector[4]
        no_call = 1.0 if n == 0 else 0.0
        written = ctx.written
        used = sum(1 for w in written if w in self.used_numbers)
        values = {
            "draft_no_call": no_call,
            "draft_no_call_x_overlap": no_call * best_overlap,
            "draft_calls": math.log1p(n),
            "draft_calls_per_tool": _share(n, tools, 0.0),
            "draft_calls_minus_enumeration": float(max(-3, min(3, n - 1 - ctx.enumeration)))
            if n
            else 0.0,
            "draft_bad_arguments": _share(self.bad_arguments, n, 0.0),
            "draft_unknown_tool": _share(self.unknown_tool, n, 0.0),
            "draft_duplicate_calls": _share(self.duplicates, n, 0.0),
            "draft_distinct_tools": _share(len(self.distinct), tools, 0.0),
            "draft_missing_required": _share(self.missing_required, self.required, 0.0),
            "draft_unknown_params": _share(self.unknown_params, self.arguments, 0.0),
            "draft_optional_filled": _share(self.optional_filled, self.optional, 0.0),
            "draft_type_mismatch": _share(self.type_mismatch, self.typed, 0.0),
            "draft_enum_violation": _share(self.enum_violation, self.enums, 0.0),
            "draft_values_grounded": _share(self.grounded, self.values, 1.0),
            "draft_strings_grounded": _share(self.strings_grounded, self.strings, 1.0),
            "draft_numbers_grounded": _share(self.nums_grounded, self.nums, 1.0),
            "draft_request_numbers_used": _share(used, len(written), 1.0),
            "draft_chosen_overlap": _share(self.overlap, n, 0.0),
            "draft_chosen_is_best": _share(self.best, n, 0.0),
            "draft_chosen_name_overlap": _share(self.name_overlap, n, 0.0),
            "draft_chosen_coverage": _share(self.coverage, n, 0.0),
            "draft_chosen_shared_words": _share(self.shared, n, 0.0),
            "draft_chosen_jaccard": _share(self.jaccard, n, 0.0),
            "draft_param_names_asked": _share(self.param_names_asked, self.param_names, 0.0),
            "draft_required_grounded": _share(self.required_grounded, self.required_values, 1.0),
            "draft_numeric_surplus": float(
                max(-3, min(3, len(self.numeric_values) - len(written)))
            ),
            "draft_optional_ungrounded": _share(
                self.optional_ungrounded, self.optional_values, 0.0
            ),
            "draft_ungrounded_values": math.log1p(self.values - self.grounded),
            "draft_request_names_used": _share(
                len(ctx.names & self.value_words), len(ctx.names), 1.0
            ),
            "draft_numbers_literal": _share(self.nums_literal, self.nums, 1.0),
            "draft_args_per_call": math.log1p(_share(self.arguments, n, 0.0)),
            "draft_value_length": math.log1p(_share(self.string_chars, self.strings, 0.0)),
            "draft_long_values": _share(self.long_strings, self.strings, 0.0),
            "draft_nested_values": _share(self.nested, self.arguments, 0.0),
            "draft_empty_values": _share(self.empty, self.leaves, 0.0),
        }
        for name, i in _interacting():
            values[name] = no_call * ctx.vector[i]
        return tuple(values[name] for name in _draft_features())


def _as_number(text: str) -> float | None:
    """A string that is only a number (``"3"``, ``"1,500"``) read as that number."""
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _ground_leaf(stats: DraftStats, ctx: RequestContext, leaf: Any) -> None:
    stats.leaves += 1
    if leaf is None or leaf == "":
        stats.empty += 1
        return
    if isinstance(leaf, bool):
        return
    if isinstance(leaf, int | float):
        stats.values += 1
        stats.nums += 1
        value = number_key(float(leaf))
        stats.used_numbers.add(value)
        stats.numeric_values.add(value)
        if value in ctx.numbers:
            stats.grounded += 1
            stats.nums_grounded += 1
        stats.nums_literal += value in ctx.written
        return
    if not isinstance(leaf, str):
        return
    stats.values += 1
    stats.strings += 1
    stats.string_chars += len(leaf)
    stats.long_strings += len(leaf) > _LONG
    found = numbers(leaf, extended=False)
    stats.used_numbers.update(number_key(v) for v in found)
    text = normalise(leaf)
    tokens = words(leaf)
    if ctx.names:
        stats.value_words.update(w.lower() for w in leaf.split())
        stats.value_words.update(tokens)
    as_number = _as_number(leaf) if found else None
    if (
        (text and f" {text} " in ctx.text)
        or (tokens and all(t in ctx.vocabulary for t in tokens))
        or (as_number is not None and number_key(as_number) in ctx.numbers)
    ):
        stats.grounded += 1
        stats.strings_grounded += 1


def _add_call(
    stats: DraftStats, ctx: RequestContext, tool: ToolInfo | None, args: dict[str, Any]
) -> None:
    if tool is None:
        stats.unknown_tool += 1
        props: Mapping[str, Any] = {}
        required: frozenset[str] = frozenset()
    else:
        stats.distinct.add(tool.name)
        props, required = tool.properties, tool.required
        stats.overlap += ctx.overlap.get(tool.name, 0.0)
        stats.coverage += ctx.coverage.get(tool.name, 0.0)
        common = ctx.shared.get(tool.name, 0)
        stats.shared += math.log1p(common)
        union = len(ctx.stems) + len(tool.stems) - common
        stats.jaccard += common / union if union else 0.0
        stats.best += tool.name == ctx.best_tool
        if tool.name_stems:
            stats.name_overlap += len(tool.name_stems & ctx.stems) / len(tool.name_stems)
    stats.required += len(required)
    stats.missing_required += sum(1 for r in required if r not in args)
    optional = [p for p in props if p not in required]
    stats.optional += len(optional)
    stats.optional_filled += sum(1 for p in optional if p in args)
    for name, value in args.items():
        stats.arguments += 1
        stats.nested += isinstance(value, dict | list)
        schema = props.get(name)
        if tool is not None and schema is None:
            stats.unknown_params += 1
        ok = _type_ok(value, schema)
        if ok is not None:
            stats.typed += 1
            stats.type_mismatch += not ok
        enum = schema.get("enum") if isinstance(schema, Mapping) else None
        if isinstance(enum, list) and enum:
            stats.enums += 1
            stats.enum_violation += value not in enum
        stats.param_names += 1
        stats.param_names_asked += bool(_name_stems(name) & ctx.stems)
        before = stats.grounded, stats.values
        for leaf in _leaves(value):
            if stats.leaves >= _MAX_LEAVES:
                return
            _ground_leaf(stats, ctx, leaf)
        if stats.values > before[1]:
            all_grounded = stats.grounded - before[0] == stats.values - before[1]
            if name in required:
                stats.required_values += 1
                stats.required_grounded += all_grounded
            elif name in props:
                stats.optional_values += 1
                stats.optional_ungrounded += not all_grounded


def draft_stats(ctx: RequestContext, calls: list[tuple[str, Any]]) -> DraftStats:
    stats = DraftStats()
    seen: set[str] = set()
    for name, args in calls:
        stats.calls += 1
        if args is None:
            stats.bad_arguments += 1
            stats.unknown_tool += name not in ctx.tools
            continue
        key = json.dumps([name, args], sort_keys=True, default=str)
        stats.duplicates += key in seen
        seen.add(key)
        _add_call(stats, ctx, ctx.tools.get(name), args)
    return stats
