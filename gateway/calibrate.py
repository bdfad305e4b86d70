"""``netgpt calibrate``: refit the score calibration from logged pairs; load/save of fits.

Each dataset record that holds both an edge draft and a cloud answer is one example: the raw
score recomputed from the draft's log-probability summary (``gateway.routing.score.raw_score``)
and the label "the draft's tool calls equal the cloud's" (``calls_agree``). Drafts that scored
0 whatever the calibration (schema-invalid, or the edge asked for help) are left out: the fit
would never be used on them. Shadow records (``kind == "shadow"``) are what give the high
scores their labels.

The fit is written as JSON (``fitted_at``, ``n``, ``method``, the map) to
``NETGPT_CALIBRATION_FILE`` (default ``DATA_DIR/calibration.json``), atomically; the gateway
loads the latest one at start (:func:`load_calibration`) and may refit after an edge model
update (:func:`refit_from_redis`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.config import ConfigError, Settings, load_settings
from gateway.metrics import GatewayMetrics
from gateway.routing.calibration import Calibration, CalibrationError, calls_agree, fit
from gateway.routing.score import DraftFeatures, raw_score

log = logging.getLogger("netgpt.calibrate")

FORMAT_VERSION = 1
_PAGE = 1000


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


def _decode(raw: bytes | str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and isinstance(value.get("record"), dict):
        value = value["record"]
    return value if isinstance(value, dict) else None


# ---- sources ---------------------------------------------------------------------------------


def spool_records(data_dir: Path) -> Iterator[dict[str, Any]]:
    """Every readable record in the local spool (``DATA_DIR/dataset/spool.jsonl``)."""
    from gateway.dataset.spool import iter_lines, spool_dir

    for _, line in iter_lines(spool_dir(data_dir)):
        record = _decode(line)
        if record is not None:
            yield record


async def redis_records(
    redis: Redis, key: str, *, tick: Callable[[int], None] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every readable record of the stream, oldest first (XRANGE pages; read-only)."""
    cursor = "-"
    while True:
        page = await redis.xrange(key, min=cursor, max="+", count=_PAGE)
        if not page:
            return
        for _entry_id, fields in page:
            raw = (fields or {}).get(b"record") or (fields or {}).get("record")
            record = _decode(raw) if raw is not None else None
            if record is not None:
                yield record
        if tick is not None:
            tick(len(page))
        if len(page) < _PAGE:
            return
        last = page[-1][0]
        cursor = "(" + (last.decode() if isinstance(last, bytes) else str(last))


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


async def refit_from_redis(settings: Settings, redis: Redis) -> tuple[Calibration, dict[str, Any]]:
    """Refit from the Redis stream and save to ``settings.calibration_file`` (for the app,
    e.g. after an edge model update). Raises :class:`CalibrationError` with too few records."""
    key = settings.dataset.stream_key
    records = [record async for record in redis_records(redis, key)]
    calibration, meta = fit_records(records, settings, source=f"redis stream {key}")
    await asyncio.to_thread(save_calibration, settings.calibration_file, calibration, meta)
    return calibration, meta


# ---- command ---------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="refit the score calibration from logged edge/cloud pairs",
        description=(
            "Fit raw edge score -> P(edge draft acceptable) on logged pairs (label: the edge "
            "draft's tool calls equal the cloud's) and write it where the gateway loads it at "
            "start. Restart the gateway (or let it refit) to use the new fit."
        ),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from-redis",
        action="store_true",
        help="read the Redis stream NETGPT_DATASET_STREAM_KEY (default when NETGPT_REDIS_URL is set)",
    )
    source.add_argument(
        "--from-spool",
        action="store_true",
        help="read the local spool NETGPT_DATA_DIR/dataset/spool.jsonl (default without Redis)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the fit (default NETGPT_CALIBRATION_FILE or DATA_DIR/calibration.json)",
    )
    parser.add_argument(
        "--method",
        choices=["isotonic", "platt"],
        default=None,
        help="isotonic regression or Platt scaling (default NETGPT_CALIBRATION_METHOD, isotonic)",
    )
    parser.add_argument(
        "--min-records",
        type=int,
        default=None,
        help="refuse to fit on fewer usable records (default NETGPT_CALIBRATION_MIN_RECORDS, 50)",
    )
    parser.add_argument("--redis-url", default=None, help="overrides NETGPT_REDIS_URL")
    parser.add_argument("--data-dir", type=Path, default=None, help="overrides NETGPT_DATA_DIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _err(message: str) -> int:
    sys.stderr.write(f"netgpt calibrate: {message}\n")
    return 1


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.redis_url:
        overrides["redis_url"] = args.redis_url
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    settings = load_settings(**overrides)
    cal = settings.calibration.model_copy(
        update={
            k: v
            for k, v in (
                ("method", args.method),
                ("min_records", args.min_records),
                ("file", args.out),
            )
            if v is not None
        }
    )
    return settings.model_copy(update={"calibration": cal})


async def _read_redis(settings: Settings, progress: bool) -> list[dict[str, Any]]:
    from rich.progress import Progress

    assert settings.redis_url is not None
    redis = Redis.from_url(settings.redis_url)
    try:
        key = settings.dataset.stream_key
        total = await redis.xlen(key)
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task(f"reading {key}", total=total)
            return [r async for r in redis_records(redis, key, tick=lambda n: bar.advance(task, n))]
    finally:
        await redis.aclose()


def run(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as exc:
        return _err(str(exc))
    use_redis = args.from_redis or (not args.from_spool and settings.redis_url is not None)
    progress = not args.no_progress and sys.stderr.isatty()
    try:
        if use_redis:
            if settings.redis_url is None:
                return _err(
                    "no Redis configured: set NETGPT_REDIS_URL or --redis-url, or use --from-spool"
                )
            source = f"redis stream {settings.dataset.stream_key}"
            records: Iterable[dict[str, Any]] = asyncio.run(_read_redis(settings, progress))
        else:
            source = f"spool {settings.data_dir / 'dataset'}"
            records = spool_records(settings.data_dir)
        calibration, meta = fit_records(records, settings, source=source)
        save_calibration(settings.calibration_file, calibration, meta)
    except (RedisError, OSError) as exc:
        return _err(
            f"cannot read records ({type(exc).__name__}: {exc}); check NETGPT_REDIS_URL / the data dir"
        )
    except CalibrationError as exc:
        return _err(str(exc))
    sys.stdout.write(
        f"fitted {meta['method']} calibration on {meta['n']} records "
        f"({meta['positives']} agreeing, {meta['skipped']} skipped) from {source}\n"
        f"wrote {settings.calibration_file}\n"
    )
    return 0
