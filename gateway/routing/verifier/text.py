"""Cheap text helpers for the verifier's features: words, stems, numbers. Pure, no I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# a number not glued to a preceding letter ("v2" is a name, not a number); 1,000 and 1.5e3 count
# no look-behind (it costs a check at every character): a number glued to a preceding letter
# ("v2", "x-5"'s sign) is dropped after the match, in Python
# [-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)? written to open with a character class (a sign or
# a digit; a sign must be followed by a digit): the regex engine then skips to candidates instead
# of trying the pattern at every character (2x faster on the BFCL questions, same matches)
_NUMBER = re.compile(r"[-+\d](?:(?<=[-+])\d|(?<![-+]))[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
_SCALE = re.compile(
    r"(\d[\d,]*(?:\.\d+)?)\s*(%|percent|k\b|thousand|million|billion|m\b|bn\b)",
    re.IGNORECASE,
)
# _SCALE's unit part, anchored where a number-like match ends (``readings``); the commas: a
# scale's number may end in commas that the match, after a fraction or exponent, left out
_UNIT_AFTER = re.compile(
    r",*\s*(?:%|percent|k\b|thousand|million|billion|m\b|bn\b)", re.IGNORECASE
).match
_SCALES = {
    "%": 0.01,
    "percent": 0.01,
    "k": 1e3,
    "thousand": 1e3,
    "million": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "bn": 1e9,
}
_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twenty": 20,
    "hundred": 100,
    "dozen": 12,
    "twice": 2,
    "double": 2,
    "half": 0.5,
}
_NUMBER_WORD_SET = frozenset(_NUMBER_WORDS)
STOPWORDS = frozenset(
    "a an the of to in on for and or is are be by with from at as it this that what which "
    "how me my i you your can could would will please give find get tell us we do does "
    "between about into using use if its their there than then also any all some".split()
)


# Words are the maximal [a-z0-9] runs of the lower-cased text. Found through bytes.translate
# rather than a regex: every character other than a-z and 0-9 (non-ASCII included, which
# encode("ascii", "replace") makes a "?") becomes a space and split() yields the runs; 3-5x
# faster than re.findall(r"[a-z0-9]+") on the BFCL questions.
_WORD_BYTES = bytes(c if 97 <= c <= 122 or 48 <= c <= 57 else 32 for c in range(256))
# character classes: a-z → "a", A-Z → "A", 0-9 → "0", the rest → " " (a camelCase boundary is
# "aA" or "0A"; an ASCII text holds a number only where it holds a "0")
_CLASS_BYTES = bytes(
    97 if 97 <= c <= 122 else 65 if 65 <= c <= 90 else 48 if 48 <= c <= 57 else 32
    for c in range(256)
)
_DIGIT = re.compile(r"\d")


def split_lower(lowered: str) -> list[str]:
    """The maximal ``[a-z0-9]`` runs of an already lower-cased text."""
    return lowered.encode("ascii", "replace").translate(_WORD_BYTES).decode("ascii").split()


def has_camel(text: str) -> bool:
    """Whether ``_CAMEL`` has a match: a lower-case letter or digit before a capital."""
    classes = text.encode("ascii", "replace").translate(_CLASS_BYTES)
    return b"aA" in classes or b"0A" in classes


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words; ``camelCase`` and ``snake_case`` split into parts."""
    if has_camel(text):
        text = _CAMEL.sub(" ", text)
    return split_lower(text.lower())


def word_forms(text: str) -> tuple[list[str], list[str], bool]:
    """(``words(text)``, ``normalise(text).split()``, whether ``text`` holds a digit, so any
    number): one tokenising unless there is camelCase."""
    if text.isascii():  # bytes.lower is str.lower here, and a digit is a "0" class
        raw = text.encode("ascii")
        classes = raw.translate(_CLASS_BYTES)
        plain = raw.lower().translate(_WORD_BYTES).decode("ascii").split()
        digit = b"0" in classes
    else:
        classes = text.encode("ascii", "replace").translate(_CLASS_BYTES)
        plain = split_lower(text.lower())
        digit = _DIGIT.search(text) is not None
    camel = b"aA" in classes or b"0A" in classes
    return (split_lower(_CAMEL.sub(" ", text).lower()) if camel else plain), plain, digit


