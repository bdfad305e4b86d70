"""What each replayed model answers to each request, built once before the demo starts.

Where the data directory holds what the model really answered (``outcomes/results/<model>``),
the replay answers with that output, decoded as the model's own tool parser would
(``bench.common.replay``): a reply the parser rejects reaches the gateway as text without
calls, as from a real server; the cloud's recorded latency and token counts come with it.
Otherwise (a model without recorded outputs, the synthetic set) the recorded outcomes say
whether a model was right and, if not, BFCL's error type, not the text it produced. So
answers are rebuilt from the reference answer (``bench.common.drafts``):
right → the reference call; wrong with an error a schema check catches (bad JSON, wrong name,
missing required, wrong type) → that broken call; wrong otherwise → a schema-valid call with a
wrong value (or a wrong count of parallel calls). The edge model's confidence is *simulated*
(binormal, see ``bench.routing.signal``): right answers tend to high token probabilities,
wrong ones lower, with the separation set by an AUC.
"""

from __future__ import annotations

import copy
import json
import math
import random
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist
from typing import Any

from bench.common import costs
from bench.common.bfcl import Outcome, Request
from bench.common.costs import EDGE_FORMAT_TOKENS
from bench.common.drafts import rebuild_draft, schema_catchable
from bench.common.replay import ReplayDataError, Replayed, load_replays

NO_CALL_TEXT = "None of the offered functions fits this request."


@dataclass(frozen=True, slots=True)
class Replay:
    """One request with both models' replayed answers."""

    request: Request
    edge_calls: list[dict[str, Any]]
    edge_confidence: float  # mean token probability the edge replay reports
    edge_latency_s: float
    cloud_calls: list[dict[str, Any]]
    cloud_latency_s: float
    edge_text: str | None = None  # the reply's text when the recorded output holds no call
    cloud_text: str | None = None
    recorded: bool = False  # the answers are the models' recorded outputs, not rebuilt

    @property
    def body(self) -> dict[str, Any]:
        """The chat request the load generator sends (``x_replay_id`` steers the replays)."""
        return {
            "model": "auto",
            "messages": [{"role": "user", "content": self.request.question}],
            "tools": list(self.request.tools),
            "x_replay_id": self.request.prompt_id,
        }


def _other(value: Any) -> Any:
    """A value of the same type that is not ``value``."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + " (guess)" if value else "unknown"
    if isinstance(value, list):
        return [*value, *value[:1]] if value else ["extra"]
    if isinstance(value, dict):
        return {k: _other(v) for k, v in value.items()} if value else {"extra": 1}
    return "unknown"


def _valid_but_wrong(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    calls = copy.deepcopy(calls)
    if len(calls) > 1:
        return calls[:-1]  # a wrong count of parallel calls
    if not calls:
        return calls
    function = calls[0]["function"]
    args = json.loads(function["arguments"])
    if isinstance(args, dict) and args:
        key = sorted(args)[0]
        args[key] = _other(args[key])
        function["arguments"] = json.dumps(args)
        return calls
    return calls * 2


def answer_calls(request: Request, outcome: Outcome) -> list[dict[str, Any]]:
    """The tool calls a model with ``outcome`` on ``request`` answers (OpenAI shape)."""
    calls = rebuild_draft(replace(request, edge=outcome))
    if outcome.correct or schema_catchable(outcome.error_type) or request.ground_truth is None:
        # right; or broken the way the error says; or a call where none was wanted
        return calls
    return _valid_but_wrong(calls)


def _rng(prompt_id: str, seed: int) -> random.Random:
    return random.Random(zlib.crc32(f"{seed}:{prompt_id}".encode()))


def confidence(correct: bool, auc: float, rng: random.Random) -> float:
    """Simulated mean token probability: sigmoid of N(d·correct, 1), d = √2·Φ⁻¹(AUC)."""
    d = math.sqrt(2.0) * NormalDist().inv_cdf(auc)
    latent = rng.gauss(d if correct else 0.0, 1.0)
    return 1.0 / (1.0 + math.exp(-latent))


def edge_latency_s(request: Request, params: float) -> float:
    """Simulated edge compute time: the benchmark's decode model (``bench.common.costs``) of a
    ``params``-parameter model on one edge GPU, with the cloud's token counts as a proxy."""
    tin = float(request.cloud.input_tokens or request.request_bytes / 4)
    tout = float(request.cloud.output_tokens or 30) + EDGE_FORMAT_TOKENS
    return float(costs.edge_latency_s(params, tin, tout))  # type: ignore[arg-type]


def recorded_answers(data: Path | None, model: str) -> dict[str, Replayed]:
    """The model's recorded outputs, decoded; empty without them (the rebuilt replay is used)."""
    if data is None:
        return {}
    try:
        return load_replays(data, model)
    except ReplayDataError:
        return {}


def _calls(recorded: Replayed | None, request: Request, outcome: Outcome) -> tuple[list[dict[str, Any]], str | None]:
    if recorded is None:
        return answer_calls(request, outcome), None
    answer = recorded.answer
    return [dict(c) for c in answer.tool_calls], None if answer.tool_calls else (answer.content or "")


def build_replays(
    requests: list[Request], auc: float, seed: int, edge_model: str, *,
    data: Path | None = None, cloud_model: str | None = None,
) -> dict[str, Replay]:
    """One :class:`Replay` per request: the models' recorded outputs where ``data`` has them
    (edge ``edge_model``, cloud ``cloud_model``), else answers rebuilt from the outcomes."""
    params = costs.EDGE_PARAMS.get(edge_model, 1.35e9)
    edge_rec = recorded_answers(data, edge_model)
    cloud_rec = recorded_answers(data, cloud_model) if cloud_model else {}
    out = {}
    for request in requests:
        rng = _rng(request.prompt_id, seed)
        edge, cloud = edge_rec.get(request.prompt_id), cloud_rec.get(request.prompt_id)
        edge_calls, edge_text = _calls(edge, request, request.edge)
        cloud_calls, cloud_text = _calls(cloud, request, request.cloud)
        out[request.prompt_id] = Replay(
            request=request,
            edge_calls=edge_calls,
            edge_confidence=confidence(request.edge.correct, auc, rng),
            edge_latency_s=edge_latency_s(request, params),
            cloud_calls=cloud_calls,
            cloud_latency_s=(cloud.latency_s if cloud is not None and cloud.latency_s else None)
            or request.cloud.latency_s or 1.0,
            edge_text=edge_text,
            cloud_text=cloud_text,
            recorded=edge is not None,
        )
    return out
