"""Replay upstreams: the fake OpenAI-compatible server of ``bench.fakes`` (its exact
vLLM/OpenAI response shapes), answering each demo request the way the recorded model did.

A request carries its id in the body field ``x_replay_id`` (the gateway forwards unknown fields
unchanged). A request without a known id — say, your own ``curl`` to the demo's gateway — gets
the fake's generic answer (arguments generated from the tool's schema).

The cloud replay also serves ``GET /blob``, the body the gateway's active bandwidth probe
downloads through the shaped link: about half a second's worth of the link's current rate (at
least 8 KiB, at most 2 MiB), so one probe neither stalls on a slow link nor finishes within a
scheduling tick on a fast one; ``?bytes=N`` asks for a given size.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.common.answers import NO_CALL_TEXT, Replay
from bench.common.network import Schedule
from bench.fakes import Answer, Behaviour, FakeUpstream, Flavor

BLOB_SECONDS = 0.5
BLOB_MIN, BLOB_MAX = 8 * 1024, 2 * 1024 * 1024


class ReplayUpstream(FakeUpstream):
    """``side`` is ``"edge"`` or ``"cloud"``: which recorded answer and latency it replays."""

    def __init__(
        self,
        side: str,
        replays: Mapping[str, Replay],
        *,
        model: str,
        flavor: Flavor,
        schedule: Schedule | None = None,
    ) -> None:
        super().__init__(name=side, model=model, flavor=flavor, record=False)
        self.side = side
        self.replays = replays
        self.schedule = schedule
        self.served = 0
        self.app.router.routes.append(Route("/blob", self._blob, methods=["GET"]))

    async def _chat(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        replay_id = body.get("x_replay_id") if isinstance(body, dict) else None
        replay = self.replays.get(replay_id) if isinstance(replay_id, str) else None
        if replay is None or not isinstance(body, dict):
            return await super()._chat(request)  # Starlette keeps the body: it reads again
        edge = self.side == "edge"
        calls = replay.edge_calls if edge else replay.cloud_calls
        text = replay.edge_text if edge else replay.cloud_text
        await asyncio.sleep(replay.edge_latency_s if edge else replay.cloud_latency_s)
        answer = Answer(
            None if calls else (text or NO_CALL_TEXT),
            [(c["function"]["name"], c["function"]["arguments"]) for c in calls],
        )
        behaviour = (
            Behaviour(logprob=math.log(max(replay.edge_confidence, 1e-9))) if edge else Behaviour()
        )
        self.served += 1
        response = self._answer(body, answer, behaviour)
        return _with_recorded_usage(response, replay, streamed=bool(body.get("stream")))

    async def _blob(self, request: Request) -> Response:
        size = request.query_params.get("bytes")
        if size is not None and size.isdigit():
            n = min(int(size), 64 * BLOB_MAX)
        else:
            rate = self.schedule.now().bandwidth_bytes_per_s if self.schedule else 1e6
            n = int(min(max(rate * BLOB_SECONDS, BLOB_MIN), BLOB_MAX))
        return Response(bytes(n), media_type="application/octet-stream")


def _with_recorded_usage(response: Response, replay: Replay, *, streamed: bool) -> Response:
    """The recorded token counts in ``usage`` (they price the cloud call), where known."""
    outcome = replay.request.cloud
    if streamed or outcome.input_tokens is None or outcome.output_tokens is None:
        return response
    out: dict[str, Any] = orjson.loads(response.body)
    out["usage"] = {
        "prompt_tokens": outcome.input_tokens,
        "completion_tokens": outcome.output_tokens,
        "total_tokens": outcome.input_tokens + outcome.output_tokens,
    }
    return Response(
        orjson.dumps(out), status_code=response.status_code, media_type="application/json"
    )
