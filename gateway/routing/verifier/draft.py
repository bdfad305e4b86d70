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

from gateway.routing.verifier.text import content_stems, number_key, numbers, word_forms, words

if TYPE_CHECKING:
    from gateway.routing.verifier.features import RequestContext
    from gateway.routing.verifier.tools import ToolInfo

_CONTAINERS = (dict, list)
_NUMBERS = (int, float)
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
# the order of ``DraftStats.vector``: features.py checks it against DRAFT_FEATURES on import
VECTOR_ORDER = (
    "draft_no_call",
    "draft_no_call_x_overlap",
    "draft_calls",
    "draft_calls_per_tool",
    "draft_calls_minus_enumeration",
    "draft_bad_arguments",
    "draft_unknown_tool",
    "draft_duplicate_calls",
    "draft_distinct_tools",
    "draft_missing_required",
    "draft_unknown_params",
    "draft_optional_filled",
    "draft_type_mismatch",
    "draft_enum_violation",
    "draft_values_grounded",
    "draft_strings_grounded",
    "draft_numbers_grounded",
    "draft_request_numbers_used",
    "draft_chosen_overlap",
    "draft_chosen_is_best",
    "draft_chosen_name_overlap",
    "draft_chosen_coverage",
    "draft_chosen_shared_words",
    "draft_chosen_jaccard",
    "draft_param_names_asked",
    "draft_required_grounded",
    "draft_numeric_surplus",
    "draft_optional_ungrounded",
    "draft_ungrounded_values",
    "draft_request_names_used",
    "draft_numbers_literal",
    "draft_args_per_call",
    "draft_value_length",
    "draft_long_values",
    "draft_nested_values",
    "draft_empty_values",
)  # then draft_no_call × each NO_CALL_INTERACTIONS request feature


@lru_cache(maxsize=8192)
def _name_stems(name: str) -> frozenset[str]:
    return content_stems(words(name))


@lru_cache(maxsize=1)
def _interacting() -> tuple[int, ...]:
    """The index in the request vector of each no-call interaction's request feature."""
    from gateway.routing.verifier.features import NO_CALL_INTERACTIONS, REQUEST_FEATURES

    return tuple(REQUEST_FEATURES.index(name) for name in NO_CALL_INTERACTIONS)


def clear_caches() -> None:
    _name_stems.cache_clear()


def _leaves(value: Any, depth: int = 0) -> Iterator[Any]:
    if isinstance(value, dict) and depth < _MAX_DEPTH:
        for v in value.values():
            yield from _leaves(v, depth + 1)
    elif isinstance(value, list) and depth < _MAX_DEPTH:
        for v in value:
            yield from _leaves(v, depth + 1)
    elif not isinstance(value, _CONTAINERS):
        yield value


def _type_ok(value: Any, kind: Any) -> bool | None:
    """Whether ``value`` has the JSON type ``kind`` (a schema's ``type``: a name or a list of
    names); None when it names none we know."""
    if type(kind) is str:  # the common case: one type
        allowed = _TYPES.get(kind)
        if allowed is None:
            return None
        return bool in allowed if isinstance(value, bool) else isinstance(value, allowed)
    kinds = kind if isinstance(kind, list) else [kind]
    types = [_TYPES[k] for k in kinds if isinstance(k, str) and k in _TYPES]
    if not types:
        return None
    if isinstance(value, bool):
        return any(bool in a for a in types)
    return any(isinstance(value, a) for a in types)


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
        """The draft features, in ``VECTOR_ORDER`` then the no-call interactions."""
        n, tools, request = self.calls, len(ctx.tools), ctx.vector
        no_call = 1.0 if n == 0 else 0.0
        written = ctx.written
        used = sum(1 for w in written if w in self.used_numbers)
        nums, strings, values, arguments = self.nums, self.strings, self.values, self.arguments
        return (
            no_call,
            no_call * request[4],
            math.log1p(n),
            n / tools if tools else 0.0,
            float(max(-3, min(3, n - 1 - ctx.enumeration))) if n else 0.0,
            self.bad_arguments / n if n else 0.0,
            self.unknown_tool / n if n else 0.0,
            self.duplicates / n if n else 0.0,
            len(self.distinct) / tools if tools else 0.0,
            self.missing_required / self.required if self.required else 0.0,
            self.unknown_params / arguments if arguments else 0.0,
            self.optional_filled / self.optional if self.optional else 0.0,
            self.type_mismatch / self.typed if self.typed else 0.0,
            self.enum_violation / self.enums if self.enums else 0.0,
            self.grounded / values if values else 1.0,
            self.strings_grounded / strings if strings else 1.0,
            self.nums_grounded / nums if nums else 1.0,
            used / len(written) if written else 1.0,
            self.overlap / n if n else 0.0,
            self.best / n if n else 0.0,
            self.name_overlap / n if n else 0.0,
            self.coverage / n if n else 0.0,
            self.shared / n if n else 0.0,
            self.jaccard / n if n else 0.0,
            self.param_names_asked / self.param_names if self.param_names else 0.0,
            self.required_grounded / self.required_values if self.required_values else 1.0,
            float(max(-3, min(3, len(self.numeric_values) - len(written)))),
            self.optional_ungrounded / self.optional_values if self.optional_values else 0.0,
            math.log1p(values - self.grounded),
            len(ctx.names & self.value_words) / len(ctx.names) if ctx.names else 1.0,
            self.nums_literal / nums if nums else 1.0,
            math.log1p(arguments / n if n else 0.0),
            math.log1p(self.string_chars / strings if strings else 0.0),
            self.long_strings / strings if strings else 0.0,
            self.nested / arguments if arguments else 0.0,
            self.empty / self.leaves if self.leaves else 0.0,
            *[no_call * request[i] for i in _interacting()],
        )


