"""The fast text helpers give what their plain regex definitions give, on awkward text.

``text.py`` tokenises through ``bytes.translate``, opens its regexes with a character class and
skips the scale pass when no number is followed by a unit; each is checked here against the
straightforward definition it replaced, over a deterministic fuzz of fragments chosen to sit on
the edges (camelCase, Unicode case and digits, signs glued to names, commas after exponents).
"""

from __future__ import annotations

import random
import re

import pytest

from gateway.routing.verifier.text import (
    _NUMBER,
    content_stems,
    normalise,
    numbers,
    proper_names,
    word_forms,
    words,
    written_and_readings,
)

WORD = re.compile(r"[a-z0-9]+")
CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
PROPER = re.compile(r"(?<=[a-z0-9,;:'\")] )[A-Z][A-Za-z0-9'&.-]*")
SCALE = re.compile(
    r"(\d[\d,]*(?:\.\d+)?)\s*(%|percent|k\b|thousand|million|billion|m\b|bn\b)", re.IGNORECASE
)
FRAGMENTS = (
    "1", "22", "3.5", "1,000", "1e5", "2E-3", "-4", "+7", "x", "v", "_", " ", "  ", "\t",
    "\u00a0", "\u2003", "%", "percent", "PERCENT", "k", "K", "\u212a", "kg", "m", "M", "mb",
    "bn", "BN", "thousand", "Million", "billion", "e", "E", ".", ",", ",,", "a", "é", "٣", "²",
    "ſ", "İ", "ΟΔΟΣ", "-", "b", "n", "5,", "e3,", ".5,", "getWeather", "HTTPServer", "snake_case",
    "Paris", "New York", "O'Brien", "AT&T", ";", ":", '"', ")", "'", "🙂", "Zürich",
)  # fmt: skip


def fuzz(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    pick = lambda: FRAGMENTS[int(rng.random() * len(FRAGMENTS))]  # noqa: E731
    return ["".join(pick() for _ in range(1 + int(rng.random() * 14))) for _ in range(n)]


TEXTS = fuzz(8_000, 18)


def test_words_and_normalise_match_the_regex_definitions():
    for text in TEXTS:
        expected = WORD.findall(CAMEL.sub(" ", text).lower())
        assert words(text) == expected, text
        assert normalise(text) == " ".join(WORD.findall(text.lower())), text
        tokens, plain, digit = word_forms(text)
        assert (tokens, plain) == (expected, normalise(text).split()), text
        assert digit == bool(re.search(r"\d", text)), text


def test_number_and_proper_name_regexes_match_the_plain_ones():
    for text in TEXTS:
        assert [m.span() for m in _NUMBER.finditer(text)] == [
            m.span() for m in NUMBER.finditer(text)
        ], text
        assert proper_names(text) == [
            m.group().lower().strip(".'") for m in PROPER.finditer(text)
        ], text


def test_skipping_the_scale_pass_loses_no_reading():
    skipped_some = False
    for text in TEXTS:
        tokens = words(text)
        digits, found = written_and_readings(text, tokens)
        assert repr(digits) == repr(numbers(text, extended=False)), text
        assert repr(found) == repr(numbers(text, tokens=tokens)), text
        skipped_some |= bool(digits) and SCALE.search(text) is None
    assert skipped_some


@pytest.mark.parametrize(
    ("text", "scaled"),
    [("1e3,k", 3000.0), ("1.5,million", 5e6), ("2,0002E-3,Million", 3e6), ("5 %", 0.05)],
)
def test_a_scale_after_an_exponent_or_fraction_and_commas_is_read(text, scaled):
    digits, found = written_and_readings(text, words(text))
    assert scaled in found[len(digits) :]


def test_content_stems_drop_stopwords_and_numbers():
    assert content_stems(["the", "calculation", "42", "x2", "calculate"]) == {"calcu", "x2"}
