"""Where the local edge keeps what it builds and fetches, and the key of this machine's CPU."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def cache_root() -> Path:
    """``$NETGPT_CACHE_DIR``, else ``$XDG_CACHE_HOME/netgpt``, else ``~/.cache/netgpt``."""
    explicit = os.environ.get("NETGPT_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "netgpt"


def cpu_key() -> str:
    """12 hex digits naming this CPU (architecture, model and instruction-set flags).

    The server is built with ``GGML_NATIVE=ON`` (the fastest code for this CPU), so a binary is
    only reused on a CPU with the same key.
    """
    parts = [platform.machine()]
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = platform.processor()
    for line in text.splitlines():
        key = line.split(":", 1)[0].strip()
        if key in ("model name", "flags", "Features", "CPU part") and line not in parts:
            parts.append(line.strip())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


class FetchError(RuntimeError):
    """A package could not be fetched from the package index."""


def pip_download(requirement: str, dest: Path, *, source: bool = False) -> Path:
    """``pip download --no-deps REQUIREMENT`` into DEST; returns the file it saved.

    Uses this Python's pip with the machine's own index settings (pip.conf), so a mirror or a
    proxy configured for pip works here too.
    """
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.iterdir())
    name = requirement.split("=", 1)[0].split("<", 1)[0].split(">", 1)[0].strip()
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-q", "-d", str(dest), requirement]
    if source:
        cmd[4:4] = ["--no-binary", name]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise FetchError(
            f"could not download {requirement} from the package index (pip said: {tail}). "
            "Check that pip can reach PyPI or your mirror (pip config list)."
        )
    new = [p for p in dest.iterdir() if p not in before]
    if not new:  # already there from an earlier, interrupted run
        stem = name.replace("-", "_").lower()
        new = [p for p in dest.iterdir() if p.name.lower().startswith(stem)]
    if not new:
        raise FetchError(f"pip reported success but saved no file for {requirement}")
    return max(new, key=lambda p: p.stat().st_mtime)


def extract_member(archive: Path, member: str, target: Path) -> Path:
    """Copy one file out of a wheel (a zip) to TARGET, atomically (never a half file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError:
            raise FetchError(f"{archive.name} has no {member}") from None
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out, zf.open(info) as src:
                while block := src.read(1 << 20):
                    out.write(block)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return target
