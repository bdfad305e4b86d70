"""Metric names out of PromQL expressions, and out of a Prometheus text exposition.

Enough of PromQL for the expressions our dashboards and alert rules use: strings, label
matchers, range selectors, ``by``/``without``/``on``/``ignoring``/``group_*`` label lists and
Grafana's ``$variables`` are removed first; what is left that looks like an identifier and is
neither a function call nor a keyword is a metric name.

    >>> sorted(metric_names('sum by (route) (rate(netgpt_requests_total{route="edge"}[5m]))'))
    ['netgpt_requests_total']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
RULES = ROOT / "deploy" / "prometheus" / "rules"
EXTERNAL = ROOT / "deploy" / "metrics-external.txt"

KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENT = re.compile(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (``up``, ``netgpt_x_bucket``, ``vllm:y``)."""
    text = _GRAFANA_VAR.sub(" ", expr)
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        name = match.group(0)
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def exported_names(exposition: str) -> set[str]:
    """Every series name a ``/metrics`` text declares: a histogram's ``_bucket``/``_sum``/
    ``_count``, a counter's ``_total``, also for families that have no sample yet."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            if kind.strip() in ("histogram", "gaugehistogram"):
                names.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
            elif kind.strip() == "summary":
                names.update({name, name + "_sum", name + "_count"})
            else:
                names.add(name)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def _walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _walk_panels(panel.get("panels", []))


def dashboard_exprs(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, expr) for every query of every panel."""
    for panel in _walk_panels(board.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield f"{board.get('uid')} / {panel.get('title')}", target["expr"]


def rule_exprs(rules: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            yield f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]


def all_queries() -> list[tuple[str, str]]:
    """Every PromQL expression in the committed dashboards and alert rules."""
    queries: list[tuple[str, str]] = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        queries += dashboard_exprs(json.loads(path.read_text(encoding="utf-8")))
    for path in sorted(RULES.glob("*.yml")):
        queries += rule_exprs(yaml.safe_load(path.read_text(encoding="utf-8")))
    return queries


def external_names() -> set[str]:
    """Series exported by something other than the gateway (vLLM, Prometheus itself)."""
    names = set()
    for line in EXTERNAL.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line)
    return names


def unexported(queries: list[tuple[str, str]], exported: set[str]) -> list[str]:
    """``where: name`` for every queried name that is not in ``exported``."""
    return [
        f"{where}: {name}"
        for where, expr in queries
        for name in sorted(metric_names(expr))
        if name not in exported
    ]
