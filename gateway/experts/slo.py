"""The per-request SLO: headers ``x-slo-ttft-ms``, ``x-slo-tpot-ms`` (as llm-d names them) and
``x-netgpt-deadline-ms``, else the configured defaults (``NETGPT_SLO_*``).

    slo = parse_slo(request.headers, settings.slo)   # RequestError (400, param=header) if bad
    slo.ttft_s, slo.tpot_s, slo.deadline_s            # seconds, None = no target
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config import SloSettings
from gateway.errors import RequestError

TTFT_HEADER = "x-slo-ttft-ms"
TPOT_HEADER = "x-slo-tpot-ms"
DEADLINE_HEADER = "x-netgpt-deadline-ms"
MAX_MS = 24 * 3600 * 1000.0  # a day: anything longer is a typo, not an SLO


@dataclass(frozen=True, slots=True)
class Slo:
    ttft_s: float | None = None
    tpot_s: float | None = None
    deadline_s: float | None = None

    @property
    def any(self) -> bool:
        return self.ttft_s is not None or self.tpot_s is not None or self.deadline_s is not None


NO_SLO = Slo()


def _ms(value: str, header: str) -> float:
    try:
        ms = float(value.strip())
    except ValueError:
        ms = math.nan
    if not math.isfinite(ms) or ms <= 0 or ms > MAX_MS:
        raise RequestError(
            f"header {header} must be a positive number of milliseconds (at most {MAX_MS:.0f}), "
            f"got {value[:40]!r}",
            param=header,
            code="invalid_slo_header",
        )
    return ms


def _seconds(headers: Mapping[str, str], header: str, default_ms: float | None) -> float | None:
    value = headers.get(header)
    if value is None:
        return None if default_ms is None else default_ms / 1000.0
    return _ms(value, header) / 1000.0


def defaults(settings: SloSettings) -> Slo:
    ttft, tpot, deadline = settings.ttft_ms, settings.tpot_ms, settings.deadline_ms
    if ttft is None and tpot is None and deadline is None:
        return NO_SLO
    return Slo(*(None if ms is None else ms / 1000.0 for ms in (ttft, tpot, deadline)))


_RAW_NAMES = (b"x-slo-", DEADLINE_HEADER.encode())


def parse_slo(headers: Mapping[str, str], settings: SloSettings) -> Slo:
    """The request's SLO in seconds; raises :class:`RequestError` naming a malformed header.

    ``headers``: Starlette's ``Headers`` (or any mapping with lower-case names)."""
    raw = getattr(headers, "raw", None)
    if raw is not None:  # one pass over the raw (lower-case) names: the common case has none
        for name, _ in raw:
            if name.startswith(_RAW_NAMES):
                break
        else:
            return defaults(settings)
    elif TTFT_HEADER not in headers and TPOT_HEADER not in headers and DEADLINE_HEADER not in headers:
        return defaults(settings)
    return Slo(
        _seconds(headers, TTFT_HEADER, settings.ttft_ms),
        _seconds(headers, TPOT_HEADER, settings.tpot_ms),
        _seconds(headers, DEADLINE_HEADER, settings.deadline_ms),
    )
