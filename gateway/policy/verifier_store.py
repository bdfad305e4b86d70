"""The verifier the gateway scores drafts with: its fit from logged pairs, where it is kept, and
the holder the judge stage reads.

One example per logged record that holds an edge draft (schema-valid, no offload) and the
cloud's answer to the same request — routed or shadow: the features of ``gateway.routing.
verifier`` computed from the request, the draft's calls and its log-prob summary, and the label
"the edge made the cloud's calls" (``calls_cover``). Only records of the edge model being fitted
count. The fit (``VerifierModel``, JSON with its edge model and feature names) is written to
``NETGPT_VERIFIER_FILE`` (default ``DATA_DIR/verifier.json``) and, with Redis, to
``NETGPT_VERIFIER_REDIS_KEY``, so every replica loads the same one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.config import Settings
from gateway.dataset.readers import logged_records
from gateway.routing.verifier import (
    FEATURE_NAMES,
    REQUEST_FEATURES,
    LogprobSummary,
    SampleSummary,
    VerifierError,
    VerifierModel,
    calls_cover,
    extract,
    fit,
)

log = logging.getLogger("netgpt.verifier")


def example(record: dict[str, Any], edge_model: str) -> tuple[tuple[float, ...], bool] | None:
    """(features, label) of one dataset record, or None when it cannot teach the verifier."""
    draft, cloud = record.get("edge_draft"), record.get("cloud_response")
    models = record.get("models") or {}
    if not isinstance(draft, dict) or not isinstance(cloud, dict) or models.get("edge") != edge_model:
        return None
    if not draft.get("schema_valid") or record.get("reason") == "offload_requested":
        return None  # scored 0 whatever the verifier says
    request = record.get("request") or {}
    messages, tools = request.get("messages") or [], request.get("tools") or []
    edge_calls = (draft.get("message") or {}).get("tool_calls")
    mean, low = draft.get("mean_logprob"), draft.get("min_logprob")
    logprobs = None
    if isinstance(mean, int | float) and isinstance(low, int | float):
        logprobs = LogprobSummary(float(mean), float(low), int(draft.get("n_tokens") or 0))
    samples = SampleSummary.from_dict(draft.get("samples"))  # schema version 3; else None
    try:
        x = extract(messages, tools, edge_calls, logprobs, samples)
    except (TypeError, ValueError, AttributeError):
        return None  # a malformed logged request teaches nothing
    return x, calls_cover(edge_calls, (cloud.get("message") or {}).get("tool_calls"))


def fit_records(
    records: Iterable[dict[str, Any]], settings: Settings, edge_model: str
) -> tuple[VerifierModel, VerifierModel]:
    """The full verifier and its request-only part (the pre-draft skip's prediction), fitted on
    ``records``; raises :class:`VerifierError` with too few examples or one kind of label."""
    rows: list[tuple[float, ...]] = []
    labels: list[bool] = []
    for record in records:
        pair = example(record, edge_model)
        if pair is not None:
            rows.append(pair[0])
            labels.append(pair[1])
    need = settings.verifier.min_records
    if len(rows) < need or len(set(labels)) < 2:
        raise VerifierError(
            f"{len(rows)} usable pairs for edge model '{edge_model}' ({sum(labels)} agreeing), "
            f"need {need} with both outcomes: log more cloud-routed or shadow pairs "
            "(NETGPT_ROUTING_SHADOW_RATE) or lower NETGPT_VERIFIER_MIN_RECORDS"
        )
    l2 = settings.verifier.l2
    return (fit(rows, labels, edge_model=edge_model, l2=l2),
            fit(rows, labels, edge_model=edge_model, l2=l2, features=REQUEST_FEATURES))


# the request-only model scores a vector whose draft and log-prob parts are absent
_NO_DRAFT = (0.0,) * (len(FEATURE_NAMES) - len(REQUEST_FEATURES))


def request_only_score(model: VerifierModel, request_vector: tuple[float, ...]) -> float:
    """P(edge right) from the request alone, before any draft."""
    return model.score(request_vector + _NO_DRAFT)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".verifier-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _request_path(path: Path) -> Path:
    return path.with_name(path.stem + "-request" + path.suffix)


class VerifierHolder:
    """The fitted verifier in force (one edge model's), swapped atomically on a refit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._model: VerifierModel | None = None
        self._request_model: VerifierModel | None = None
        self._meta: dict[str, Any] = {"loaded": False}

    def model_for(self, edge_model: str | None) -> VerifierModel | None:
        model = self._model
        if model is None or not self.settings.verifier.enabled or model.edge_model != edge_model:
            return None
        return model

    def request_model_for(self, edge_model: str | None) -> VerifierModel | None:
        model = self._request_model
        if model is None or not self.settings.verifier.enabled or model.edge_model != edge_model:
            return None
        return model

    def _install(self, model: VerifierModel | None, meta: dict[str, Any],
                 request_model: VerifierModel | None = None) -> None:
        self._model, self._request_model, self._meta = model, request_model, meta

    def load(self) -> None:
        """The fit in ``NETGPT_VERIFIER_FILE`` (none, or unreadable: the calibrated score)."""
        path = self.settings.verifier_file
        try:
            model = VerifierModel.from_json(path.read_bytes())
            request_path = _request_path(path)
            request = VerifierModel.from_json(request_path.read_bytes()) if request_path.exists() else None
        except FileNotFoundError:
            return
        except (OSError, VerifierError, ValueError) as exc:
            log.warning("verifier file %s unreadable (%s); scoring without it", path, exc)
            self._meta = {"loaded": False, "error": f"{type(exc).__name__}: {exc}"}
            return
        self._install(model, {"loaded": True, "source": str(path), "edge_model": model.edge_model,
                              "n": model.n_train, "positives": model.positives}, request)

    async def load_shared(self, redis: Redis) -> None:
        """The fit another replica stored in Redis, when there is one (it wins over the file)."""
        try:
            key = self.settings.verifier.redis_key
            text, request_text = await redis.mget(key, key + ":request")
            if text is not None:
                model = VerifierModel.from_json(text)
                request = VerifierModel.from_json(request_text) if request_text is not None else None
                self._install(model, {"loaded": True, "source": "redis", "edge_model": model.edge_model,
                                      "n": model.n_train, "positives": model.positives}, request)
        except (RedisError, VerifierError, ValueError) as exc:
            log.warning("shared verifier unreadable (%s); keeping the local one", exc)

    async def refit(
        self, redis: Redis | None, edge_model: str,
        logged: tuple[list[dict[str, Any]], str] | None = None,
    ) -> dict[str, Any]:
        """Refit for ``edge_model`` from the logged records (``logged``, or read here: the
        Redis stream, else the spool), store it for every replica and install it; with too
        few pairs the current one stays."""
        started = time.perf_counter()
        s = self.settings
        try:
            records = (logged or await logged_records(redis, s.dataset.stream_key, s.data_dir))[0]
            model, request = await asyncio.to_thread(fit_records, records, self.settings, edge_model)
        except (VerifierError, RedisError) as exc:
            return self.meta() | {"refit": False, "reason": str(exc)}
        text, request_text = model.to_json(), request.to_json()
        path = self.settings.verifier_file
        await asyncio.to_thread(_write_atomically, path, text)
        await asyncio.to_thread(_write_atomically, _request_path(path), request_text)
        if redis is not None:
            key = self.settings.verifier.redis_key
            await redis.mset({key: text, key + ":request": request_text})
        self._install(model, {"loaded": True, "source": "refit", "edge_model": edge_model,
                              "n": model.n_train, "positives": model.positives,
                              "fitted_at": time.time(),
                              "fit_s": round(time.perf_counter() - started, 3)}, request)
        log.info("verifier refitted", extra={"records": model.n_train})
        return self.meta() | {"refit": True}

    def meta(self) -> dict[str, Any]:
        return dict(self._meta) | {"enabled": self.settings.verifier.enabled}
