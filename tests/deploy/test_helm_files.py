"""The Helm chart's files that must agree with the rest of the repository.

Rendering, linting and the Kubernetes schema check need the helm binary and run in
``scripts/check-deploy``; these need nothing but Python.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.deploy.promql import ROOT
from tests.deploy.test_compose import setting_env_names

CHART = ROOT / "deploy" / "helm" / "netgpt-gateway"


def test_the_charts_alert_rules_are_a_copy_of_deploy_prometheus_rules():
    assert (CHART / "files" / "netgpt.yml").read_bytes() == (
        ROOT / "deploy" / "prometheus" / "rules" / "netgpt.yml"
    ).read_bytes(), "cp deploy/prometheus/rules/netgpt.yml deploy/helm/netgpt-gateway/files/"


@pytest.mark.parametrize(
    "values", ["values.yaml", "ci/default-values.yaml", "ci/production-values.yaml"]
)
def test_chart_config_names_only_real_settings(values):
    config = yaml.safe_load((CHART / values).read_text()).get("config", {})
    assert set(config) - setting_env_names() == set()


def test_secret_settings_never_go_in_the_config_map():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["properties"]["config"]["propertyNames"]["pattern"] == "^NETGPT_[A-Z0-9_]+$"
    config = yaml.safe_load((CHART / "values.yaml").read_text())["config"]
    assert not [k for k in config if k.endswith("API_KEY") or k == "NETGPT_API_KEYS"]
