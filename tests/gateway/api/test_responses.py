"""POST /v1/responses on the gateway's ASGI app (fake upstreams on loopback): the Responses shape,
the routing headers, the SSE event sequence, the stored chain, and the 400s."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tests.conftest import TOOLS

FLAT_TOOLS = [{"type": "function", **t["function"]} for t in TOOLS]


def body(**extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model": "auto", "input": "What is the weather in Oslo?", "tools": FLAT_TOOLS}
    out.update(extra)
    return out


def events_of(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(lines["data"])
        assert data["type"] == lines["event"]
        out.append(data)
    return out


@pytest.mark.parametrize("route", ["edge", "cloud"])
async def test_function_call_answer_in_responses_shape(gw, edge_fake, cloud_fake, route):
    extra = {} if route == "edge" else {"x_fake": {"edge": {"logprob": -4.0}}}
    r = await gw.http.post("/v1/responses", json=body(**extra))
    assert r.status_code == 200, r.text
    assert r.headers["x-netgpt-route"] == route
    out = r.json()
    assert out["object"] == "response" and out["status"] == "completed"
    assert out["id"].startswith("resp_")
    calls = [item for item in out["output"] if item["type"] == "function_call"]
    assert calls and calls[0]["name"] == "get_weather"
    assert {"city", "unit"} <= json.loads(calls[0]["arguments"]).keys()
    assert calls[0]["call_id"] and calls[0]["id"].startswith("fc_")
    usage = out["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    # what the upstream got: a chat completions request with the tools in the nested shape
    fake = edge_fake if route == "edge" else cloud_fake
    sent = fake.requests[-1]["body"]
    assert sent["messages"] == [{"role": "user", "content": "What is the weather in Oslo?"}]
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert gw.sample("netgpt_api_requests_total", {"api": "responses", "status": "200"}) == 1


async def test_text_answer_and_instructions(gw, edge_fake):
    r = await gw.http.post("/v1/responses", json={"input": "hi", "instructions": "Be brief.",
                                                  "x_fake": {"edge": {"mode": "text", "text": "Hello!"}}})
    assert r.status_code == 200, r.text
    out = r.json()
    [message] = out["output"]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0] == {"type": "output_text", "text": "Hello!", "annotations": []}
    assert out["instructions"] == "Be brief."
    assert edge_fake.requests[-1]["body"]["messages"][0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("route", ["edge", "cloud"])
async def test_stream_event_sequence(gw, edge_fake, cloud_fake, route):
    extra = {} if route == "edge" else {"x_fake": {"edge": {"logprob": -4.0}}}
    r = await gw.http.post("/v1/responses", json=body(stream=True, **extra))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-netgpt-route"] == route
    events = events_of(r.text)
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    args = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert args == done["arguments"] and json.loads(args)
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["output"][0]["arguments"] == args
    assert final["usage"]["output_tokens"] > 0


async def test_a_stream_that_breaks_ends_failed_never_completed():
    from gateway.api.responses_encode import Folder, ResponseMeta, fold_stream
    from gateway.service import StreamError

    chunk = {"model": "cloud-large", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}]}}]}
    envelope = {"error": {"message": "cloud upstream: reset", "type": "server_error", "param": None,
                          "code": "upstream_unreachable"}}
    read = []

    async def items():
        for item in (orjson.dumps(chunk), StreamError(envelope), b"{}"):
            read.append(item)
            yield item

    folder = Folder(ResponseMeta("resp_1", "auto", {}))
    events = [e async for e in fold_stream(folder, items())]
    kinds = [events_of(e.decode())[0]["type"] for e in events]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.function_call_arguments.delta", "error", "response.failed"]
    failed = events_of(events[-1].decode())[0]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "upstream_unreachable"
    assert failed["output"][0]["status"] == "incomplete"
    assert len(read) == 3, "the items are read to their end"
    assert folder.response is None, "nothing to store"


async def test_previous_response_id_chain_and_get_delete(gw, edge_fake):
    first = (await gw.http.post("/v1/responses", json=body())).json()
    call = first["output"][0]
    follow = {"model": "auto", "previous_response_id": first["id"], "tools": FLAT_TOOLS,
              "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "12 C"}],
              "x_fake": {"edge": {"mode": "text", "text": "It is 12 C."}}}
    r = await gw.http.post("/v1/responses", json=follow)
    assert r.status_code == 200, r.text
    sent = edge_fake.requests[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == call["call_id"] == sent[2]["tool_call_id"]
    assert r.json()["previous_response_id"] == first["id"]
    got = await gw.http.get(f"/v1/responses/{first['id']}")
    assert got.status_code == 200 and got.json() == first
    gone = await gw.http.delete(f"/v1/responses/{first['id']}")
    assert gone.json() == {"id": first["id"], "object": "response", "deleted": True}
    assert (await gw.http.get(f"/v1/responses/{first['id']}")).status_code == 404
    again = await gw.http.post("/v1/responses", json=follow)
    assert again.status_code == 404
    assert again.json()["error"]["param"] == "previous_response_id"


async def test_store_false_is_not_kept(gw, edge_fake):
    out = (await gw.http.post("/v1/responses", json=body(store=False))).json()
    r = await gw.http.get(f"/v1/responses/{out['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "response_not_found"


async def test_keys_never_read_each_others_responses(app_client_factory, make_settings, edge_fake):
    gw = await app_client_factory(make_settings(api_keys="key-a,key-b"))
    a = {"authorization": "Bearer key-a"}
    b = {"authorization": "Bearer key-b"}
    out = (await gw.http.post("/v1/responses", json=body(), headers=a)).json()
    assert (await gw.http.get(f"/v1/responses/{out['id']}", headers=a)).status_code == 200
    assert (await gw.http.get(f"/v1/responses/{out['id']}", headers=b)).status_code == 404
    assert (await gw.http.delete(f"/v1/responses/{out['id']}", headers=b)).status_code == 404
    r = await gw.http.post("/v1/responses", json=body(previous_response_id=out["id"]), headers=b)
    assert r.status_code == 404 and r.json()["error"]["code"] == "previous_response_not_found"
    assert (await gw.http.get(f"/v1/responses/{out['id']}")).status_code == 401


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [*FLAT_TOOLS, {"type": "mcp", "server_label": "x", "server_url": "http://x"}]},
         "tools[2].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs"]}]}, "tools[0].type"),
        ({"background": True}, "background"),
        ({"reasoning": {"effort": "high"}}, "reasoning"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"input": [{"type": "reasoning", "id": "rs_1", "summary": []}]}, "input[0].type"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
         "input[0].content[0].type"),
    ],
)
async def test_unsupported_features_are_clear_400s(gw, extra, param):
    r = await gw.http.post("/v1/responses", json=body(**extra))
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == param and error["code"] == "unsupported_parameter"
    assert error["type"] == "invalid_request_error" and error["message"]


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        (b"{", None),
        (orjson.dumps([1]), None),
        (orjson.dumps({"model": "auto"}), "input"),
        (orjson.dumps(body(input=[])), "input"),
        (orjson.dumps(body(max_output_tokens=0)), "max_output_tokens"),
        (orjson.dumps(body(tool_choice={"type": "function", "name": "nope"})), "tool_choice"),
        (orjson.dumps(body(input=[{"type": "function_call", "name": "x"}])), "input[0].call_id"),
    ],
)
async def test_bad_requests_get_the_envelope(gw, payload, param):
    r = await gw.http.post("/v1/responses", content=payload, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param


async def test_openapi_documents_the_responses_routes(gw):
    import jsonschema

    doc = (await gw.http.get("/openapi.json")).json()
    create = doc["paths"]["/v1/responses"]["post"]
    assert {"200", "400", "404"} <= create["responses"].keys()
    assert set(doc["paths"]["/v1/responses/{response_id}"]) == {"get", "delete"}
    schema = {**doc["components"]["schemas"]["ResponsesRequest"], "components": doc["components"]}
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid(body(input=[{"role": "user", "content": "hi"}]))
    assert not validator.is_valid(body(tools=[{"type": "web_search"}]))
    assert not validator.is_valid(body(background=True))
    assert not validator.is_valid(body(reasoning={"effort": "low"}))
    # the rule JSON Schema cannot state is stated on the field, for both routes
    for name in ("ResponsesRequest", "ChatCompletionRequest"):
        tools = doc["components"]["schemas"][name]["properties"]["tools"]
        assert "unique" in tools["description"] and tools["x-netgpt-unique-by"]


async def test_a_huge_max_output_tokens_is_no_500(gw, edge_fake):
    # found by schemathesis: 1e29 was turned into an int orjson cannot encode (TypeError -> 500)
    r = await gw.http.post("/v1/responses", content=b'{"input": "hi", "max_output_tokens": 1e29}',
                           headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["max_output_tokens"] == 1e29  # echoed as sent


async def test_errors_never_echo_the_clients_id(gw):
    r = await gw.http.delete("/v1/responses/site-packages")
    assert r.status_code == 404 and "site-packages" not in r.text
