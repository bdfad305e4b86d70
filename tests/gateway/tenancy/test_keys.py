"""The key file: parsing, hashing, reload on change, and the `netgpt keys` command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.tenancy.keys import (
    KeyEntry,
    KeyFile,
    KeyFileError,
    hash_key,
    new_key,
    read_entries,
    write_entries,
)
from gateway.tenancy.limits import KeyLimits


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_new_keys_are_random_and_only_the_hash_is_written(tmp_path):
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100 and all(k.startswith("ngk-") and len(k) == 47 for k in keys)
    key = keys.pop()
    path = tmp_path / "keys.toml"
    write_entries(path, [KeyEntry("a", hash_key(key), KeyLimits(rpm=5, budget_usd=2.5, budget_period_s=3600))])
    text = path.read_text()
    assert key not in text and hash_key(key) in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    [entry] = read_entries(path)
    assert entry.limits == KeyLimits(rpm=5, budget_usd=2.5, budget_period_s=3600)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_round_trip_in_both_formats(tmp_path, suffix):
    entries = [
        KeyEntry("team-a", hash_key("k1"), KeyLimits(60, 10_000, 5.0, 86_400), created="2026-01-01T00:00:00Z"),
        KeyEntry("team.b", hash_key("k2"), KeyLimits(), disabled=True),
    ]
    path = tmp_path / f"keys{suffix}"
    write_entries(path, entries)
    assert read_entries(path) == entries


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"key": [{"name": "a b", "sha256": "0" * 64}]}, "name must match"),
        ({"key": [{"name": "a", "sha256": "xyz"}]}, "sha256 must be 64 hex"),
        ({"key": [{"name": "a", "sha256": "0" * 64}, {"name": "a", "sha256": "1" * 64}]}, "used twice"),
        ({"key": [{"name": "a", "sha256": "0" * 64, "rpm": 0}]}, "rpm must be a positive int"),
        ({"key": [{"name": "a", "sha256": "0" * 64, "rpm": True}]}, "rpm must be a positive int"),
        ({"key": [{"name": "a", "sha256": "0" * 64, "budget_usd": "5"}]}, "budget_usd must be"),
        ({"key": [{"name": "a", "sha256": "0" * 64, "budget_period": "year"}]}, "budget_period"),
        ({"key": {"name": "a"}}, "expected a list"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(tmp_path, body, message):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(body))
    with pytest.raises(KeyFileError, match=message):
        read_entries(path)


def test_key_file_reloads_on_change_and_keeps_the_last_good_keys(tmp_path):
    path, clock = tmp_path / "keys.toml", Clock()
    write_entries(path, [KeyEntry("a", hash_key("key-a"), KeyLimits())])
    kf = KeyFile(path, reload_interval_s=1.0, clock=clock)
    assert kf.lookup("key-a").name == "a" and kf.lookup("key-b") is None

    write_entries(path, [KeyEntry("b", hash_key("key-b"), KeyLimits(rpm=1))])
    assert kf.lookup("key-b") is None, "not re-checked before the interval"
    clock.now = 1.0
    assert kf.lookup("key-b").name == "b" and kf.lookup("key-a") is None  # revoked

    path.write_text("[[key]\nbroken")
    os.utime(path, ns=(1, 1))
    clock.now = 2.0
    assert kf.lookup("key-b").name == "b" and "not valid TOML" in kf.error

    write_entries(path, [KeyEntry("b", hash_key("key-b"), KeyLimits(), disabled=True)])
    clock.now = 3.0
    assert kf.lookup("key-b") is None and kf.error is None


def test_missing_key_file_is_an_error_at_start(tmp_path):
    with pytest.raises(KeyFileError, match="NETGPT_API_KEYS_FILE"):
        KeyFile(tmp_path / "nope.toml")


def test_cli_add_prints_the_key_once_then_list_and_revoke(tmp_path, capsys):
    path = tmp_path / "keys.toml"
    assert main(["keys", "add", "team-a", "--rpm", "60", "--tpm", "10000", "--budget-usd", "5",
                 "--budget-period", "hour", "--file", str(path)]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("ngk-")
    [entry] = read_entries(path)
    assert entry.sha256 == hash_key(key) and entry.limits == KeyLimits(60, 10_000, 5.0, 3600)

    assert main(["keys", "list", "--file", str(path)]) == 0
    listing = capsys.readouterr().out
    assert "team-a" in listing and "10000" in listing and key not in listing

    with pytest.raises(SystemExit, match="exists"):
        main(["keys", "add", "team-a", "--file", str(path)])
    assert main(["keys", "revoke", "team-a", "--file", str(path)]) == 0
    assert read_entries(path) == []
    with pytest.raises(SystemExit, match="no key named"):
        main(["keys", "revoke", "team-a", "--file", str(path)])


def test_cli_reads_the_file_from_the_environment(tmp_path, monkeypatch, capsys):
    path = tmp_path / "k.json"
    monkeypatch.setenv("NETGPT_API_KEYS_FILE", str(path))
    assert main(["keys", "add", "x"]) == 0
    capsys.readouterr()
    assert json.loads(Path(path).read_text())["key"][0]["name"] == "x"
