"""The extension points of placement — Filter, Scorer, Picker — and what they all see.

    candidates = positions in ctx.experts                          (every expert offered)
    for f in profile.filters:  candidates = f.filter(ctx, candidates)    drop who cannot serve
    total[j]   = Σ weight · scorer.score(ctx, candidates)[j]            each score in [0, 1]
    j          = profile.picker.pick(ctx, candidates, total)            a position in candidates

A plugin is a small frozen dataclass with a ``name`` and one method, in its own module under
``filters/``, ``scorers/`` or ``pickers/``; a profile (``profiles.py``) names the plugins of
one placement policy and weighs its scorers (the model: the Kubernetes Gateway API inference
extension's scheduler). Plugins are pure: they read the context and return. The only state they
change is the caller's ``PolicyState`` (the round-robin position).

The candidate type is ``ExpertView`` (``views.py``); plugins pass positions into
``Context.experts`` rather than views, so that the estimates computed once per request
(``Context.estimates``) are shared by every filter and scorer that needs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.routing.placement.estimator import Estimate, estimate
from gateway.routing.placement.latency_model import LatencyModel
from gateway.routing.placement.views import ExpertView, InFlight, RequestView

# read only: the latency model of an expert that has none yet (default coefficients)
DEFAULT_MODEL = LatencyModel()


class Chooser(Protocol):
    """A placement model that picks one expert (``LearnedPolicy``, or a recorder in training)."""

    def choose(
        self, request: RequestView, experts: Sequence[ExpertView], ests: Sequence[Estimate]
    ) -> int:
        """Position in ``experts`` of the chosen one (``ests``: their estimates, same order)."""
        ...


@dataclass(slots=True)
class PolicyState:
    """What placement keeps between calls. The caller owns it (one per placer, or per run).

    ``rr_next``: the round-robin position (round robin, and the tie-break of the rotating
    pickers). ``learned``: the learned policy's weights (``learned_model.load_policy()``),
    needed by the ``learned`` profile only.
    """

    rr_next: int = 0
    learned: Chooser | None = None


class Context:
    """One placement: the request, the experts offered, and what every plugin may look at.

    ``estimate``/``estimates`` predict a candidate's latency and its impact on the requests in
    flight once per request, whichever plugin asks first (``estimator.estimate``).
    """

    __slots__ = ("request", "experts", "models", "state", "in_flight", "_ests")

    def __init__(
        self,
        request: RequestView,
        experts: Sequence[ExpertView],
        models: Mapping[str, LatencyModel],
        state: PolicyState,
        in_flight: Mapping[str, Sequence[InFlight]] | None = None,
    ) -> None:
        self.request = request
        self.experts = experts
        self.models = models
        self.state = state
        self.in_flight = in_flight  # None: only counts are known (SLO misses not scored)
        self._ests: list[Estimate | None] = [None] * len(experts)

    def estimate(self, i: int) -> Estimate:
        """The estimate of the expert at position ``i`` of ``experts``."""
        est = self._ests[i]
        return est if est is not None else self.estimates((i,))[0]

    def estimates(self, candidates: Sequence[int]) -> list[Estimate]:
        """The estimates of ``candidates`` (positions), in their order."""
        # on the request path for every candidate: one loop with locals, no call per expert
        # but the estimator's
        ests, experts, request = self._ests, self.experts, self.request
        models, flights = self.models, self.in_flight
        out = []
        for i in candidates:
            est = ests[i]
            if est is None:
                e = experts[i]
                est = estimate(
                    request,
                    e,
                    models.get(e.name, DEFAULT_MODEL),
                    None if flights is None else flights.get(e.name, ()),
                )
                ests[i] = est
            out.append(est)
        return out


class Filter(Protocol):
    """Drops the candidates that cannot serve the request."""

    @property
    def name(self) -> str: ...

    def filter(self, ctx: Context, candidates: Sequence[int]) -> list[int]:
        """The candidates that pass, a sub-sequence of ``candidates`` in the same order.

        >>> from gateway.routing.placement.filters import Healthy
        >>> ctx = Context(RequestView(10, 10), [ExpertView("a", 0.9, 0, healthy=False),
        ...               ExpertView("b", 0.9, 0)], {}, PolicyState())
        >>> Healthy().filter(ctx, [0, 1])
        [1]
        """
        ...


class Scorer(Protocol):
    """Rates every candidate; higher is better."""

    @property
    def name(self) -> str: ...

    def score(self, ctx: Context, candidates: Sequence[int]) -> list[float]:
        """One score in [0, 1] per candidate, in their order (``candidates`` is never empty).

        >>> from gateway.routing.placement.scorers import Load
        >>> ctx = Context(RequestView(10, 10), [ExpertView("a", 0.9, 4),
        ...               ExpertView("b", 0.9, 0)], {}, PolicyState())
        >>> Load().score(ctx, [0, 1])
        [0.0, 1.0]
        """
        ...


class Picker(Protocol):
    """Chooses one candidate from the weighted scores."""

    @property
    def name(self) -> str: ...

    def pick(self, ctx: Context, candidates: Sequence[int], scores: Sequence[float]) -> int:
        """The chosen position in ``candidates`` (never empty; ``scores`` in the same order).

        >>> from gateway.routing.placement.pickers import MaxScore
        >>> MaxScore().pick(Context(RequestView(1, 1), [], {}, PolicyState()), [4, 7], [0.2, 0.9])
        1
        """
        ...


def higher_is_better(values: Sequence[float]) -> list[float]:
    """``values`` scaled onto [0, 1] (min → 0, max → 1; all equal → all 1). Order kept."""
    lo = min(values)
    span = max(values) - lo
    if span > 0.0:
        return [(v - lo) / span for v in values]
    return [1.0] * len(values)


def lower_is_better(values: Sequence[float]) -> list[float]:
    """``values`` scaled onto [0, 1], reversed (min → 1, max → 0; all equal → all 1)."""
    hi = max(values)
    span = hi - min(values)
    if span > 0.0:
        return [(hi - v) / span for v in values]
    return [1.0] * len(values)
