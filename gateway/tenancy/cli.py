"""``netgpt keys add|revoke|list``: manage the client key file (NETGPT_API_KEYS_FILE).

A running gateway picks the change up within NETGPT_API_KEYS_RELOAD_S (no restart). The key is
printed once by ``add``; only its SHA-256 is stored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from gateway.tenancy.keys import (
    NAME,
    PERIODS,
    KeyEntry,
    KeyFileError,
    hash_key,
    new_key,
    read_entries,
    write_entries,
)
from gateway.tenancy.limits import KeyLimits


def _file(args: argparse.Namespace) -> Path:
    from pydantic import ValidationError

    from gateway.config import TenancySettings

    try:  # the settings are the one reader of NETGPT_* variables
        path = args.file or TenancySettings().api_keys_file
    except ValidationError as exc:
        raise SystemExit(f"netgpt keys: invalid NETGPT_ setting: {exc.errors()[0]['msg']}") from None
    if not path:
        raise SystemExit("netgpt keys: give --file PATH or set NETGPT_API_KEYS_FILE")
    return Path(path)


def _load(path: Path, *, missing_ok: bool) -> list[KeyEntry]:
    if not path.exists():
        if missing_ok:
            return []
        raise SystemExit(f"netgpt keys: {path} does not exist (netgpt keys add creates it)")
    try:
        return read_entries(path)
    except KeyFileError as exc:
        raise SystemExit(f"netgpt keys: {exc}") from None


def _period(text: str) -> int:
    if text in PERIODS:
        return PERIODS[text]
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("hour, day, week or a number of seconds") from None
    if seconds < 60:
        raise argparse.ArgumentTypeError("at least 60 seconds")
    return seconds


def _name(text: str) -> str:
    if not NAME.match(text):
        raise argparse.ArgumentTypeError(f"must match {NAME.pattern}")
    return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def cmd_add(args: argparse.Namespace) -> int:
    path = _file(args)
    entries = _load(path, missing_ok=True)
    if any(e.name == args.name for e in entries):
        raise SystemExit(f"netgpt keys: '{args.name}' exists; revoke it first or pick another name")
    key = new_key()
    limits = KeyLimits(args.rpm, args.tpm, args.budget_usd, args.budget_period)
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_entries(path, [*entries, KeyEntry(args.name, hash_key(key), limits, created=created)])
    print(key)  # noqa: T201
    print(f"added '{args.name}' to {path}; this is the only time the key is shown", file=sys.stderr)  # noqa: T201
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    path = _file(args)
    entries = _load(path, missing_ok=False)
    kept = [e for e in entries if e.name != args.name]
    if len(kept) == len(entries):
        raise SystemExit(f"netgpt keys: no key named '{args.name}' in {path}")
    write_entries(path, kept)
    print(f"revoked '{args.name}' ({path})", file=sys.stderr)  # noqa: T201
    return 0


def _show(value: object) -> str:
    return "-" if value is None else str(value)


def cmd_list(args: argparse.Namespace) -> int:
    path = _file(args)
    rows = [("name", "rpm", "tpm", "budget_usd", "period_s", "sha256", "created")]
    for e in _load(path, missing_ok=False):
        lim = e.limits
        rows.append((
            e.name + (" (disabled)" if e.disabled else ""), _show(lim.rpm), _show(lim.tpm),
            _show(lim.budget_usd), str(lim.budget_period_s) if lim.budget_usd else "-",
            e.sha256[:12] + "…", _show(e.created),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())  # noqa: T201
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser(
        "keys",
        help="add, revoke or list client keys (hashed, with per-key limits)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    def usage(_args: argparse.Namespace) -> int:
        keys.print_help()
        return 2

    keys.set_defaults(func=usage)
    actions = keys.add_subparsers(dest="action", metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--file", help="key file, .toml or .json (default: $NETGPT_API_KEYS_FILE)")

    add = actions.add_parser("add", parents=[common], help="create a key and print it once")
    add.add_argument("name", type=_name, help="a unique name, shown in logs and metrics")
    add.add_argument("--rpm", type=_positive_int, help="requests per minute (default: unlimited)")
    add.add_argument("--tpm", type=_positive_int, help="tokens per minute (default: unlimited)")
    add.add_argument("--budget-usd", type=_positive_float,
                     help="cloud spend allowed per budget period, USD (default: unlimited)")
    add.add_argument("--budget-period", type=_period, default=86_400,
                     help="hour, day (default), week or seconds; periods are UTC, epoch-aligned")
    add.set_defaults(func=cmd_add)

    revoke = actions.add_parser("revoke", parents=[common], help="remove a key (effective without restart)")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_revoke)

    lst = actions.add_parser("list", parents=[common], help="names, limits and hash prefixes")
    lst.set_defaults(func=cmd_list)
