"""Requests-per-minute by leases: each replica decides in process against its share of a key's
bucket, and settles with the shared bucket (in Redis) in the background.

Pure arithmetic (time is passed in); ``gateway.tenancy.leased`` runs :func:`settle_bucket` in
Lua and the rest in process.

The shared bucket is the token bucket of ``gateway.tenancy.limits`` (``rpm`` tokens, refilled at
``rpm/60`` per second). A replica holds per key a :class:`Share`:

- ``credit``: request tokens leased from the shared bucket and not used yet. ``admit`` takes one
  without any I/O.
- With no credit left it may go ahead on an **advance** (``credit`` goes negative) while its
  view of the shared bucket (the level the last settlement returned, refilled since, less its own
  advances) has a token, up to one lease's worth. The advance is reported as debt at the next
  settlement and taken from the shared bucket then (the level may go negative: later grants wait).
- A settlement reports the debt and asks for a lease of :func:`lease_size` tokens: twice what
  the replica used since its last settlement, at most 1 % of ``rpm`` (at least 1), so a small
  limit leases one request at a time and stays nearly exact, a large one settles ~100 times a
  minute per busy key and replica at most. The advance is at most ``lease_cap`` (it reserves
  nothing, so it need not adapt): a replica never holds more than that many unreported
  admissions, and a burst on one replica larger than a lease plus ``lease_cap`` within one
  settlement round trip is refused (``Retry-After: 1``) although the shared bucket may have
  room; that is the price of the bound.

**Bound.** Over any time from the start of a key's bucket, N replicas together admit at most
``rpm + rpm·T/60 + 2·N·lease_cap(rpm)`` requests, where a single exact bucket admits
``rpm + rpm·T/60``: at most one unused lease and one unreported advance per replica
(``tests/gateway/tenancy/test_lease.py`` checks it over random interleavings, and against a real
Redis in ``test_leased_redis.py``). Unused credit is never returned: the cost is that the key may
be under-admitted by at most one lease per replica.

    >>> share = Share()
    >>> admit_request(share, rpm=60, now=0.0)   # never settled: the view is a full bucket
    >>> share.credit
    -1.0
    >>> debt, want = begin_settlement(share, rpm=60)
    >>> (debt, want)
    (1, 1)
    >>> grant, level = settle_bucket(None, 0.0, 0.0, rpm=60, debt=debt, want=want)
    >>> (grant, level)
    (1, 58.0)
    >>> finish_settlement(share, debt, grant, level, now=0.0); share.credit
    1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.tenancy.limits import refill


def lease_cap(rpm: int) -> int:
    """The largest lease (and advance) a replica takes: 1 % of the limit, at least 1."""
    return max(1, rpm // 100)


def lease_size(rpm: int, used: int) -> int:
    """Twice what the replica admitted since its last settlement, within ``[1, lease_cap]``."""
    return max(1, min(lease_cap(rpm), 2 * used))


@dataclass(slots=True)
class Share:
    """One replica's share of one key's requests bucket."""

    credit: float = 0.0  # leased tokens left; negative: advances not yet reported
    level: float | None = None  # the shared bucket's level at the last settlement (None: never)
    at: float = 0.0  # when that level was read
    used: int = 0  # admitted since the last settlement began

    def view(self, now: float, rpm: int) -> float:
        """What this replica believes the shared bucket holds now, its own advances taken."""
        level, _ = refill(self.level, self.at, now, capacity=rpm, per_minute=rpm)
        return level - max(-self.credit, 0.0)


def admit_request(share: Share, rpm: int, now: float) -> float | None:
    """Take one request from ``share``: ``None`` when admitted, else the seconds to wait."""
    if share.credit >= 1.0:
        share.credit -= 1.0
        share.used += 1
        return None
    view = share.view(now, rpm)
    if view >= 1.0 and -share.credit + 1.0 <= lease_cap(rpm):
        share.credit -= 1.0
        share.used += 1
        return None
    if view < 1.0:
        return (1.0 - view) * 60.0 / rpm
    return 60.0 / rpm  # the advance is spent: the next settlement brings a lease


def needs_settlement(share: Share) -> bool:
    """Out of credit: settle now rather than at the next tick."""
    return share.credit < 1.0


def begin_settlement(share: Share, rpm: int) -> tuple[int, int]:
    """(debt to report, lease to ask for); ``used`` restarts for the next lease size."""
    debt = math.ceil(max(-share.credit, 0.0))
    want = max(lease_size(rpm, share.used) - max(math.floor(share.credit), 0), 0)
    share.used = 0
    return debt, want


def finish_settlement(share: Share, debt: int, grant: int, level: float, now: float) -> None:
    """Apply the shared bucket's answer: the debt is paid, the grant is credit."""
    share.credit += debt + grant
    share.level, share.at = level, now


def settle_bucket(
    level: float | None, at: float, now: float, *, rpm: int, debt: int, want: int
) -> tuple[int, float]:
    """The shared bucket's side (run in Lua by the Redis limiter): refill, take the debt (down
    to ``-rpm`` at most), then grant up to ``want`` whole tokens the bucket holds.

    Returns ``(grant, level after)``."""
    current, _ = refill(level, at, now, capacity=rpm, per_minute=rpm)
    current = max(current - debt, -float(rpm))
    grant = max(0, min(want, math.floor(current)))
    return grant, current - grant
