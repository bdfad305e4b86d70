"""The fuzzers of docs/fuzzing.md, bounded for CI: schemathesis against the documented surface
(one seed, ~500 cases) and atheris on the parser and the schema guard (20 s).

The larger runs are `python -m bench.fuzz openapi --max-examples 2000` and
`python -m bench.fuzz parser --seconds 300`."""

from __future__ import annotations

import pytest

from gateway.app import create_app
from gateway.config import Settings

pytestmark = pytest.mark.fuzz


def openapi(**settings):
    return create_app(Settings(network={"probes_enabled": False}, **settings)).openapi()


def test_the_document_names_every_endpoint_the_real_statuses_and_the_envelope():
    doc = openapi(api_keys="k", tenancy={"admin_api_keys": "a"})
    paths = doc["paths"]
    assert set(paths) == {"/v1/chat/completions", "/v1/models", "/v1/router/state",
                          "/v1/router/edge-model", "/healthz", "/readyz", "/metrics",
                          "/v1/router/verifier/refit", "/v1/responses", "/v1/responses/{response_id}"}
    chat = paths["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ChatCompletionRequest")
    assert set(chat["responses"]) == {"200", "400", "401", "413", "429", "502", "503", "504"}
    assert "Retry-After" in chat["responses"]["429"]["headers"]
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    responses = paths["/v1/responses"]["post"]
    assert responses["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ResponsesRequest")
    assert set(responses["responses"]) == {"200", "400", "401", "404", "413", "429", "502", "503", "504"}
    for path, item in paths.items():
        for method, op in item.items():
            assert "422" not in op["responses"], (method, path)
            for status, response in op["responses"].items():
                if int(status) >= 400 and path != "/readyz":
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorEnvelope"), (method, path, status)
    assert "403" in paths["/v1/router/state"]["get"]["responses"]
    assert paths["/v1/models"]["get"]["security"] == [{"bearer": []}]
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_the_document_is_plain_json_schema():
    # pydantic-only keywords ("ge", "le") mean nothing to a JSON Schema tool: constraints lost
    def walk(node):
        if isinstance(node, dict):
            assert not {"ge", "le", "gt", "lt"} & set(node), node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(openapi()["components"]["schemas"])


def test_without_keys_nothing_claims_a_401():
    doc = openapi()
    for item in doc["paths"].values():
        for op in item.values():
            assert "401" not in op["responses"] and "security" not in op


@pytest.mark.slow
def test_schemathesis_finds_no_failure(tmp_path):
    from bench.fuzz.openapi import run

    # one seed, 50 examples per operation and phase: ~500 cases. Generating a ChatCompletionRequest
    # costs hypothesis ~0.15 s of CPU, so a few thousand cases take several minutes of CPU: the
    # larger run is `python -m bench.fuzz openapi` (docs/fuzzing.md)
    summary = run(tmp_path, max_examples=50, seeds=[14])
    assert summary["operations_tested"] == summary["operations_total"] == 11
    assert summary["cases"] >= 300, summary["cases"]
    assert summary["failures"] == [] and summary["errors"] == [], summary["console_tail"]
    assert summary["unhandled_errors_logged"] == 0
    chat = summary["valid_rates"]["POST /v1/chat/completions"]
    assert sum(p["accepted"] for p in chat.values()) > 100, "valid requests reached the route"
    responses = summary["valid_rates"]["POST /v1/responses"]
    assert sum(p["accepted"] for p in responses.values()) > 50, "valid Responses requests reached the route"


@pytest.mark.slow
def test_atheris_on_the_parser_and_schema_guard_finds_no_crash(tmp_path):
    from bench.fuzz.parser import run

    result = run(tmp_path, seconds=20)
    assert result["crashes"] == [] and result["exit_code"] == 0, result["log_tail"]
    assert result["executions"] > 5_000 and result["coverage_edges"] > 200
