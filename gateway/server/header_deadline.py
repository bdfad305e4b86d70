"""uvicorn's httptools protocol with a deadline on request headers (slow-loris clients).

uvicorn bounds the idle time between requests on a kept-alive connection
(``timeout_keep_alive``) but not the time a client takes to send a request's headers: a client
that opens a connection and trickles one header byte at a time holds it (and a file descriptor)
for as long as it likes. Here a request's headers must be complete within ``header_timeout_s``
of its first byte, or the client gets ``408`` with OpenAI's error envelope and the connection is
closed. A new connection that sends nothing for that long is closed without an answer, as an idle
kept-alive one is: an unasked-for 408 on an idle pooled connection would be read by the client as
the answer to the next request it sends there (the 15 req/s soak caught exactly that). The body
has its own deadline in the chat route (``gateway.api.chat.read_body``); both come from
``NETGPT_CLIENT_TIMEOUT_S``.

    uvicorn.run(app, http=functools.partial(HeaderDeadlineProtocol, header_timeout_s=30.0))
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from gateway.config import Settings

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
        self._in_request = False  # a request's first byte came, its headers not yet

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_request = True
        self._disarm()  # from the request's first byte, not from when the connection opened
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_request = False
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
        # a 408 only to a request that began, and never inside another answer
        if self._in_request and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(_RESPONSE)
        self.transport.close()


def client_deadline(settings: Settings) -> Any:
    """uvicorn's httptools protocol with a deadline on request headers (slow-loris clients)."""
    return functools.partial(HeaderDeadlineProtocol, header_timeout_s=settings.client_timeout_s)
