"""Check what `helm template` rendered: the parts of the chart that schemas cannot see.

    helm template t deploy/helm/netgpt-gateway -f VALUES | python deploy/helm/check_rendered.py

Run by scripts/check-deploy after the Kubernetes schema check. Exit 1 with one line per problem.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

RULES = Path(__file__).resolve().parents[1] / "prometheus" / "rules" / "netgpt.yml"


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check(docs: list[dict[str, Any]]) -> list[str]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    problems: list[str] = []
    deploys = [d for d in by_kind.get("Deployment", []) if "redis" not in d["metadata"]["name"]]
    if len(deploys) != 1:
        return [f"expected one gateway Deployment, found {len(deploys)}"]
    dep = deploys[0]
    pod = dep["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    (gw,) = [c for c in pod["spec"]["containers"] if c["name"] == "gateway"]
    if gw.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        problems.append("the gateway's readiness probe must GET /readyz")
    if gw.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        problems.append("the gateway's liveness probe must GET /healthz")
    if not pod["spec"].get("securityContext", {}).get("runAsNonRoot"):
        problems.append("the gateway pod must run as non-root")
    refs = {next(iter(r)) for r in gw.get("envFrom", [])}
    if refs != {"configMapRef", "secretRef"}:
        problems.append(f"the gateway reads its settings from a ConfigMap and a Secret, not {refs}")
    for cm in by_kind.get("ConfigMap", []):
        leaked = [k for k in cm.get("data", {}) if "KEY" in k or k == "NETGPT_REDIS_URL"]
        if leaked:
            problems.append(f"ConfigMap {cm['metadata']['name']} holds secrets: {leaked}")
    env = {e["name"] for e in gw.get("env", [])}
    secret_keys = {k for s in by_kind.get("Secret", []) for k in s.get("stringData", {})}
    if "NETGPT_REDIS_URL" not in env | secret_keys and not any(
        s["secretRef"]["name"] != dep["metadata"]["name"] for s in gw["envFrom"] if "secretRef" in s
    ):
        problems.append("no replica would share Redis: NETGPT_REDIS_URL is set nowhere")
    ports = {p["name"] for p in gw.get("ports", [])}
    for svc in by_kind.get("Service", []):
        if "redis" in svc["metadata"]["name"]:
            continue
        if not _matches(svc["spec"]["selector"], pod_labels):
            problems.append(f"Service {svc['metadata']['name']} selects no gateway pod")
        for port in svc["spec"]["ports"]:
            if port["targetPort"] not in ports:
                problems.append(f"Service port {port['name']} targets unknown {port['targetPort']}")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not _matches(pdb["spec"]["selector"]["matchLabels"], pod_labels):
            problems.append("the PodDisruptionBudget selects no gateway pod")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]
        if (ref["kind"], ref["name"]) != ("Deployment", dep["metadata"]["name"]):
            problems.append("the HorizontalPodAutoscaler scales something else")
        if "replicas" in dep["spec"]:
            problems.append("with an HPA the Deployment must not set replicas (they would fight)")
    for sm in by_kind.get("ServiceMonitor", []):
        svc_labels = [s["metadata"]["labels"] for s in by_kind.get("Service", [])]
        if not any(_matches(sm["spec"]["selector"]["matchLabels"], lab) for lab in svc_labels):
            problems.append("the ServiceMonitor selects no Service")
        if sm["spec"]["endpoints"][0]["path"] != "/metrics":
            problems.append("the ServiceMonitor must scrape /metrics")
    for rule in by_kind.get("PrometheusRule", []):
        want = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
        if rule["spec"]["groups"] != want:
            problems.append("the PrometheusRule differs from deploy/prometheus/rules/netgpt.yml")
    return problems


def main() -> int:
    docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    problems = check(docs)
    for problem in problems:
        sys.stderr.write(f"helm chart: {problem}\n")
    kinds = sorted({d["kind"] for d in docs})
    sys.stdout.write(
        f"rendered {len(docs)} objects ({', '.join(kinds)}): "
        f"{'OK' if not problems else f'{len(problems)} problem(s)'}\n"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
