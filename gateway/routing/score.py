"""The edge draft's score s ∈ [0, 1]: an estimate of P(edge draft acceptable).

Schema validity is a hard gate (an invalid draft scores 0). Otherwise the raw score comes from
the token log-probabilities of the generated answer: the geometric-mean token probability and
the least likely token. A calibration (isotonic or Platt, fitted on logged outcomes) maps the raw
score to a probability; without one the raw score is used as is, or 0 when the operator
requires a calibration (``NETGPT_CALIBRATION_REQUIRED``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Calibrator = Callable[[float], float]


@dataclass(frozen=True, slots=True)
class DraftFeatures:
    schema_valid: bool
    n_tool_calls: int
    mean_logprob: float | None
    min_logprob: float | None
    n_tokens: int
    offload_requested: bool = False
    n_tools: int = 0
    n_turns: int = 0
    prompt_bytes: int = 0


def logprob_summary(logprobs: Sequence[float]) -> tuple[float | None, float | None]:
    """(mean, min) of token log-probabilities; (None, None) when there are none."""
    if not logprobs:
        return None, None
    finite = [lp if math.isfinite(lp) else -100.0 for lp in logprobs]
    return sum(finite) / len(finite), min(finite)


def raw_score(features: DraftFeatures, prior: float = 0.5) -> float:
    if not features.schema_valid or features.offload_requested:
        return 0.0
    if features.mean_logprob is None or features.min_logprob is None:
        return prior
    p_mean = math.exp(min(0.0, features.mean_logprob))
    p_min = math.exp(min(0.0, features.min_logprob))
    return min(1.0, max(0.0, 0.7 * p_mean + 0.3 * p_min))


def score(
    features: DraftFeatures,
    calibrate: Calibrator | None = None,
    prior: float = 0.5,
    *,
    require_calibration: bool = False,
) -> float:
    """The draft's score; 0 without a calibration when ``require_calibration`` is set.

    A newly trained edge model's raw log-probabilities say little about its accuracy (in the
    learning loop a fine-tuned SmolLM2 answered 31 of 80 requests at the edge on raw scores
    before its refit; on the held-out set 22% of its drafts were right): an operator can choose
    to trust no draft until the model's own calibration is fitted.
    """
    raw = raw_score(features, prior)
    if calibrate is None:
        return 0.0 if require_calibration else raw
    if raw == 0.0:
        return raw
    return min(1.0, max(0.0, calibrate(raw)))
