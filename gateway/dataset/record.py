"""The versioned dataset record: one per cloud-routed (or shadow) request.

The service hands :class:`DatasetWriter` a plain dict; it is validated here into
:class:`DatasetRecord` (``extra="forbid"``: a new field is a schema change and bumps
``schema_version``) and serialised with orjson into the stream field ``record``.

Example::

    record = DatasetRecord.model_validate(raw)
    line = encode(record)            # bytes, one JSON object
    assert decode(line).id == record.id
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

# 2: edge_draft.n_tokens (the verifier's log-prob total); 3: edge_draft.samples (the agreement
# of sampled drafts, NETGPT_EDGE_SAMPLES); older versions still read
SCHEMA_VERSION = 3


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SamplesRecord(_Strict):
    """``gateway.routing.verifier.SampleSummary.to_dict()``: k sampled drafts (temperature > 0)
    against the greedy draft; the verifier's ``sc_`` features."""

    k: int = Field(ge=1)
    agreement: float = Field(ge=0, le=1)
    name_agreement: float = Field(ge=0, le=1)
    distinct: float = Field(ge=0, le=1)


class EdgeDraftRecord(_Strict):
    message: dict[str, Any]
    finish_reason: str | None = None
    schema_valid: bool
    schema_error: str | None = None
    mean_logprob: float | None = None
    min_logprob: float | None = None
    n_tokens: int | None = Field(None, ge=0)  # tokens the log-probs cover (schema version 2)
    # the agreement of k sampled drafts with this one (schema version 3; None: none drawn)
    samples: SamplesRecord | None = None


class CloudResponseRecord(_Strict):
    message: dict[str, Any]
    finish_reason: str | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None


class PriceRecord(_Strict):
    input_per_mtok: float
    output_per_mtok: float


class LatencyRecord(_Strict):
    edge_s: float | None = None
    cloud_s: float | None = None
    total_s: float | None = None


class TokensRecord(_Strict):
    input: int = Field(ge=0)
    output: int = Field(ge=0)


class ModelsRecord(_Strict):
    edge: str
    cloud: str


class DatasetRecord(_Strict):
    """One logged request/response pair (schema version 3; version 1 records lack
    ``edge_draft.n_tokens``, versions 1 and 2 lack ``edge_draft.samples``, and still validate).

    ``id`` is stable (``f"{request_id}:{kind}"``) so a replay of the same record into Redis is
    recognised and skipped. ``request`` is the client's body as received, less ``stream`` and
    ``stream_options``; its unknown fields are kept.
    """

    schema_version: Literal[1, 2, 3] = 3  # == SCHEMA_VERSION
    id: str = Field(min_length=1, max_length=512)
    request_id: str = Field(min_length=1, max_length=256)
    kind: Literal["routed", "shadow"]
    created_at: float
    route: Literal["cloud", "edge"]
    reason: str
    score: float | None = None
    threshold: float | None = None
    request: dict[str, Any]
    edge_draft: EdgeDraftRecord | None = None
    cloud_response: CloudResponseRecord | None = None
    cloud_schema_valid: bool | None = None
    network: dict[str, Any] = Field(default_factory=dict)
    price: PriceRecord
    latency: LatencyRecord = Field(default_factory=LatencyRecord)
    tokens: TokensRecord
    cost_usd: float = Field(ge=0)
    models: ModelsRecord


def encode(record: DatasetRecord) -> bytes:
    """Compact JSON of a record (no trailing newline)."""
    return orjson.dumps(record.model_dump(mode="json"))


def decode(data: bytes | str) -> DatasetRecord:
    """Parse and validate one stored record; raises ``pydantic.ValidationError`` or
    ``orjson.JSONDecodeError`` on a damaged or foreign entry."""
    return DatasetRecord.model_validate(orjson.loads(data))


_SPACES = re.compile(r"\s+")


def _norm_text(value: Any) -> Any:
    if isinstance(value, str):
        return _SPACES.sub(" ", value).strip()
    if isinstance(value, list):  # content parts
        return [_norm_text(part) for part in value]
    if isinstance(value, dict):
        return {key: _norm_text(item) for key, item in value.items()}
    return value


def _norm_arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return arguments.strip()
    return arguments


def _norm_message(message: dict[str, Any]) -> dict[str, Any]:
    # ids of earlier tool calls differ between otherwise identical requests: leave them out
    out: dict[str, Any] = {"role": message.get("role"), "content": _norm_text(message.get("content"))}
    calls = message.get("tool_calls") or []
    if calls:
        out["tool_calls"] = [
            {
                "name": (call.get("function") or {}).get("name"),
                "arguments": _norm_arguments((call.get("function") or {}).get("arguments")),
            }
            for call in calls
        ]
    if message.get("name"):
        out["name"] = message["name"]
    return out


def normalised_request(request: dict[str, Any]) -> dict[str, Any]:
    """What makes two requests "the same" for training: messages (whitespace-collapsed text,
    tool-call ids dropped), the offered tools (order-free) and tool_choice. Sampling
    parameters, ``model`` and ``user`` do not count."""
    tools = sorted(
        request.get("tools") or [],
        key=lambda tool: str((tool.get("function") or {}).get("name", "")),
    )
    return {
        "messages": [_norm_message(m) for m in request.get("messages") or [] if isinstance(m, dict)],
        "tools": tools,
        "tool_choice": request.get("tool_choice"),
    }


def request_hash(request: dict[str, Any]) -> str:
    """Hex SHA-256 of the normalised request: dedup key and train/validation split key."""
    canonical = orjson.dumps(normalised_request(request), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
