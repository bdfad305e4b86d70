"""Redaction of message text and secrets before a record is stored."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import DEFAULT_REDACTIONS
from gateway.dataset.redact import PII_MARK, SECRET_MARK, RedactionConfigError, Redactor
from tests.support.factories import CLIENT_KEY, CLOUD_KEY, make_record, make_settings


@pytest.fixture
def redactor(tmp_path) -> Redactor:
    return Redactor.from_settings(make_settings(tmp_path, None))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+x@mail.example.org today", f"write to {PII_MARK} today"),
        ("call +44 20 7946 0958 now", f"call {PII_MARK} now"),
        ("call 415.555.0100", f"call {PII_MARK}"),
        ("room 42 on floor 3", "room 42 on floor 3"),
        (f"my key {CLOUD_KEY}", f"my key {SECRET_MARK}"),
        (f"use {CLIENT_KEY} please", f"use {SECRET_MARK} please"),
        ("Authorization: Bearer abc.def-ghi_123", f"Authorization: {SECRET_MARK}"),
        ("token sk-proj-AbCdEf0123456789xyz end", f"token {SECRET_MARK} end"),
    ],
)
def test_text(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor.text(text) == expected


def test_record_scrubs_messages_parts_and_tool_arguments(redactor: Redactor) -> None:
    raw = make_record(1, call=("book_table", '{"restaurant": "ask ann@x.io", "people": 4}'))
    raw["request"]["messages"].append(
        {"role": "user", "content": [{"type": "text", "text": "ring 0049 30 1234567"}]}
    )
    raw["edge_draft"]["message"]["content"] = "mail me at me@here.com"
    out = redactor.record(raw)
    assert out["request"]["messages"][-1]["content"][0]["text"] == f"ring {PII_MARK}"
    assert out["edge_draft"]["message"]["content"] == f"mail me at {PII_MARK}"
    arguments = out["cloud_response"]["message"]["tool_calls"][0]["function"]["arguments"]
    assert orjson.loads(arguments) == {"restaurant": f"ask {PII_MARK}", "people": 4}  # still JSON
    assert raw["edge_draft"]["message"]["content"] == "mail me at me@here.com"  # input untouched


def test_untouched_arguments_keep_their_bytes(redactor: Redactor) -> None:
    raw = make_record(2, call=("get_weather", '{ "city" : "Rome", "unit": "celsius" }'))
    out = redactor.record(raw)
    assert out["cloud_response"]["message"]["tool_calls"][0]["function"]["arguments"] == (
        '{ "city" : "Rome", "unit": "celsius" }'
    )
    assert out["request"]["messages"] == raw["request"]["messages"]


def test_secrets_are_scrubbed_everywhere_pii_only_in_messages(redactor: Redactor) -> None:
    raw = make_record(3)
    raw["request"]["user"] = "ops@example.com"
    raw["request"]["metadata"] = {"note": f"key={CLOUD_KEY}", CLIENT_KEY: "as a key"}
    blob = orjson.dumps(redactor.record(raw))
    assert CLOUD_KEY.encode() not in blob and CLIENT_KEY.encode() not in blob
    assert b"ops@example.com" in blob  # not message text: left for the operator to decide


def test_a_bad_pattern_names_the_setting() -> None:
    with pytest.raises(RedactionConfigError, match="NETGPT_DATASET_REDACT_PATTERNS"):
        Redactor([*DEFAULT_REDACTIONS, "(unclosed"])


def test_patterns_with_inline_flags_work() -> None:
    assert Redactor([r"(?i)secret project \w+"]).text("the SECRET PROJECT Zeus") == f"the {PII_MARK}"


def _one_by_one(redactor: Redactor, text: str) -> str:
    """What secrets() did before its shortcut: every secret pattern substituted in turn."""
    for pattern in redactor._secret:
        text = pattern.sub(SECRET_MARK, text)
    return text


@pytest.mark.parametrize(
    "text",
    [
        "", "sk-", "sk-1234567", "sk-12345678", "xsk-12345678", "\nsk-12345678", '"sk-abcdefgh"',
        "bearer", "Bearer abcdef", "BEARER\tabcde", "bearer\n\tabc.def+/=", "Bearer  abcde",
        f"{CLOUD_KEY}", f"x{CLOUD_KEY}x", f"{CLIENT_KEY[:-1]}", f"{CLIENT_KEY} and {CLOUD_KEY}",
        "type", "object", "celsius", "mail bob@example.com", "a" * 5000 + "sk-" + "b" * 8,
    ],
)
def test_the_shortcut_gives_what_every_pattern_in_turn_gives(redactor: Redactor, text: str) -> None:
    assert redactor.secrets(text) == _one_by_one(redactor, text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("skbearBEAR- \t\n_.x0123456789\"/=")) | st.characters(), max_size=40))
def test_the_shortcut_agrees_on_any_string(text: str) -> None:
    redactor = Redactor([], secrets=["key-abcd", "abcd"])
    assert redactor.secrets(text) == _one_by_one(redactor, text)


def test_a_string_shorter_than_any_secret_is_returned_untouched() -> None:
    redactor = Redactor([], secrets=["0123456789abcdef"])
    assert redactor._shortest == 11  # "sk-" and 8 more: the shortest any pattern matches
    assert redactor.secrets("sk-1234567") == "sk-1234567"
    assert redactor.secrets("sk-12345678") == SECRET_MARK
