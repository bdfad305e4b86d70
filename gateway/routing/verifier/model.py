"""The verifier's model: an L2-regularised logistic regression over named features.

``score`` is pure Python (one dot product over the model's features and a logistic; a few µs)
so the request path needs no numpy. ``fit`` uses numpy (Newton's method on standardised
features) and runs offline or in a refit job. A fitted model is stored as JSON with a schema
version, the edge model it was fitted for and its feature names, which are checked on load
against the features this code computes: a model fitted on other features is refused, never
silently misread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.routing.verifier.features import FEATURE_NAMES

SCHEMA = "netgpt.verifier"
SCHEMA_VERSION = 1


class VerifierError(ValueError):
    """A verifier model that cannot be fitted or loaded; the message says why."""


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class VerifierModel:
    """P(edge draft acceptable) = σ(bias + Σ wᵢ·(xᵢ − meanᵢ)/scaleᵢ) over ``features``.

    ``features`` is a subset of ``FEATURE_NAMES`` (request-only, draft-only or all);
    ``score`` takes the full vector that ``features.features`` returns.

    >>> m = VerifierModel("edge", ("draft_no_call",), (0.0,), (1.0,), (-2.0,), 0.5)
    >>> round(m.score_named({"draft_no_call": 1.0}), 3)
    0.182
    """

    edge_model: str
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    l2: float = 1.0
    label: str = "cloud_agreement"  # what the labels meant: cloud_agreement | ground_truth
    n_train: int = 0
    positives: int = 0
    _index: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _coef: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _intercept: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.weights) == n):
            raise VerifierError("features, mean, scale and weights differ in length")
        unknown = [f for f in self.features if f not in FEATURE_NAMES]
        if unknown:
            raise VerifierError(f"unknown features {unknown}; this code computes {FEATURE_NAMES}")
        numbers = (*self.mean, *self.scale, *self.weights, self.bias)
        if not all(math.isfinite(v) for v in numbers) or any(s <= 0 for s in self.scale):
            raise VerifierError("non-finite coefficient or non-positive scale")
        # fold the standardisation into the coefficients once: scoring is one dot product
        coef = tuple(w / s for w, s in zip(self.weights, self.scale, strict=True))
        intercept = self.bias - sum(c * m for c, m in zip(coef, self.mean, strict=True))
        position = {name: i for i, name in enumerate(FEATURE_NAMES)}
        object.__setattr__(self, "_index", tuple(position[f] for f in self.features))
        object.__setattr__(self, "_coef", coef)
        object.__setattr__(self, "_intercept", intercept)

    def score(self, x: Sequence[float]) -> float:
        """P(acceptable) from the full feature vector (``FEATURE_NAMES`` order), in [0, 1]."""
        z = self._intercept
        for i, c in zip(self._index, self._coef, strict=True):
            z += c * x[i]
        return _sigmoid(z) if math.isfinite(z) else (1.0 if z > 0 else 0.0)

    def score_named(self, values: Mapping[str, float]) -> float:
        """``score`` from a ``{feature: value}`` mapping (missing features count as 0)."""
        full = [0.0] * len(FEATURE_NAMES)
        for name, value in values.items():
            if name in FEATURE_NAMES:
                full[FEATURE_NAMES.index(name)] = value
        return self.score(full)

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema": SCHEMA,
                "schema_version": SCHEMA_VERSION,
                "edge_model": self.edge_model,
                "label": self.label,
                "features": list(self.features),
                "mean": list(self.mean),
                "scale": list(self.scale),
                "weights": list(self.weights),
                "bias": self.bias,
                "l2": self.l2,
                "n_train": self.n_train,
                "positives": self.positives,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str | bytes, *, edge_model: str | None = None) -> VerifierModel:
        """Load a stored model; refuses another schema, unknown features or another edge model."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise VerifierError(f"verifier model is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise VerifierError(f"not a {SCHEMA} document")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise VerifierError(
                f"verifier schema version {data.get('schema_version')!r}; this code reads "
                f"{SCHEMA_VERSION}: refit the verifier"
            )
        if edge_model is not None and data.get("edge_model") != edge_model:
            raise VerifierError(
                f"verifier was fitted for edge model {data.get('edge_model')!r}, not {edge_model!r}"
            )
        try:
            return cls(
                edge_model=str(data["edge_model"]),
                features=tuple(str(f) for f in data["features"]),
                mean=tuple(float(v) for v in data["mean"]),
                scale=tuple(float(v) for v in data["scale"]),
                weights=tuple(float(v) for v in data["weights"]),
                bias=float(data["bias"]),
                l2=float(data.get("l2", 1.0)),
                label=str(data.get("label", "cloud_agreement")),
                n_train=int(data.get("n_train", 0)),
                positives=int(data.get("positives", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, VerifierError):
                raise
            raise VerifierError(f"verifier model field missing or malformed: {exc}") from None


def _newton(design: Any, y: Any, l2: float, max_iter: int) -> Any:
    """Penalised logistic regression by Newton's method; the last column (bias) is free."""
    import numpy as np

    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    theta = np.zeros(design.shape[1])
    for _ in range(max_iter):
        # einsum, not @: these matrices are small, and a multi-threaded BLAS on a busy box
        # spends 10-20x the work in thread hand-offs
        p = 1.0 / (1.0 + np.exp(-np.clip(np.einsum("ij,j->i", design, theta), -35, 35)))
        grad = np.einsum("ij,i->j", design, p - y) + penalty * theta
        weighted = design * (p * (1 - p))[:, None]
        hess = np.einsum("ni,nj->ij", weighted, design) + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return theta


def fit(
    rows: Sequence[Sequence[float]],
    labels: Sequence[bool | int | float],
    *,
    edge_model: str,
    features: Sequence[str] = FEATURE_NAMES,
    l2: float = 1.0,
    label: str = "cloud_agreement",
    max_iter: int = 50,
) -> VerifierModel:
    """Fit on full feature vectors (``FEATURE_NAMES`` order) and 0/1 labels.

    ``l2`` is the ridge penalty on the standardised weights (the bias is not penalised);
    Newton's method converges in a handful of steps at these sizes (≤ 40 features).
    """
    import numpy as np  # the fit runs offline; scoring stays pure Python

    if len(rows) != len(labels) or len(rows) == 0:
        raise VerifierError(
            f"need as many labels as rows, and some rows ({len(rows)}/{len(labels)})"
        )
    if l2 <= 0 or not math.isfinite(l2):
        raise VerifierError("l2 must be a positive number")
    position = {name: i for i, name in enumerate(FEATURE_NAMES)}
    try:
        columns = [position[f] for f in features]
    except KeyError as exc:
        raise VerifierError(f"unknown feature {exc.args[0]!r}") from None
    x_all = np.asarray(rows, dtype=float)
    if x_all.ndim != 2 or x_all.shape[1] != len(FEATURE_NAMES) or not np.isfinite(x_all).all():
        raise VerifierError(f"rows must be finite vectors of {len(FEATURE_NAMES)} features")
    x = x_all[:, columns]
    y = np.asarray(labels, dtype=float)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature carries nothing: keep it, weight → 0
    z = (x - mean) / scale
    theta = _newton(np.hstack([z, np.ones((len(y), 1))]), y, l2, max_iter)
    return VerifierModel(
        edge_model=edge_model,
        features=tuple(features),
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        weights=tuple(float(v) for v in theta[:-1]),
        bias=float(theta[-1]),
        l2=float(l2),
        label=label,
        n_train=len(y),
        positives=int(y.sum()),
    )
