"""Flame graphs (SVG) and a per-part breakdown from py-spy's collapsed stacks.

py-spy writes either a flame graph or the raw (collapsed) stacks from one recording, not both;
the profile keeps the raw stacks (they are what the breakdown reads) and draws the SVG from
them here, so the picture and the figures come from the same samples. No dependency: the SVG
is plain rectangles with ``<title>`` tooltips (hover in a browser), root at the bottom.

    python -m bench.load.flame STACKS.txt -o graph.svg --title "edge path"
"""

from __future__ import annotations

import argparse
import html
import sys
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

WIDTH, ROW, FONT, MIN_PX = 1200.0, 16, 11, 1.0


def short(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file.py)``."""
    name, sep, where = frame.partition(" (")
    if not sep:
        return frame
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1].rstrip(')')})"


def read(path: Path, skip_idle: bool = True) -> list[tuple[list[str], int]]:
    """(frames root first, as py-spy names them: ``func (path:line)``, count) per line of
    py-spy's raw output; idle event-loop waits (a shallow stack ending in select/poll) are
    left out so the graph and the breakdown show the busy time."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if skip_idle and frames and ("select" in frames[-1] or "poll" in frames[-1]) and len(frames) < 12:
            continue
        stacks.append((frames, int(count)))
    return stacks


@dataclass
class Node:
    name: str
    count: int = 0
    children: dict[str, Node] = field(default_factory=dict)


def tree(stacks: Iterable[tuple[Sequence[str], int]]) -> Node:
    """The call tree, frames named ``func (file.py)`` (line numbers merged)."""
    root = Node("all")
    for frames, count in stacks:
        root.count += count
        node = root
        for frame in map(short, frames):
            node = node.children.setdefault(frame, Node(frame))
            node.count += count
    return root


def _color(name: str) -> str:
    h = zlib.crc32(name.split(" (")[0].encode())
    return f"rgb({205 + h % 50},{80 + (h >> 8) % 120},{(h >> 16) % 60})"


def _depth(node: Node) -> int:
    return 1 + max((_depth(c) for c in node.children.values()), default=0)


def svg(root: Node, title: str) -> str:
    rows = _depth(root)
    height = (rows + 2) * ROW + 10
    scale = WIDTH / max(root.count, 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0f}" height="{height}" '
        f'font-family="monospace" font-size="{FONT}">',
        '<rect width="100%" height="100%" fill="#fafafa"/>',
        f'<text x="4" y="{ROW - 3}" font-size="{FONT + 2}">{html.escape(title)} '
        f"({root.count} busy samples; width = share of samples; hover for figures)</text>",
    ]

    def draw(node: Node, x: float, depth: int) -> None:
        w = node.count * scale
        if w < MIN_PX:
            return
        y = height - (depth + 1) * ROW
        pct = 100.0 * node.count / max(root.count, 1)
        label = html.escape(node.name)
        out.append(
            f'<g><title>{label}: {node.count} samples, {pct:.1f}%</title>'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 1}" fill="{_color(node.name)}"/>'
        )
        chars = int(w / (FONT * 0.6))
        if chars >= 4:
            text = node.name if len(node.name) <= chars else node.name[: chars - 2] + ".."
            out.append(f'<text x="{x + 2:.1f}" y="{y + ROW - 4}">{html.escape(text)}</text>')
        out.append("</g>")
        cx = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            draw(child, cx, depth + 1)
            cx += child.count * scale

    draw(root, 0.0, 0)
    out.append("</svg>")
    return "\n".join(out)


def breakdown(stacks: Sequence[tuple[Sequence[str], int]], parts: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Share of busy samples per part. A sample belongs to the part of its innermost frame
    that names one (a marker is a substring of py-spy's ``func (path:line)``; where one frame
    matches several parts, the first in ``parts``' order): a library frame that names no part
    (pydantic, orjson's caller) counts for the caller that does. The rest is ``other``."""
    total = sum(count for _, count in stacks) or 1
    shares = dict.fromkeys([*parts, "other"], 0)
    for frames, count in stacks:
        chosen = "other"
        for frame in reversed(frames):
            hit = next((part for part, markers in parts.items() if any(m in frame for m in markers)), None)
            if hit is not None:
                chosen = hit
                break
        shares[chosen] += count
    return {part: 100.0 * n / total for part, n in shares.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load.flame", description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", type=Path, help="py-spy record --format raw output")
    parser.add_argument("-o", "--out", type=Path, required=True, help="SVG to write")
    parser.add_argument("--title", default="gateway under load")
    args = parser.parse_args(argv)
    args.out.write_text(svg(tree(read(args.stacks)), args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
