"""Python call syntax (``[f(a=1), mod.g(b='x')]``) → (name, arguments) pairs, without ``eval``.

The rule BFCL's AST decoder (2024) follows for models that answer in Python syntax (its
``ast_parse`` and ``resolve_ast_by_type``), restated here: the text is parsed as one Python
expression, a list of calls; anything else fails, and so does a call without keyword arguments
(BFCL turns it into its source text, which fails the format check). A call's name is its dotted
attribute chain; only keyword arguments count (positional ones next to keywords are dropped, as
BFCL drops them). Values: literals; ``-literal``; lists, tuples (as lists) and dicts of values; a bare name
becomes its text; a call without keywords becomes its source text, one with keywords a nested
``{name: {arguments}}``; lambdas and subscripts become their source text. Arithmetic on
literals (``2*3``, ``10**6``) is computed — BFCL ``eval``s it; here only numbers and strings
are combined, so nothing in a model's output is ever executed.
"""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable
from typing import Any


class CallSyntaxError(ValueError):
    """The text is not a call or a list of calls in Python syntax."""


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_MAX_POW = 1000  # 10**1000 is already a 1,000-digit number: refuse rather than hang


def parse_calls(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``[(name, {keyword: value})]`` for the list of calls in ``text``; raises ``CallSyntaxError``.

    ``text`` must be a list (or tuple) whose elements are all calls with at least one keyword
    argument: BFCL turns a call without keywords into its source text, which makes the whole
    answer "not in function-call format" (for a relevance request: no call).
    """
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CallSyntaxError(f"not Python syntax: {exc}") from exc
    body = tree.body
    if not isinstance(body, ast.List | ast.Tuple):
        raise CallSyntaxError(f"expected a list of calls, got {type(body).__name__}")
    calls = []
    for node in body.elts:
        if not isinstance(node, ast.Call):
            raise CallSyntaxError(f"list element is not a call: {ast.unparse(node)[:60]!r}")
        if not node.keywords:
            raise CallSyntaxError(f"call without keyword arguments: {ast.unparse(node)[:60]!r}")
        calls.append(_call(node))
    return calls


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _call(node: ast.Call) -> tuple[str, dict[str, Any]]:
    args = {kw.arg: _value(kw.value) for kw in node.keywords if kw.arg is not None}
    return _dotted(node.func), args


def _value(node: ast.expr) -> Any:  # noqa: C901 - one branch per node kind, as the rule reads
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            return "..."
        if isinstance(node.value, bytes | complex):
            raise CallSyntaxError(f"unsupported literal {node.value!r}")
        return node.value
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.USub | ast.UAdd) and isinstance(node.operand, ast.Constant):
            value = node.operand.value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return -value if isinstance(node.op, ast.USub) else value
        raise CallSyntaxError(f"unsupported unary expression {ast.unparse(node)!r}")
    if isinstance(node, ast.List | ast.Tuple):
        return [_value(v) for v in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise CallSyntaxError("dict unpacking (**) in a value")
        return {
            _key(_value(k)): _value(v) for k, v in zip(node.keys, node.values, strict=True) if k
        }
    if isinstance(node, ast.BinOp):
        return _arith(node)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        if not node.keywords:
            return ast.unparse(node)
        name, args = _call(node)
        return {name: args}
    if isinstance(node, ast.Lambda | ast.Subscript):
        return ast.unparse(node)
    raise CallSyntaxError(f"unsupported value {type(node).__name__}: {ast.unparse(node)!r}")


def _key(key: Any) -> str:
    # JSON object keys are strings: a number, bool or None key becomes its JSON text, as
    # json.dumps writes it
    if isinstance(key, str):
        return key
    if isinstance(key, bool | int | float) or key is None:
        return json.dumps(key)
    raise CallSyntaxError(f"unsupported dict key {key!r}")


def _arith(node: ast.BinOp) -> Any:
    op = _BINOPS.get(type(node.op))
    left, right = _value(node.left), _value(node.right)
    ok = (int, float, str)
    if op is None or not isinstance(left, ok) or not isinstance(right, ok):
        raise CallSyntaxError(f"unsupported expression {ast.unparse(node)!r}")
    if op is operator.pow and (not isinstance(right, int | float) or abs(right) > _MAX_POW):
        raise CallSyntaxError(f"exponent too large in {ast.unparse(node)!r}")
    if op is operator.mul and any(isinstance(v, str) for v in (left, right)):
        count = right if isinstance(left, str) else left
        if not isinstance(count, int) or abs(count) > 10_000:
            raise CallSyntaxError(f"unsupported string repetition {ast.unparse(node)!r}")
    try:
        return op(left, right)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise CallSyntaxError(f"cannot compute {ast.unparse(node)!r}: {exc}") from exc
