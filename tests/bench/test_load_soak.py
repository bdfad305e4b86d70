"""The soak's figures: RSS judged after warm-up, file descriptors, the printed lines."""

from __future__ import annotations

import pytest

from bench.load.soak import growth_pct, soak_lines, summarize

MB = 2**20


def test_growth_is_measured_after_warm_up_and_over_the_second_half() -> None:
    # RSS climbs during the first minute (warm-up), then creeps up 1 MB over the rest
    samples = [(0.0, 80 * MB, 40), (30.0, 95 * MB, 60), (60.0, 100 * MB, 62),
               (300.0, 100.5 * MB, 63), (600.0, 101 * MB, 62)]
    out = summarize(samples, seconds=600, warmup_s=60)
    assert out["rss_first_mb"] == 80 and out["rss_start_mb"] == 100 and out["rss_end_mb"] == 101
    assert out["rss_growth_pct"] == pytest.approx(1.0)
    assert out["rss_growth_second_half_pct"] == pytest.approx(100 * 0.5 / 100.5)
    assert (out["fd_start"], out["fd_end"], out["fd_min"], out["fd_max"]) == (62, 62, 62, 63)
    assert (out["fd_max_first_half"], out["fd_max_second_half"]) == (62, 63)


def test_a_run_shorter_than_the_warm_up_uses_its_last_sample() -> None:
    out = summarize([(0.0, 50 * MB, 10), (5.0, 60 * MB, 12)], seconds=10, warmup_s=60)
    assert out["rss_start_mb"] == out["rss_end_mb"] == 60 and out["rss_growth_pct"] == 0


def test_growth_of_nothing_is_nan() -> None:
    assert growth_pct(0, 5) != growth_pct(0, 5)


def test_lines_name_the_figures() -> None:
    soak = {"seconds": 1800, "rate": 500, "completed": 900000, "errors": 0, "p50_ms": 1.0,
            "p99_ms": 9.0, "max_ms": 40.0, "warmup_s": 300} | summarize(
        [(0.0, 90 * MB, 50), (300.0, 99 * MB, 60), (1800.0, 99.5 * MB, 60)], 1800, 300)
    soak["gateway"] = {"requests_200": 900000, "requests_not_200": 0, "dataset_records_redis": 900000,
                       "dataset_records_spool": 0, "dataset_dropped": 0, "spool_depth_end": 0,
                       "life_requests_200": 900010, "life_records": 900010}
    text = "\n".join(soak_lines(soak, "fallback"))
    assert "on the fallback path: 900000 done, 0 errors" in text
    assert "+0.51% after warm-up" in text
    assert "file descriptors after warm-up: 60 -> 60" in text
    assert "900010 answered 200, 900010 dataset records" in text