# the capital first, then a look-behind over it and the two characters before: the same matches
# as "(?<=[a-z0-9,;:'\")] )[A-Z]...", but the regex engine skips to capitals instead of trying
# the look-behind at every character
_PROPER = re.compile(r"[A-Z](?<=[a-z0-9,;:'\")] [A-Z])[A-Za-z0-9'&.-]*")


def proper_names(text: str) -> list[str]:
    """Capitalised words not opening a sentence (``Paris``, ``NYSE``), lower-cased: the named
    values a request most often carries."""
    return [m.lower().strip(".'") for m in _PROPER.findall(text)]


def stem(word: str) -> str:
    """A crude stem: the first five letters (``calculate``/``calculation`` → ``calcu``)."""
    return word[:5]


def content_stems(tokens: Iterable[str]) -> frozenset[str]:
    """The ``stem`` of every token that is neither a stopword nor all digits."""
    # stem() inlined; a list comprehension, measured faster than a generator, a set difference
    # with STOPWORDS or map/filterfalse
    return frozenset([w[:5] for w in tokens if w not in STOPWORDS and not w.isdigit()])


def _to_float(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _digits(text: str, ends: list[int] | None = None) -> list[float]:
    """``numbers(text, extended=False)``; ``ends`` collects where every number-like match ends
    (those dropped as parts of names too)."""
    out = []
    for match in _NUMBER.finditer(text):
        token, start = match.group(), match.start()
        if ends is not None:
            ends.append(match.end())
        if start and (text[start - 1].isalpha() or text[start - 1] == "_"):
            if token[0] not in "+-":
                continue  # part of a name ("v2", "H2O")
            token = token[1:]  # "x-5": a hyphen, not a sign
        value = _to_float(token)
        if value is not None:
            out.append(value)
    return out


def numbers(
    text: str, *, extended: bool = True, tokens: Sequence[str] | None = None
) -> list[float]:
    """Every number written in digits in ``text``, in order, repeats kept; ``extended`` adds
    readings a value may take (``5%`` also as 0.05, ``2 million`` as 2e6, a few number words;
    ``tokens``, the text's ``words`` when already computed, saves a pass for the latter).
    """
    out = _digits(text)
    if not extended:
        return out
    return readings(text, out, words(text) if tokens is None else tokens)


def written_and_readings(text: str, tokens: Sequence[str]) -> tuple[list[float], list[float]]:
    """(``numbers(text, extended=False)``, ``numbers(text, tokens=tokens)``), the digits read
    once."""
    ends: list[int] = []
    digits = _digits(text, ends)
    return digits, readings(text, digits, tokens, ends)


def readings(
    text: str, digits: list[float], tokens: Sequence[str], ends: Sequence[int] | None = None
) -> list[float]:
    """``numbers(text)`` from ``numbers(text, extended=False)`` and ``words(text)``.

    ``ends`` (``_digits``'s): a scale's number ends where a number-like match ends, or a few
    commas later (the last digit is in some match, which neither a space nor a unit's first
    letter can continue), so when no match end is followed by a unit, the scale pass over the
    whole text is skipped."""
    out = list(digits)
    if out and (ends is None or any(_UNIT_AFTER(text, end) for end in ends)):
        for match in _SCALE.finditer(text):
            base = _to_float(match.group(1))
            if base is not None:
                out.append(base * _SCALES[match.group(2).lower()])
    if not _NUMBER_WORD_SET.isdisjoint(tokens):
        out.extend(float(_NUMBER_WORDS[w]) for w in tokens if w in _NUMBER_WORDS)
    return out


def number_key(value: float) -> float:
    """``value`` rounded to 9 significant digits: equal keys are the same number written twice
    (``0.1 + 0.2`` and ``0.3``), and set lookups stay O(1)."""
    if type(value) is float and value.is_integer() and -1e9 < value < 1e9:
        return value  # at most 9 digits: formatting gives it back unchanged
    return float(f"{value:.9g}")


def normalise(text: str) -> str:
    """Lower case, runs of non-alphanumerics collapsed to one space (for substring tests)."""
    return " ".join(split_lower(text.lower()))
