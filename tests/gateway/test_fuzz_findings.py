"""Regressions of what the fuzzers found (docs/fuzzing.md): each failed before its fix."""

from __future__ import annotations

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import RequestError
from gateway.protocol.chat import parse_request
from gateway.routing.schema_guard import MALFORMED, ValidatorCache, check_tool_calls
from tests.conftest import chat_body
from tests.support.server import ServerThread

MESSAGES = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens", "seed", "top_logprobs", "n"])
@pytest.mark.parametrize("value", [True, False, "5", "1"])
def test_lax_coercion_is_refused(field, value):
    # schemathesis: {"seed": false} passed as 0 while the raw false went upstream
    with pytest.raises(RequestError) as caught:
        parse_request({"messages": MESSAGES, field: value})
    assert caught.value.param == field


def test_integral_floats_are_integers_as_json_schema_says():
    request = parse_request({"messages": MESSAGES, "max_tokens": 64.0, "n": 1.0, "seed": 1e300})
    assert (request.max_tokens, request.n, request.seed) == (64, 1, int(1e300))
    with pytest.raises(RequestError):
        parse_request({"messages": MESSAGES, "max_tokens": 64.5})


@pytest.mark.parametrize(
    "calls", [[1], "tool", {"function": {}}, [{"function": [1]}], [{"function": "f"}], [None]]
)
def test_schema_guard_fails_malformed_tool_calls_instead_of_raising(calls):
    # atheris: an upstream answer whose tool_calls are not objects raised AttributeError
    check = check_tool_calls(calls, {"f": {"type": "object"}}, ValidatorCache())
    assert not check.valid and check.error == MALFORMED


def _edge_with_malformed_calls() -> Starlette:
    async def chat(request: Request) -> Response:
        body = await request.json()
        answer = {
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": None, "tool_calls": "oops"}}],
        }
        return Response(orjson.dumps(answer), media_type="application/json")

    async def models(_request: Request) -> Response:
        return Response(b'{"object":"list","data":[{"id":"edge-small","object":"model"}]}',
                        media_type="application/json")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/models", models)])


@pytest.mark.integration
async def test_an_edge_answer_with_malformed_tool_calls_goes_to_the_cloud(app_client_factory, make_settings):
    with ServerThread(_edge_with_malformed_calls()) as edge:
        gw = await app_client_factory(make_settings(edge={"base_url": edge.url + "/v1", "flavor": "vllm"}))
        resp = await gw.http.post("/v1/chat/completions", json=chat_body())
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-netgpt-route"] == "cloud"
    assert resp.headers["x-netgpt-reason"] == "schema_invalid"
