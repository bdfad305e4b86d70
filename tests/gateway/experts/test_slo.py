"""Per-request SLO from headers or the configured defaults."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from gateway.config import SloSettings
from gateway.errors import RequestError
from gateway.experts.slo import DEADLINE_HEADER, TPOT_HEADER, TTFT_HEADER, Slo, parse_slo


def test_no_header_no_default_is_no_slo():
    assert parse_slo(Headers({}), SloSettings()) == Slo()
    assert not parse_slo(Headers({}), SloSettings()).any


def test_headers_are_milliseconds_and_case_insensitive():
    slo = parse_slo(Headers({"X-SLO-TTFT-MS": "250", "x-slo-tpot-ms": "20.5", DEADLINE_HEADER: "3000"}), SloSettings())
    assert slo == Slo(0.25, 0.0205, 3.0)


def test_defaults_fill_what_the_headers_leave_out():
    settings = SloSettings(ttft_ms=500, deadline_ms=4000)
    assert parse_slo(Headers({}), settings) == Slo(0.5, None, 4.0)
    assert parse_slo(Headers({TTFT_HEADER: "100"}), settings) == Slo(0.1, None, 4.0)


@pytest.mark.parametrize("header", [TTFT_HEADER, TPOT_HEADER, DEADLINE_HEADER])
@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "", "1e12"])
def test_a_malformed_header_is_a_400_naming_it(header, value):
    with pytest.raises(RequestError) as err:
        parse_slo(Headers({header: value}), SloSettings())
    assert err.value.status == 400
    assert err.value.param == header
    assert header in err.value.message
