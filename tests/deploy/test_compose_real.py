"""The Dockerfile builds on an air-gapped edge box, and building the gateway compiles nothing.

The real build runs in scripts/compose-check (BuildKit on a Debian dockerd with no registry,
which also shows that a `# syntax=` line fails there); these tests pin the two properties it
relies on, read from the files, so a change that brings them back fails in every test run:

- Bug 1 (issue 20): `# syntax=docker/dockerfile:1` makes BuildKit fetch its frontend from Docker
  Hub before reading a single instruction; no parser directive may name a remote frontend.
- The classic builder (Compose v1's default) builds every stage up to the target, so the
  gateway's stage must come before the stages that compile llama.cpp or carry bench/.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def parser_directives(text: str) -> dict[str, str]:
    """Docker's parser directives: `# key=value` lines before the first other line."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$", line)
        if not m:
            break
        found[m.group(1).lower()] = m.group(2)
    return found


def stages(text: str) -> list[tuple[str, list[str]]]:
    """(stage name, its instruction lines) in file order; continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    out: list[tuple[str, list[str]]] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if m:
            out.append((m.group(1) or f"stage{len(out)}", []))
        elif out:
            out[-1][1].append(line)
    return out


def test_parser_directives_helper_sees_the_old_line() -> None:
    old = "# syntax=docker/dockerfile:1\n# NetGPT gateway image\nFROM x AS y\n"
    assert parser_directives(old) == {"syntax": "docker/dockerfile:1"}


def test_no_syntax_directive_so_buildkit_needs_no_registry() -> None:
    directives = parser_directives(DOCKERFILE)
    assert "syntax" not in directives, (
        "a `# syntax=` parser directive makes BuildKit pull its frontend image from a registry: "
        "an air-gapped box cannot build (issue 20)")
    assert not re.search(r"^#\s*syntax\s*=", DOCKERFILE, re.IGNORECASE | re.MULTILINE)


def test_the_gateway_stage_comes_before_llama_cpp_and_bench() -> None:
    names = [name for name, _ in stages(DOCKERFILE)]
    runtime = names.index("runtime")
    assert runtime < names.index("edge-llamacpp") and runtime < names.index("fake-cloud"), names
    upto_runtime = [line for _name, lines in stages(DOCKERFILE)[:runtime + 1] for line in lines]
    text = "\n".join(upto_runtime)
    assert "edge install" not in text and "cmake" not in text
    assert not re.search(r"^COPY\s+bench\b", text, re.MULTILINE), "the gateway carries no bench"
    edge = dict(stages(DOCKERFILE))["edge-llamacpp"]
    assert any("netgpt edge install" in line for line in edge)


def test_compose_builds_the_gateway_stage_and_the_edge_stage_by_target() -> None:
    services = COMPOSE["services"]
    assert services["gateway"]["build"]["target"] == "runtime"
    assert services["edge-cpu"]["build"]["target"] == "edge-llamacpp"


def test_the_fake_cloud_stage_is_the_only_one_with_bench() -> None:
    with_bench = [name for name, lines in stages(DOCKERFILE)
                  if any(re.match(r"^COPY\s+bench\b", line) for line in lines)]
    assert with_bench == ["fake-cloud"]
    fake = dict(stages(DOCKERFILE))["fake-cloud"]
    assert any("bench.fakes" in line for line in fake)


def test_the_edge_stage_reuses_a_staged_llama_server() -> None:
    edge = "\n".join(dict(stages(DOCKERFILE))["edge-llamacpp"])
    assert "COPY deploy/compose-check/prebuilt/ /opt/netgpt-cache/llama.cpp/" in edge
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "!deploy/compose-check/prebuilt/" in ignore
    assert (ROOT / "deploy/compose-check/prebuilt/README.md").is_file()