def _as_number(text: str) -> float | None:
    """A string that is only a number (``"3"``, ``"1,500"``) read as that number."""
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _ground_string(stats: DraftStats, ctx: RequestContext, leaf: str) -> None:
    stats.values += 1
    stats.strings += 1
    length = len(leaf)
    stats.string_chars += length
    stats.long_strings += length > _LONG
    tokens, plain, has_digits = word_forms(leaf)  # words(leaf), normalise(leaf).split()
    found = numbers(leaf, extended=False) if has_digits else None
    if found:
        stats.used_numbers.update([number_key(v) for v in found])
    if ctx.names:
        # str.lower is per character on ASCII, so lower-then-split is split-then-lower there
        parts = leaf.lower().split() if leaf.isascii() else [w.lower() for w in leaf.split()]
        stats.value_words.update(parts)
        stats.value_words.update(tokens)
    if (
        (plain and f" {' '.join(plain)} " in ctx.text)
        or (tokens and ctx.vocabulary.issuperset(tokens))
        or (
            found and (number := _as_number(leaf)) is not None and number_key(number) in ctx.numbers
        )
    ):
        stats.grounded += 1
        stats.strings_grounded += 1


def _ground_leaf(stats: DraftStats, ctx: RequestContext, leaf: Any) -> None:
    stats.leaves += 1
    if leaf is None or leaf == "":
        stats.empty += 1
        return
    if isinstance(leaf, str):
        _ground_string(stats, ctx, leaf)
        return
    if isinstance(leaf, bool) or not isinstance(leaf, _NUMBERS):
        return
    stats.values += 1
    stats.nums += 1
    value = number_key(float(leaf))
    stats.used_numbers.add(value)
    stats.numeric_values.add(value)
    if value in ctx.numbers:
        stats.grounded += 1
        stats.nums_grounded += 1
    stats.nums_literal += value in ctx.written


def _add_tool(stats: DraftStats, ctx: RequestContext, tool: ToolInfo) -> None:
    """The called tool's overlap with the request."""
    name = tool.name
    stats.distinct.add(name)
    stats.overlap += ctx.overlap.get(name, 0.0)
    stats.coverage += ctx.coverage.get(name, 0.0)
    common = ctx.shared.get(name, 0)
    stats.shared += math.log1p(common)
    union = len(ctx.stems) + len(tool.stems) - common
    stats.jaccard += common / union if union else 0.0
    stats.best += name == ctx.best_tool
    if tool.name_stems:
        stats.name_overlap += len(tool.name_stems & ctx.stems) / len(tool.name_stems)


_NO_SCHEMAS: Mapping[str, Any] = {}


def _add_call(
    stats: DraftStats, ctx: RequestContext, tool: ToolInfo | None, args: dict[str, Any]
) -> None:
    if tool is None:
        stats.unknown_tool += 1
        props: Mapping[str, Any] = _NO_SCHEMAS
        required: frozenset[str] = frozenset()
    else:
        _add_tool(stats, ctx, tool)
        props, required = ctx.schemas.get(tool.name, _NO_SCHEMAS), tool.required
        stats.required += len(required)
        # set operations, not generator expressions: one C call each
        stats.missing_required += len(required.difference(args))
        stats.optional += len(tool.optional)
        stats.optional_filled += len(args.keys() & tool.optional)
    for name, value in args.items():
        stats.arguments += 1
        nested = isinstance(value, _CONTAINERS)
        stats.nested += nested
        schema = props.get(name)
        if schema is None:
            stats.unknown_params += tool is not None
        elif type(schema) is dict or isinstance(schema, Mapping):  # else: no type, no enum
            ok = _type_ok(value, schema.get("type"))
            if ok is not None:
                stats.typed += 1
                stats.type_mismatch += not ok
            enum = schema.get("enum")
            if isinstance(enum, list) and enum:
                stats.enums += 1
                stats.enum_violation += value not in enum
        stats.param_names += 1
        stats.param_names_asked += not _name_stems(name).isdisjoint(ctx.stems)
        grounded, values = stats.grounded, stats.values
        if not nested:  # one leaf: the value itself
            if stats.leaves >= _MAX_LEAVES:
                return
            if type(value) is str and value:  # the common case, straight to its grounding
                stats.leaves += 1
                _ground_string(stats, ctx, value)
            else:
                _ground_leaf(stats, ctx, value)
        else:
            for leaf in _leaves(value):
                if stats.leaves >= _MAX_LEAVES:
                    return
                _ground_leaf(stats, ctx, leaf)
        if stats.values > values:
            all_grounded = stats.grounded - grounded == stats.values - values
            if name in required:
                stats.required_values += 1
                stats.required_grounded += all_grounded
            elif name in props:
                stats.optional_values += 1
                stats.optional_ungrounded += not all_grounded


def draft_stats(ctx: RequestContext, calls: list[tuple[str, Any]]) -> DraftStats:
    stats = DraftStats()
    seen: set[str] = set()
    several = len(calls) > 1  # a single call repeats nothing: no key to build
    for name, args in calls:
        stats.calls += 1
        if args is None:
            stats.bad_arguments += 1
            stats.unknown_tool += name not in ctx.tools
            continue
        if several:
            key = json.dumps([name, args], sort_keys=True, default=str)
            stats.duplicates += key in seen
            seen.add(key)
        _add_call(stats, ctx, ctx.tools.get(name), args)
    return stats
