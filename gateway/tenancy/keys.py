"""Client keys: stored as SHA-256 hashes with per-key limits, in a TOML or JSON file.

    # keys.toml (NETGPT_API_KEYS_FILE); written by `netgpt keys add`
    [[key]]
    name = "team-a"                 # shown in logs and metrics; [A-Za-z0-9._-], unique
    sha256 = "9f86d0...0f00a08"     # hex SHA-256 of the key; the key itself is never stored
    rpm = 60                        # requests per minute (omit: unlimited)
    tpm = 10000                     # tokens per minute
    budget_usd = 5.0                # cloud spend per budget period
    budget_period = "day"           # "hour", "day", "week" or seconds; epoch-aligned (UTC)
    disabled = false                # revoked keys are removed, or disabled here

Keys are 256-bit random strings, so a fast hash is enough: nobody can search the key space,
and one SHA-256 per request (~1 us) plus a dict lookup finds the key without comparing it to
every entry. A slow password hash (scrypt, bcrypt) protects low-entropy *passwords*; on a key it
would cost milliseconds per request or need a cache of verified keys.

:class:`KeyFile` re-reads the file when its modification time, size or inode changes (checked
at most every ``reload_interval_s``, on the request path: one ``os.stat``). A file that fails to
parse keeps the last good keys and logs why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.tenancy.limits import KeyLimits

log = logging.getLogger("netgpt.tenancy")

KEY_PREFIX = "ngk-"
NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
PERIODS = {"hour": 3600, "day": 86_400, "week": 7 * 86_400}


class KeyFileError(ValueError):
    """The key file cannot be used; the message says which entry and why."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    name: str
    sha256: str
    limits: KeyLimits
    disabled: bool = False
    created: str | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh client key: ``ngk-`` and 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _period(value: Any, where: str) -> int:
    if isinstance(value, str) and value in PERIODS:
        return PERIODS[value]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 60:
        return value
    raise KeyFileError(f"{where}: budget_period must be hour, day, week or seconds >= 60")


def _limit(entry: dict[str, Any], name: str, where: str, kind: type) -> Any:
    value = entry.get(name)
    if value is None:
        return None
    ok = isinstance(value, int | float) if kind is float else isinstance(value, int)
    if isinstance(value, bool) or not ok or value <= 0:
        raise KeyFileError(f"{where}: {name} must be a positive {kind.__name__} (omit it: unlimited)")
    return kind(value)


def parse_entries(data: Any) -> list[KeyEntry]:
    """``{"key": [{...}, ...]}`` (TOML's ``[[key]]`` tables, or the same JSON) to entries."""
    if not isinstance(data, dict) or not isinstance(data.get("key", []), list):
        raise KeyFileError("expected a list of [[key]] tables (JSON: {\"key\": [...]})")
    entries: list[KeyEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(data.get("key", [])):
        where = f"key #{i + 1}"
        if not isinstance(raw, dict):
            raise KeyFileError(f"{where}: not a table")
        name, digest = raw.get("name"), raw.get("sha256")
        if not isinstance(name, str) or not NAME.match(name):
            raise KeyFileError(f"{where}: name must match {NAME.pattern}")
        where = f"key '{name}'"
        if name in seen:
            raise KeyFileError(f"{where}: the name is used twice")
        seen.add(name)
        if not isinstance(digest, str) or not _HEX64.match(digest.lower()):
            raise KeyFileError(f"{where}: sha256 must be 64 hex digits (netgpt keys add writes it)")
        limits = KeyLimits(
            rpm=_limit(raw, "rpm", where, int),
            tpm=_limit(raw, "tpm", where, int),
            budget_usd=_limit(raw, "budget_usd", where, float),
            budget_period_s=_period(raw.get("budget_period", "day"), where),
        )
        created = raw.get("created")
        entries.append(
            KeyEntry(name, digest.lower(), limits, bool(raw.get("disabled", False)),
                     created if isinstance(created, str) else None)
        )
    return entries


def read_entries(path: Path) -> list[KeyEntry]:
    text = path.read_bytes()
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}") from None
    try:
        return parse_entries(data)
    except KeyFileError as exc:
        raise KeyFileError(f"{path}: {exc}") from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a TOML basic string


def _period_name(seconds: int) -> str | int:
    return next((name for name, s in PERIODS.items() if s == seconds), seconds)


def render(entries: Iterable[KeyEntry], as_json: bool = False) -> str:
    rows: list[dict[str, Any]] = []
    for e in entries:
        row: dict[str, Any] = {"name": e.name, "sha256": e.sha256}
        for name in ("rpm", "tpm", "budget_usd"):
            if getattr(e.limits, name) is not None:
                row[name] = getattr(e.limits, name)
        if e.limits.budget_usd is not None:
            row["budget_period"] = _period_name(e.limits.budget_period_s)
        if e.disabled:
            row["disabled"] = True
        if e.created:
            row["created"] = e.created
        rows.append(row)
    if as_json:
        return json.dumps({"key": rows}, indent=2) + "\n"
    out = ["# NetGPT client keys (netgpt keys add|revoke|list). Only SHA-256 hashes are stored.\n"]
    for row in rows:
        out.append("\n[[key]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in row.items()))
    return "".join(out)


def write_entries(path: Path, entries: Iterable[KeyEntry]) -> None:
    """Atomic: a reader (the gateway's reload) sees the old file or the new one, never half."""
    text = render(entries, as_json=path.suffix == ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".keys-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class KeyFile:
    """The keys of ``path`` by hash, reloaded when the file changes.

    >>> kf = KeyFile(Path("keys.toml"))       # doctest: +SKIP
    >>> kf.lookup("ngk-...")                  # doctest: +SKIP
    KeyEntry(name='team-a', ...)
    """

    def __init__(
        self,
        path: Path,
        *,
        reload_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_reload: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.reload_interval_s = reload_interval_s
        self.clock = clock
        self.on_reload = on_reload
        self._by_hash: dict[str, KeyEntry] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked = -float("inf")
        self.error: str | None = None
        self.reload(force=True)

    def __len__(self) -> int:
        return len(self._by_hash)

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed; True when the keys were replaced."""
        self._checked = self.clock()
        try:
            st = os.stat(self.path)
        except OSError as exc:
            if force:
                raise KeyFileError(f"{self.path}: {exc.strerror} (NETGPT_API_KEYS_FILE)") from None
            self._fail(f"{self.path}: {exc.strerror}")
            return False
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp and not force:
            return False
        try:
            entries = read_entries(self.path)
        except (KeyFileError, OSError) as exc:
            if force:
                raise KeyFileError(str(exc)) from None
            self._fail(str(exc))
            return False
        self._by_hash = {e.sha256: e for e in entries if not e.disabled}
        self._stamp = stamp
        self.error = None
        if self.on_reload is not None:
            self.on_reload(len(self._by_hash))
        log.info("client keys loaded", extra={"path": str(self.path), "keys": len(self._by_hash)})
        return True

    def _fail(self, message: str) -> None:
        if message != self.error:  # once per distinct problem, not per request
            log.error("client key file unusable; keeping the last good keys", extra={"error": message})
        self.error = message

    def lookup(self, key: str) -> KeyEntry | None:
        if self.clock() - self._checked >= self.reload_interval_s:
            self.reload()
        return self._by_hash.get(hash_key(key))
