"""The score calibration the gateway routes with, and its refit.

The fit itself (isotonic or Platt) is pure code in ``gateway.routing.calibration``; reading and
writing fits and dataset records is ``gateway.calibrate``. This holder is what the request path
calls (``holder(raw) -> P(edge acceptable)``): it swaps in a new fit atomically, so a refit after
an edge-model change never blocks a request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gateway.config import Settings
from gateway.metrics import GatewayMetrics

log = logging.getLogger("netgpt.calibration")


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
        from gateway.calibrate import load_calibration

        fit, meta = load_calibration(self.settings.calibration_file)
        self._install(fit, meta or {})

    def _install(self, fit: Any, meta: dict[str, Any]) -> None:
        from gateway.calibrate import bind_calibration_age

        self._fit = fit
        self._meta = dict(meta)
        bind_calibration_age(self.metrics, self._meta)

    def clear(self) -> None:
        """Drop the fit (a new edge model): raw scores, or none trusted under
        ``NETGPT_CALIBRATION_REQUIRED``, until the next refit installs one."""
        self._install(None, {"reason": "cleared: the edge model changed"})

    def meta(self) -> dict[str, Any]:
        from gateway.calibrate import calibration_state

        return calibration_state(self._meta, time.time()) | {"fitted": self._fit is not None}

    async def refit(self, redis: Any) -> dict[str, Any]:
        """Refit from the logged records (the Redis stream, or the spool without Redis) and
        install the result; with too few labelled records the current fit stays."""
        import asyncio

        from gateway.calibrate import (
            fit_records,
            refit_from_redis,
            save_calibration,
            spool_records,
        )
        from gateway.routing.calibration import CalibrationError

        try:
            if redis is not None:
                fit, meta = await refit_from_redis(self.settings, redis)
            else:
                records = await asyncio.to_thread(lambda: list(spool_records(self.settings.data_dir)))
                fit, meta = fit_records(records, self.settings, source="spool")
                await asyncio.to_thread(save_calibration, self.settings.calibration_file, fit, meta)
        except CalibrationError as exc:
            return self.meta() | {"refit": False, "reason": str(exc)}
        self._install(fit, meta)
        log.info("calibration refitted", extra={"records": meta.get("n")})
        return self.meta() | {"refit": True}
