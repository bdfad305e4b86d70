"""The score calibration the gateway routes with: examples from logged records, the fit, its
file, and the holder the request path calls.

Each dataset record that holds both an edge draft and a cloud answer is one example: the raw
score recomputed from the draft's log-probability summary (``gateway.routing.score.raw_score``)
and the label "the draft's tool calls equal the cloud's" (``calls_agree``). Drafts that scored
0 whatever the calibration (schema-invalid, or the edge asked for help) are left out: the fit
would never be used on them. Shadow records (``kind == "shadow"``) are what give the high
scores their labels.

The fit (isotonic or Platt, pure code in ``gateway.routing.calibration``) is written as JSON
(``fitted_at``, ``n``, ``method``, the map) to ``NETGPT_CALIBRATION_FILE`` (default
``DATA_DIR/calibration.json``), atomically. :class:`CalibrationHolder` is what the request path
calls (``holder(raw) -> P(edge acceptable)``): it swaps in a new fit atomically, so a refit after
an edge-model change never blocks a request. ``netgpt calibrate`` is ``calibrate_cli``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.dataset.readers import logged_records
from gateway.metrics import GatewayMetrics
from gateway.routing.calibration import Calibration, CalibrationError, calls_agree, fit
from gateway.routing.score import DraftFeatures, raw_score

log = logging.getLogger("netgpt.calibration")

FORMAT_VERSION = 1


# ---- records → examples ----------------------------------------------------------------------


def example(record: dict[str, Any], prior: float = 0.5) -> tuple[float, bool] | None:
    """(raw score, label) of one dataset record, or None when it cannot teach the calibration."""
    draft = record.get("edge_draft")
    cloud = record.get("cloud_response")
    if not isinstance(draft, dict) or not isinstance(cloud, dict):
        return None
    edge_msg, cloud_msg = draft.get("message"), cloud.get("message")
    if not isinstance(edge_msg, dict) or not isinstance(cloud_msg, dict):
        return None
    edge_calls = edge_msg.get("tool_calls") or []
    features = DraftFeatures(
        schema_valid=bool(draft.get("schema_valid")),
        n_tool_calls=len(edge_calls),
        mean_logprob=draft.get("mean_logprob"),
        min_logprob=draft.get("min_logprob"),
        n_tokens=0,
        offload_requested=record.get("reason") == "offload_requested",
    )
    raw = raw_score(features, prior)
    if raw <= 0.0:
        return None
    return raw, calls_agree(edge_calls, cloud_msg.get("tool_calls") or [])


def examples(
    records: Iterable[dict[str, Any]], prior: float = 0.5
) -> tuple[list[float], list[bool], int]:
    """Scores, labels and how many records were skipped."""
    scores: list[float] = []
    labels: list[bool] = []
    skipped = 0
    for record in records:
        pair = example(record, prior)
        if pair is None:
            skipped += 1
            continue
        scores.append(pair[0])
        labels.append(pair[1])
    return scores, labels, skipped


# ---- fit, save, load -------------------------------------------------------------------------


def fit_records(
    records: Iterable[dict[str, Any]], settings: Settings, *, source: str
) -> tuple[Calibration, dict[str, Any]]:
    """Fit on ``records``; raises :class:`CalibrationError` when there are too few examples."""
    c = settings.calibration
    scores, labels, skipped = examples(records, settings.routing.score_without_logprobs)
    if len(scores) < c.min_records:
        raise CalibrationError(
            f"only {len(scores)} usable records from {source} ({skipped} skipped), "
            f"need {c.min_records}: log more cloud-routed or shadow pairs "
            "(NETGPT_ROUTING_SHADOW_RATE) or lower NETGPT_CALIBRATION_MIN_RECORDS"
        )
    calibration = fit(scores, labels, c.method)
    meta = {
        "format_version": FORMAT_VERSION,
        "fitted_at": time.time(),
        "n": len(scores),
        "positives": sum(labels),
        "skipped": skipped,
        "method": c.method,
        "source": source,
    }
    return calibration, meta


def save_calibration(path: Path, calibration: Calibration, meta: dict[str, Any]) -> None:
    """Write the fit as JSON, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({**meta, "calibration": calibration.to_dict()}, indent=2).encode()
    fd, tmp = tempfile.mkstemp(prefix=".calibration-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_calibration(path: Path) -> tuple[Calibration | None, dict[str, Any]]:
    """The stored fit and its meta (``fitted_at``, ``n``, ``method``...).

    A missing file gives ``(None, {"loaded": False, ...})``; an unreadable one the same with an
    ``error`` (logged): the gateway then routes on raw scores rather than refusing to start.
    """
    meta: dict[str, Any] = {"loaded": False, "path": str(path)}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        calibration = Calibration.from_dict(data["calibration"])
    except FileNotFoundError:
        return None, meta
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning(
            "calibration file %s unreadable (%s); routing on raw scores until "
            "`netgpt calibrate` writes a new one",
            path,
            exc,
        )
        return None, {**meta, "error": f"{type(exc).__name__}: {exc}"}
    meta.update({k: v for k, v in data.items() if k != "calibration"}, loaded=True)
    return calibration, meta


def calibration_state(meta: dict[str, Any], now: float) -> dict[str, Any]:
    """Meta plus ``age_s``, for ``GET /v1/router/state``."""
    fitted = meta.get("fitted_at")
    age = max(now - float(fitted), 0.0) if isinstance(fitted, int | float) else None
    return {**meta, "age_s": age}


def bind_calibration_age(
    metrics: GatewayMetrics, meta: dict[str, Any], clock: Callable[[], float] = time.time
) -> None:
    """Make ``calibration_age_seconds`` report the loaded fit's age at every scrape (-1: none)."""
    fitted = meta.get("fitted_at")
    if isinstance(fitted, int | float):
        metrics.calibration_age.set_function(lambda: max(clock() - float(fitted), 0.0))
    else:
        metrics.calibration_age.set_function(lambda: -1.0)


class CalibrationHolder:
    def __init__(self, settings: Settings, metrics: GatewayMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._fit: Any = None  # gateway.routing.calibration.Calibration | None
        self._meta: dict[str, Any] = {}

    def __call__(self, raw: float) -> float:
        fit = self._fit
        return raw if fit is None else float(fit(raw))

    @property
    def fitted(self) -> bool:
        return self._fit is not None

    def load(self) -> None:
        """Load the latest fit from ``settings.calibration_file`` (none there: raw scores)."""
        fit, meta = load_calibration(self.settings.calibration_file)
        self._install(fit, meta or {})

    def _install(self, fit: Any, meta: dict[str, Any]) -> None:
        self._fit = fit
        self._meta = dict(meta)
        bind_calibration_age(self.metrics, self._meta)

    def clear(self) -> None:
        """Drop the fit (a new edge model): raw scores, or none trusted under
        ``NETGPT_CALIBRATION_REQUIRED``, until the next refit installs one."""
        self._install(None, {"reason": "cleared: the edge model changed"})

    def meta(self) -> dict[str, Any]:
        return calibration_state(self._meta, time.time()) | {"fitted": self._fit is not None}

    async def refit(
        self, redis: Any, logged: tuple[list[dict[str, Any]], str] | None = None
    ) -> dict[str, Any]:
        """Refit from the logged records (``logged``, as ``dataset.readers.logged_records``
        gives them, or read here: the Redis stream, or the spool without Redis) and install
        the result; with too few labelled records the current fit stays."""
        s = self.settings
        records, source = logged or await logged_records(redis, s.dataset.stream_key, s.data_dir)
        try:
            fit, meta = fit_records(records, s, source=source)
            await asyncio.to_thread(save_calibration, s.calibration_file, fit, meta)
        except CalibrationError as exc:
            return self.meta() | {"refit": False, "reason": str(exc)}
        self._install(fit, meta)
        log.info("calibration refitted", extra={"records": meta.get("n")})
        return self.meta() | {"refit": True}
