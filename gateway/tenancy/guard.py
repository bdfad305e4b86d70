"""Who is calling, may they, and are they within their limits.

:class:`Tenancy` is what the routes see:

- ``authenticate(headers)`` -> :class:`Principal`: a key from the key file
  (``NETGPT_API_KEYS_FILE``, with limits), a plain key from ``NETGPT_API_KEYS`` (no limits:
  the contract from before), an admin key (``NETGPT_ADMIN_API_KEYS``), or anonymous when no key
  of any kind is configured. 401 otherwise.
- ``require_admin(headers)``: with admin keys configured, only they reach the admin endpoints
  (403 for a client key); without, any valid client key does, as before.
- ``admit(principal)``: 429 with ``retry_after_s`` when a limit of the key is hit.
- ``charge(principal, tokens, usd)``: after the answer, its tokens and cloud cost.

A principal without limits costs nothing beyond the key check: no limiter call at all.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from gateway.config import ConfigError, Settings
from gateway.errors import AuthError, PermissionDenied, QuotaExceeded, RateLimited
from gateway.metrics import GatewayMetrics
from gateway.tenancy.keys import KeyFile, KeyFileError
from gateway.tenancy.leased import LeasedLimiter
from gateway.tenancy.limiter import Limiter, LocalLimiter
from gateway.tenancy.limits import BUDGET, REQUESTS, KeyLimits, retry_after_header

log = logging.getLogger("netgpt.tenancy")

_NO_LIMITS = KeyLimits()


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    limits: KeyLimits = _NO_LIMITS
    admin: bool = False


ANONYMOUS = Principal("anonymous")


def bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _matches(presented: bytes, keys: list[bytes]) -> bool:
    ok = False
    for key in keys:  # every key compared, in constant time each
        ok |= hmac.compare_digest(presented, key)
    return ok


class Tenancy:
    def __init__(
        self,
        settings: Settings,
        metrics: GatewayMetrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        t = settings.tenancy
        self.clock = clock
        self.metrics = metrics
        self.plain_keys = settings.client_keys()
        self.admin_keys = [k.get_secret_value().encode() for k in t.admin_api_keys]
        self.key_file: KeyFile | None = None
        if t.api_keys_file is not None:
            try:
                self.key_file = KeyFile(
                    t.api_keys_file, reload_interval_s=t.api_keys_reload_s, on_reload=self._loaded
                )
            except KeyFileError as exc:
                raise ConfigError(f"NETGPT_API_KEYS_FILE: {exc}") from None
        self.client_auth = bool(self.plain_keys) or self.key_file is not None
        self.metrics_require_admin = t.metrics_require_admin
        self.limiter: Limiter = LocalLimiter(clock)

    def _loaded(self, count: int) -> None:
        if self.metrics is not None:
            self.metrics.api_keys.set(count)

    def use_redis(self, redis: Redis) -> LeasedLimiter:
        """Share the limit state with every replica through ``redis`` (called at start): decided
        in process on leases, settled with Redis in the background (``gateway.tenancy.leased``)."""
        limiter = LeasedLimiter(redis, clock=self.clock)
        self.limiter = limiter
        return limiter

    # ------------------------------------------------------------------ who
    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        if not self.client_auth and not self.admin_keys:
            return ANONYMOUS
        token = bearer(headers)
        if token is None:
            if not self.client_auth:
                return ANONYMOUS  # only admin keys configured: the client API stays open
            raise AuthError(
                "missing API key: send 'Authorization: Bearer <key>' with a key from "
                "NETGPT_API_KEYS or NETGPT_API_KEYS_FILE"
            )
        if self.key_file is not None:
            entry = self.key_file.lookup(token)
            if entry is not None:
                return Principal(entry.name, entry.limits)
        presented = token.encode()
        if self.admin_keys and _matches(presented, self.admin_keys):
            return Principal("admin", admin=True)
        if self.plain_keys and _matches(presented, self.plain_keys):
            # NETGPT_API_KEYS: no limits; admin too while no admin keys are configured
            return Principal("default", admin=not self.admin_keys)
        if not self.client_auth:
            return ANONYMOUS  # a bearer token on an open client API is not an error
        raise AuthError("invalid API key")

    def require_admin(self, headers: Mapping[str, str]) -> Principal:
        if not self.admin_keys:
            principal = self.authenticate(headers)
            return Principal(principal.name, principal.limits, admin=True)
        token = bearer(headers)
        if token is None:
            raise AuthError("missing admin key: send 'Authorization: Bearer <key from NETGPT_ADMIN_API_KEYS>'")
        if _matches(token.encode(), self.admin_keys):
            return Principal("admin", admin=True)
        self.authenticate(headers)  # a client key: 403; anything else: 401
        raise PermissionDenied("this endpoint needs an admin key (NETGPT_ADMIN_API_KEYS)")

    # ------------------------------------------------------------------ limits
    async def admit(self, principal: Principal) -> None:
        limits = principal.limits
        if limits.unlimited:
            return
        verdict = await self.limiter.admit(principal.name, limits, self.clock())
        if verdict.allowed:
            return
        assert verdict.limit is not None
        self._count(principal.name, verdict.limit)
        after = retry_after_header(verdict.retry_after_s)
        if verdict.limit == BUDGET:
            raise QuotaExceeded(
                f"key '{principal.name}' has spent its cloud budget of "
                f"{limits.budget_usd:g} USD for this period; it resets in {after} s",
                retry_after_s=verdict.retry_after_s,
            )
        what = "requests" if verdict.limit == REQUESTS else "tokens"
        per_minute = limits.rpm if verdict.limit == REQUESTS else limits.tpm
        raise RateLimited(
            f"rate limit of key '{principal.name}' reached: {per_minute} {what} per minute; "
            f"retry after {after} s",
            retry_after_s=verdict.retry_after_s,
        )

    def charge(self, principal: Principal, tokens: int, usd: float) -> None:
        if not principal.limits.unlimited:
            self.limiter.charge(principal.name, principal.limits, tokens, usd)

    def _count(self, name: str, limit: str) -> None:
        if self.metrics is not None:
            self.metrics.rate_limited.labels(name, limit).inc()
