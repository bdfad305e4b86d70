"""Score calibration: raw score → P(edge draft acceptable), and the label it is fitted on.

Two monotone fits, pure Python (the serving path must not need numpy):

- isotonic regression by pool-adjacent-violators: a step per pooled block, linear between
  blocks (monotone and continuous, flat beyond the ends);
- Platt scaling, ``p = 1 / (1 + exp(−(a·x + b)))`` with ``a ≥ 0`` so it never decreases.

The label is :func:`calls_agree`: the edge draft made the same tool calls as the cloud (same
functions, arguments equal after JSON normalisation, in any order).
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Method = Literal["isotonic", "platt"]


class CalibrationError(ValueError):
    """Cannot fit (no data, mismatched lengths) or cannot read a stored fit."""


def _clip01(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted monotone map from raw score to probability.

    ``xs``/``ys`` are the isotonic knots; ``a``/``b`` the Platt coefficients.

    >>> cal = fit([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    >>> cal(0.15), cal(0.85)
    (0.0, 1.0)
    """

    method: Method
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    a: float = 0.0
    b: float = 0.0

    def __call__(self, raw: float) -> float:
        if self.method == "platt":
            z = self.a * raw + self.b
            # split by sign so exp never overflows
            if z >= 0:
                return _clip01(1.0 / (1.0 + math.exp(-z)))
            ez = math.exp(z)
            return _clip01(ez / (1.0 + ez))
        if not self.xs:
            return _clip01(raw)
        if raw <= self.xs[0]:
            return self.ys[0]
        if raw >= self.xs[-1]:
            return self.ys[-1]
        i = bisect.bisect_right(self.xs, raw)
        x0, x1, y0, y1 = self.xs[i - 1], self.xs[i], self.ys[i - 1], self.ys[i]
        return _clip01(y0 + (y1 - y0) * (raw - x0) / (x1 - x0))

    def to_dict(self) -> dict[str, Any]:
        if self.method == "platt":
            return {"method": "platt", "a": self.a, "b": self.b}
        return {"method": "isotonic", "xs": list(self.xs), "ys": list(self.ys)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        method = data.get("method")
        try:
            if method == "platt":
                return cls("platt", a=float(data["a"]), b=float(data["b"]))
            if method == "isotonic":
                xs = tuple(float(x) for x in data["xs"])
                ys = tuple(_clip01(float(y)) for y in data["ys"])
                ok = len(xs) == len(ys) and all(
                    xs[i] < xs[i + 1] and ys[i] <= ys[i + 1] for i in range(len(xs) - 1)
                )
                if not ok:
                    raise CalibrationError("isotonic knots must be increasing in x, monotone in y")
                return cls("isotonic", xs, ys)
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"bad {method} calibration: {exc}") from None
        raise CalibrationError(f"unknown calibration method {method!r}")


def _check(raw_scores: Sequence[float], labels: Sequence[bool | int | float]) -> None:
    if len(raw_scores) != len(labels):
        raise CalibrationError(f"{len(raw_scores)} scores but {len(labels)} labels")
    if not raw_scores:
        raise CalibrationError("nothing to fit: no records")


def fit_isotonic(raw_scores: Sequence[float], labels: Sequence[bool | int | float]) -> Calibration:
    """Pool-adjacent-violators over the distinct scores (equal scores form one group).

    Each pooled block keeps its lowest and highest score as knots with the block's label rate,
    so every training score maps exactly to its block's rate and scores between blocks are
    interpolated linearly (as scikit-learn's IsotonicRegression does).
    """
    _check(raw_scores, labels)
    groups: list[list[float]] = []  # [x, sum of labels, count] per distinct score
    for x, y in sorted(zip(raw_scores, labels, strict=True)):
        if groups and groups[-1][0] == x:
            groups[-1][1] += float(y)
            groups[-1][2] += 1
        else:
            groups.append([float(x), float(y), 1.0])
    blocks: list[list[float]] = []  # [lowest x, highest x, sum of labels, count]
    for x, sy, w in groups:
        blocks.append([x, x, sy, w])
        # pool while the new block's rate does not exceed its predecessor's
        while len(blocks) > 1 and blocks[-2][2] / blocks[-2][3] >= blocks[-1][2] / blocks[-1][3]:
            _, hi, sy2, w2 = blocks.pop()
            blocks[-1][1] = hi
            blocks[-1][2] += sy2
            blocks[-1][3] += w2
    xs: list[float] = []
    ys: list[float] = []
    for lo, hi, sy, w in blocks:
        rate = _clip01(sy / w)
        for x in (lo, hi) if hi > lo else (lo,):
            xs.append(x)
            ys.append(rate)
    return Calibration("isotonic", tuple(xs), tuple(ys))


