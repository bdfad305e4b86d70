"""uvicorn's httptools protocol with a deadline on request headers (slow-loris clients).

uvicorn bounds the idle time between requests on a kept-alive connection
(``timeout_keep_alive``) but not the time a client takes to send a request's headers: a client
that opens a connection and trickles one header byte at a time holds it (and a file descriptor)
for as long as it likes. Here the headers must be complete within ``header_timeout_s`` of the
connection opening, or of the next request's first byte on a kept-alive connection; otherwise
the client gets ``408`` with OpenAI's error envelope and the connection is closed. The body has
its own deadline in the chat route (``gateway.api.chat.read_body``); both come from
``NETGPT_CLIENT_TIMEOUT_S``.

    uvicorn.run(app, http=functools.partial(HeaderDeadlineProtocol, header_timeout_s=30.0))
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_BODY = orjson.dumps(
    {
        "error": {
            "message": "the request headers did not arrive in time (NETGPT_CLIENT_TIMEOUT_S)",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_timeout",
        }
    }
)
_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\nconnection: close\r\n\r\n" + _BODY
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, header_timeout_s: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # the next request on a kept-alive connection gets the same time

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # never inside another answer
            self.transport.write(_RESPONSE)
        self.transport.close()
