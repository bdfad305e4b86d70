"""The train extra is checked before a learning command starts, with what to install."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge_worker.learning import extras
from gateway.cli import main

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """find_spec answers None for torch, as on a box without the train extra."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name.split(".")[0] == "torch" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_modules_lists_what_cannot_be_found(no_torch: None) -> None:
    assert "torch" in extras.missing_modules()
    assert extras.missing_modules(("json",)) == []
    assert extras.missing_modules(("no_such_module_netgpt",)) == ["no_such_module_netgpt"]


def test_require_train_extra_names_the_install_command(no_torch: None) -> None:
    with pytest.raises(extras.MissingExtra) as caught:
        extras.require_train_extra("netgpt learn round")
    message = str(caught.value)
    assert "pip install -e '.[train]'" in message
    assert "torch" in message and "netgpt learn round" in message


def test_a_broken_spec_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # a module set to None in sys.modules makes find_spec raise ValueError
    monkeypatch.setitem(sys.modules, "peft", None)
    assert "peft" in extras.missing_modules()


def test_learn_round_stops_before_its_first_step(no_torch: None, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "round"
    code = main(["learn", "round", "--out", str(out), "--redis-url", "redis://127.0.0.1:1/0",
                 "--model", str(tmp_path / "model.gguf"), "--name", "edge-r1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[train]'" in err and "torch" in err
    assert not out.exists()  # nothing exported, nothing written


def test_loop_stops_before_any_traffic(no_torch: None, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "loop"
    code = main(["loop", "--quick", "--out", str(out), "--data", str(tmp_path / "nodata")])
    assert code == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[train]'" in err
    assert not out.exists()  # no state, no Redis, no gateway started


def test_without_torch_in_a_fresh_process(tmp_path: Path) -> None:
    """The same in a real process whose import system cannot see torch at all."""
    code = (
        "import sys, importlib.util as u\n"
        "real = u.find_spec\n"
        "u.find_spec = lambda n, *a, **k: None if n.split('.')[0] in ('torch', 'trl') "
        "else real(n, *a, **k)\n"
        "from gateway.cli import main\n"
        f"sys.exit(main(['learn', 'round', '--out', {str(tmp_path / 'r')!r}, '--redis-url', "
        "'redis://127.0.0.1:1/0', '--model', 'x.gguf', '--name', 'n']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "missing: torch, trl" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_train_commands_check_the_extra_first(no_torch: None, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "sft", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--model", "m"])
    assert code == 2
    assert "`netgpt train sft`" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
