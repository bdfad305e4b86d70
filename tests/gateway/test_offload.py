from gateway.routing.offload import requests_offload, strip_offload

MARK, TOOL = "<unknown>", "request_cloud_assistance"


def test_marker_in_text_is_detected_and_removed():
    msg = {"role": "assistant", "content": "Hmm. <unknown> I need external assistance </unknown>"}
    assert requests_offload(msg, MARK, TOOL)
    cleaned = strip_offload(msg, MARK, TOOL)
    assert "unknown" not in (cleaned["content"] or "") and cleaned["content"] == "Hmm."
    assert msg["content"].startswith("Hmm. <unknown>"), "the original is not mutated"


def test_reserved_call_is_detected_and_removed():
    calls = [{"id": "1", "type": "function", "function": {"name": TOOL, "arguments": "{}"}},
             {"id": "2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    msg = {"role": "assistant", "content": None, "tool_calls": calls}
    assert requests_offload(msg, MARK, TOOL)
    assert [c["id"] for c in strip_offload(msg, MARK, TOOL)["tool_calls"]] == ["2"]


def test_plain_answers_do_not_offload():
    assert not requests_offload({"role": "assistant", "content": "It is sunny"}, MARK, TOOL)