def fit_platt(
    raw_scores: Sequence[float], labels: Sequence[bool | int | float], iterations: int = 100
) -> Calibration:
    """Logistic fit by Newton's method, with Platt's smoothed targets against overfitting."""
    _check(raw_scores, labels)
    pos = sum(1 for y in labels if y)
    neg = len(labels) - pos
    hi, lo = (pos + 1.0) / (pos + 2.0), 1.0 / (neg + 2.0)
    targets = [hi if y else lo for y in labels]
    a, b = 0.0, 0.0
    for _ in range(iterations):
        ga = gb = haa = hab = hbb = 0.0
        for x, t in zip(raw_scores, targets, strict=True):
            z = a * x + b
            p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
            d = p - t
            w = max(p * (1.0 - p), 1e-12)
            ga += d * x
            gb += d
            haa += w * x * x
            hab += w * x
            hbb += w
        # a small ridge keeps the 2x2 Hessian invertible when all scores are equal
        haa += 1e-9
        hbb += 1e-9
        det = haa * hbb - hab * hab
        if det <= 0:
            break
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) < 1e-10 and abs(db) < 1e-10:
            break
    if a < 0:
        # a decreasing fit would invert the score's meaning: fall back to a constant rate
        mean = sum(targets) / len(targets)
        a, b = 0.0, math.log(mean) - math.log1p(-mean)
    return Calibration("platt", a=a, b=b)


def fit(
    raw_scores: Sequence[float], labels: Sequence[bool | int | float], method: Method = "isotonic"
) -> Calibration:
    """Fit a monotone calibration of ``raw_scores`` to the 0/1 ``labels``."""
    if method == "platt":
        return fit_platt(raw_scores, labels)
    if method == "isotonic":
        return fit_isotonic(raw_scores, labels)
    raise CalibrationError(f"unknown calibration method {method!r}")


# ---- the label -------------------------------------------------------------------------------


def _normalise(value: Any) -> Any:
    """JSON value → canonical form: numbers as floats (1 == 1.0), booleans kept apart."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return str(value)


def _call_key(call: Mapping[str, Any]) -> str:
    function = call.get("function") or {}
    name = function.get("name")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            parsed: Any = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            # unparsable: only an identical string agrees
            return json.dumps([name, "raw", arguments.strip()])
    else:
        parsed = {} if arguments is None else arguments
    return json.dumps([name, _normalise(parsed)], sort_keys=True)


def calls_agree(
    edge_tool_calls: Sequence[Mapping[str, Any]] | None,
    cloud_tool_calls: Sequence[Mapping[str, Any]] | None,
) -> bool:
    """True when both made the same tool calls: same functions, arguments equal after JSON
    normalisation (key order, 1 vs 1.0, whitespace), in any order. Two answers without tool
    calls agree.

    >>> calls_agree([{"function": {"name": "f", "arguments": '{"a": 1, "b": [2]}'}}],
    ...             [{"function": {"name": "f", "arguments": '{"b":[2.0],"a":1}'}}])
    True
    """
    edge = sorted(_call_key(call) for call in edge_tool_calls or ())
    cloud = sorted(_call_key(call) for call in cloud_tool_calls or ())
    return edge == cloud
