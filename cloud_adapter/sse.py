"""Server-sent events: the ``data:`` payloads of an SSE byte stream, one per event.

Lines are split here rather than with ``StreamReader.readline`` (whose line limit a long
``data:`` line can exceed); ``event:``, ``id:``, ``retry:`` and comment lines are skipped, and
multi-line data is joined with ``\\n`` as the SSE spec says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp


async def sse_payloads(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    buffer = b""
    data: list[bytes] = []
    async for block in content.iter_any():
        buffer += block
        while (end := buffer.find(b"\n")) >= 0:
            line = buffer[:end].rstrip(b"\r")
            buffer = buffer[end + 1 :]
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
    if buffer.startswith(b"data:"):
        value = buffer[5:].rstrip(b"\r")
        data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield b"\n".join(data)
