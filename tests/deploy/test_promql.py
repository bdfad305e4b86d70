"""The PromQL name extraction the dashboard/alert cross-check relies on."""

from __future__ import annotations

import pytest

from tests.deploy.promql import exported_names, metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (route) (rate(netgpt_requests_total{route="edge"}[5m]))',
            {"netgpt_requests_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le, route) "
            "(rate(netgpt_request_duration_seconds_bucket[$__rate_interval])))",
            {"netgpt_request_duration_seconds_bucket"},
        ),
        (
            "max by (model_name) (vllm:kv_cache_usage_perc or vllm:gpu_cache_usage_perc)",
            {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"},
        ),
        (
            'a_total / on(instance) group_left(version) b_info{x=~"y|z"} > 1e-9',
            {"a_total", "b_info"},
        ),
        ("sum(x) without (pod) * 3600 unless y offset 5m", {"x", "y"}),
        ('up{job="netgpt-gateway"} == bool 0', {"up"}),
        ("deriv(netgpt_budget_multiplier[15m]) > 0", {"netgpt_budget_multiplier"}),
        # a label value or matcher that looks like a metric is not one
        ('count(z{le="0.5", name="netgpt_fake"})', {"z"}),
        ("sum(increase(netgpt_cloud_cost_usd_total[$__range]))", {"netgpt_cloud_cost_usd_total"}),
        ("rate(x[${__interval}]) and Inf > NaN", {"x"}),
    ],
)
def test_metric_names(expr, names):
    assert metric_names(expr) == names


def test_exported_names_expand_histograms_and_keep_empty_families():
    text = "\n".join(
        [
            "# HELP h_seconds A histogram",
            "# TYPE h_seconds histogram",
            "# HELP c_total A counter with no sample yet",
            "# TYPE c_total counter",
            "# TYPE g gauge",
            'g{target="cloud"} 1.0',
            "untyped_sample 2",
        ]
    )
    assert exported_names(text) == {
        "h_seconds_bucket",
        "h_seconds_sum",
        "h_seconds_count",
        "c_total",
        "g",
        "untyped_sample",
    }
