"""Quality per expert and request type, learned from the logged dataset records.

A request's *type* is ``(domain, tools, parallel)``: the tool domain (the first expert tag, in
sorted order, found in a tool's name or description; ``*`` when none), the number of tools
offered in buckets (``1``, ``2-4``, ``5+``) and whether the request asked for parallel calls
(``parallel_tool_calls: true``).

The label of a record is the one ``netgpt calibrate`` uses: the edge draft's tool calls equal
the cloud's (``gateway.routing.calibration.calls_agree``), and a schema-invalid draft is a
failure. Records are attributed to the edge *model* that drafted (``models.edge``): two servers
of one model share its quality. The estimate backs off from the type to the domain to the model
to the prior: ``q = (agree + k·q_parent) / (n + k)`` with ``k = PRIOR_WEIGHT``; an expert
without any record has its configured ``quality`` prior (or ``DEFAULT_PRIOR``).

    table = QualityTable.from_records(records)
    table.quality("smollm2", RequestType("weather", "2-4", False), prior=0.6)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gateway.routing.calibration import calls_agree

log = logging.getLogger("netgpt.experts")

DEFAULT_PRIOR = 0.5
PRIOR_WEIGHT = 5.0
ANY = "*"


class RequestType(NamedTuple):
    domain: str
    tools: str
    parallel: bool


def tools_bucket(n: int) -> str:
    return "0" if n <= 0 else "1" if n == 1 else "2-4" if n <= 4 else "5+"


def request_domain(tools: Any, domains: Sequence[str]) -> str:
    """The first of ``domains`` (sorted, lower case) named in a tool's name or description."""
    if not domains or not isinstance(tools, list):
        return ANY
    text = " ".join(
        f"{fn.get('name', '')} {fn.get('description', '')}"
        for tool in tools
        if isinstance(tool, dict) and isinstance(fn := tool.get("function"), dict)
    ).lower()
    return next((d for d in domains if d in text), ANY)


def request_type(raw: dict[str, Any], domains: Sequence[str]) -> RequestType:
    tools = raw.get("tools")
    n = len(tools) if isinstance(tools, list) else 0
    return RequestType(request_domain(tools, domains), tools_bucket(n), raw.get("parallel_tool_calls") is True)


@dataclass(slots=True)
class _Count:
    agree: float = 0.0
    n: float = 0.0


@dataclass(slots=True)
class QualityTable:
    """Agreement counts per (model, type), (model, domain) and model."""

    by_type: dict[tuple[str, RequestType], _Count] = field(default_factory=dict)
    by_domain: dict[tuple[str, str], _Count] = field(default_factory=dict)
    by_model: dict[str, _Count] = field(default_factory=dict)
    records: int = 0
    skipped: int = 0

    def add(self, model: str, rtype: RequestType, ok: bool) -> None:
        for count in (
            self.by_type.setdefault((model, rtype), _Count()),
            self.by_domain.setdefault((model, rtype.domain), _Count()),
            self.by_model.setdefault(model, _Count()),
        ):
            count.agree += 1.0 if ok else 0.0
            count.n += 1.0
        self.records += 1

    def knows(self, model: str) -> bool:
        return model in self.by_model

    def quality(self, model: str, rtype: RequestType, prior: float = DEFAULT_PRIOR) -> float:
        q = prior
        for count in (
            self.by_model.get(model),
            self.by_domain.get((model, rtype.domain)),
            self.by_type.get((model, rtype)),
        ):
            if count is not None:
                q = (count.agree + PRIOR_WEIGHT * q) / (count.n + PRIOR_WEIGHT)
        return q

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], domains: Sequence[str] = ()) -> QualityTable:
        table = cls()
        for record in records:
            labelled = label(record, domains)
            if labelled is None:
                table.skipped += 1
                continue
            table.add(*labelled)
        return table

    def summary(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "skipped": self.skipped,
            "models": {m: {"n": int(c.n), "agree_rate": round(c.agree / c.n, 4)} for m, c in self.by_model.items()},
        }


def label(record: dict[str, Any], domains: Sequence[str] = ()) -> tuple[str, RequestType, bool] | None:
    """(model, request type, acceptable) of a record with both an edge draft and a cloud answer."""
    draft, cloud = record.get("edge_draft"), record.get("cloud_response")
    models, request = record.get("models"), record.get("request")
    if not (isinstance(draft, dict) and isinstance(cloud, dict) and isinstance(models, dict)):
        return None
    edge_msg, cloud_msg = draft.get("message"), cloud.get("message")
    model = models.get("edge")
    if not isinstance(edge_msg, dict) or not isinstance(cloud_msg, dict) or not isinstance(model, str):
        return None
    ok = bool(draft.get("schema_valid")) and calls_agree(
        edge_msg.get("tool_calls") or [], cloud_msg.get("tool_calls") or []
    )
    return model, request_type(request if isinstance(request, dict) else {}, domains), ok


class QualityHolder:
    """The table the placer reads, swapped whole on refit (from Redis, else the local spool)."""

    def __init__(self, domains: Sequence[str] = ()) -> None:
        self.domains = tuple(sorted({d.lower() for d in domains}))
        self.table = QualityTable()
        self.source: str | None = None

    def quality(self, model: str, rtype: RequestType, prior: float) -> float:
        return self.table.quality(model, rtype, prior)

    async def refit(self, redis: Any, stream_key: str, data_dir: Any) -> dict[str, Any]:
        """Recount from the logged records; the old table serves until the new one is ready."""
        from redis.exceptions import RedisError

        from gateway.dataset.readers import redis_records, spool_records

        try:
            if redis is not None:
                records = [r async for r in redis_records(redis, stream_key)]
                source = f"redis stream {stream_key}"
            else:
                records = await asyncio.to_thread(lambda: list(spool_records(data_dir)))
                source = "spool"
        except (RedisError, OSError) as exc:  # the prior (or the last table) keeps serving
            log.warning("cannot read records for expert quality: %s", exc)
            return self.state() | {"refit": False, "reason": str(exc)}
        try:
            self.table = await asyncio.to_thread(QualityTable.from_records, records, self.domains)
        except Exception as exc:  # a damaged record must not kill the background refit silently
            log.warning("expert quality not refitted: %r", exc)
            return self.state() | {"refit": False, "reason": repr(exc)}
        self.source = source
        log.info("expert quality refitted", extra={"records": self.table.records})
        return self.state()

    def state(self) -> dict[str, Any]:
        return {"source": self.source, "domains": list(self.domains)} | self.table.summary()
