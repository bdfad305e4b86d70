"""`netgpt serve` loads no benchmark, training or plotting code; bench commands stay lazy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "trl", "peft", "matplotlib")


def _imported(*args: str) -> set[str]:
    """Every module `python -X importtime -m gateway.cli ARGS` imported (from its stderr)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "gateway.cli", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"usage: netgpt {args[0]}" in proc.stdout or args[0] == "--help"
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "gateway.config" in names  # the parser was really built
    return names


def test_serve_help_imports_no_bench_module() -> None:
    names = _imported("serve", "--help")
    bench = sorted(n for n in names if n == "bench" or n.startswith("bench."))
    assert bench == []


def test_serve_help_imports_no_training_or_plotting_library() -> None:
    names = _imported("serve", "--help")
    heavy = sorted(n for n in names if n.split(".")[0] in HEAVY)
    assert heavy == []


def test_top_level_help_lists_bench_commands_without_importing_bench() -> None:
    names = _imported("--help")
    assert not any(n == "bench" or n.startswith("bench.") for n in names)


def test_building_the_parser_does_not_import_the_load_harness() -> None:
    code = ("import sys\nfrom gateway.cli import build_parser\np = build_parser()\n"
            "names = p._subparsers._group_actions[0].choices\n"
            "assert {'serve', 'bench', 'demo', 'loop', 'learn'} <= set(names), names\n"
            "print(sorted(m for m in sys.modules if m == 'bench' or m.startswith('bench.')))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_bench_command_is_registered_in_full_when_it_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "gateway.cli", "bench", "experts", "--help"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout


def test_without_bench_the_bench_commands_are_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from gateway import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "bench" else real(name, *a, **k))
    assert not cli.bench_available()
    with pytest.raises(SystemExit) as caught:
        cli.main(["demo", "--help"])
    assert caught.value.code == 2  # argparse: invalid choice
    choices = cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert "serve" in choices and "demo" not in choices and "bench" not in choices
