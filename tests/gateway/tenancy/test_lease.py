"""Laws of the lease arithmetic (gateway/tenancy/lease.py) with several simulated replicas
sharing one bucket: the overshoot bound, the lease size, and that an idle system converges."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.tenancy.lease import (
    Share,
    admit_request,
    begin_settlement,
    finish_settlement,
    lease_cap,
    lease_size,
    settle_bucket,
)
from gateway.tenancy.limits import KeyLimits, LimitState, admit


@dataclass
class Bucket:
    """The shared bucket as Redis keeps it."""

    level: float | None = None
    at: float = 0.0


@dataclass
class Replica:
    share: Share = field(default_factory=Share)
    reply: tuple[int, int, float, float] | None = None  # a settlement on its way back


def send(replica: Replica, bucket: Bucket, rpm: int, now: float) -> None:
    """A settlement reaches Redis: the bucket is updated now, the answer arrives later."""
    debt, want = begin_settlement(replica.share, rpm)
    grant, level = settle_bucket(bucket.level, bucket.at, now, rpm=rpm, debt=debt, want=want)
    bucket.level, bucket.at = level, now
    replica.reply = (debt, grant, level, now)


def receive(replica: Replica) -> None:
    assert replica.reply is not None
    debt, grant, level, at = replica.reply
    finish_settlement(replica.share, debt, grant, level, at)
    replica.reply = None


# one step: (seconds later, which replica, what it does)
steps = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.001, 0.05, 0.5, 3.0]),
        st.integers(0, 7),
        st.sampled_from(["admit", "admit", "admit", "send", "receive"]),
    ),
    min_size=1,
    max_size=400,
)


@settings(max_examples=300, deadline=None)
@given(rpm=st.sampled_from([1, 3, 10, 60, 250, 1000, 20_000]), n=st.integers(1, 8), steps=steps)
def test_n_replicas_overshoot_by_at_most_two_leases_each(rpm, n, steps):
    bucket, replicas = Bucket(), [Replica() for _ in range(n)]
    start = now = 1000.0
    admitted = 0
    for gap, who, op in steps:
        now += gap
        replica = replicas[who % n]
        if op == "admit":
            admitted += admit_request(replica.share, rpm, now) is None
        elif op == "send" and replica.reply is None:
            send(replica, bucket, rpm, now)
        elif op == "receive" and replica.reply is not None:
            receive(replica)
        exact = rpm + (now - start) * rpm / 60  # what one exact bucket admits at most
        assert admitted <= exact + 2 * n * lease_cap(rpm) + 1e-9


@settings(max_examples=200, deadline=None)
@given(rpm=st.integers(1, 100_000), used=st.integers(0, 10_000_000))
def test_lease_size_is_within_one_and_one_percent_of_the_limit(rpm, used):
    size = lease_size(rpm, used)
    assert 1 <= size <= max(1, rpm // 100)
    assert size == min(max(1, 2 * used), lease_cap(rpm))


def test_a_small_limit_leases_one_request_at_a_time():
    rpm, bucket, replica = 10, Bucket(), Replica()
    now, admitted = 0.0, 0
    for _ in range(30):  # settled after every request: exact, as one bucket
        admitted += admit_request(replica.share, rpm, now) is None
        send(replica, bucket, rpm, now)
        receive(replica)
        assert replica.share.credit <= 1
    assert admitted == rpm


@settings(max_examples=200, deadline=None)
@given(rpm=st.sampled_from([2, 30, 600, 6000]), burst=st.integers(1, 3000))
def test_one_replica_settling_every_request_matches_the_exact_bucket(rpm, burst):
    """With prompt settlements a replica admits what the exact bucket admits, less at most the
    lease it still holds."""
    bucket, replica, exact_state = Bucket(), Replica(), LimitState()
    limits, now = KeyLimits(rpm=rpm), 0.0
    leased = exact = 0
    for i in range(burst):
        now = i * 0.01
        leased += admit_request(replica.share, rpm, now) is None
        exact += admit(limits, exact_state, now).allowed
        send(replica, bucket, rpm, now)
        receive(replica)
    assert exact - lease_cap(rpm) <= leased <= exact + lease_cap(rpm)


@given(rpm=st.integers(1, 10_000))
def test_a_refusal_says_when_the_view_has_a_token_again(rpm):
    share = Share(credit=0.0, level=0.25, at=0.0)
    wait = admit_request(share, rpm, 0.0)
    assert wait is not None and abs(wait - 0.75 * 60 / rpm) < 1e-9
    assert admit_request(share, rpm, wait * 0.999) is not None
    assert admit_request(share, rpm, wait + 1e-9) is None


def test_an_advance_goes_up_to_the_cap_and_is_paid_as_debt():
    rpm, bucket, replica = 6000, Bucket(), Replica()  # lease cap 60
    admitted = sum(admit_request(replica.share, rpm, 0.0) is None for _ in range(100))
    assert admitted == lease_cap(rpm) and replica.share.credit == -60.0
    send(replica, bucket, rpm, 0.0)
    assert replica.reply is not None
    debt, grant, level, _ = replica.reply
    assert (debt, grant, level) == (60, 60, rpm - 120)  # used 60: the next lease is the cap
    receive(replica)
    assert replica.share.credit == 60.0
