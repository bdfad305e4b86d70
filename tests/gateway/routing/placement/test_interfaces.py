"""The scaling helpers every scorer uses: onto [0, 1], order kept, best at 1."""

from hypothesis import given
from hypothesis import strategies as st

from gateway.routing.placement.interfaces import higher_is_better, lower_is_better

values_st = st.lists(st.floats(-1e6, 1e6) | st.sampled_from([0.0, 1.0, 2.5]), min_size=1, max_size=9)


@given(values_st)
def test_higher_is_better(values):
    s = higher_is_better(values)
    assert all(0.0 <= x <= 1.0 for x in s)
    assert s[values.index(max(values))] == 1.0
    for a, va in zip(s, values, strict=True):
        for b, vb in zip(s, values, strict=True):
            if va > vb:
                assert a >= b
            if va == vb:
                assert a == b


@given(values_st)
def test_lower_is_better(values):
    s = lower_is_better(values)
    assert all(0.0 <= x <= 1.0 for x in s)
    assert s[values.index(min(values))] == 1.0
    if max(values) > min(values):
        assert s[values.index(max(values))] == 0.0
    for a, va in zip(s, values, strict=True):
        for b, vb in zip(s, values, strict=True):
            if va < vb:
                assert a >= b
