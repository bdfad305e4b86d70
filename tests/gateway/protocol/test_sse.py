import json

from gateway.protocol.sse import completion_to_sse

COMPLETION = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": json.dumps({"x": "y" * 80})}},
            {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
        ]}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
}


def decode(events):
    assert events[-1] == b"data: [DONE]\n\n"
    return [json.loads(e[len(b"data: "):]) for e in events[:-1]]


def test_tool_call_deltas_rebuild_the_completion():
    chunks = decode(completion_to_sse(COMPLETION, include_usage=True))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    calls: dict[int, dict] = {}
    for c in chunks[:-1]:
        for d in c["choices"][0]["delta"].get("tool_calls", []):
            entry = calls.setdefault(d["index"], {"id": None, "name": None, "arguments": ""})
            if "id" in d:
                assert entry["id"] is None, "id is sent once"
                entry["id"], entry["name"] = d["id"], d["function"]["name"]
            entry["arguments"] += d["function"].get("arguments", "")
    assert [calls[i]["id"] for i in sorted(calls)] == ["call_a", "call_b"]
    assert json.loads(calls[0]["arguments"]) == {"x": "y" * 80}
    assert sum(len(c["choices"][0]["delta"].get("tool_calls", [])) for c in chunks[:-1]) > 3  # in pieces
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 8


def test_no_usage_chunk_unless_asked():
    chunks = decode(completion_to_sse(COMPLETION, include_usage=False))
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)
