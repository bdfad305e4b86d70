"""Slow clients (NETGPT_CLIENT_TIMEOUT_S): headers that trickle in get a 408 from the protocol
(gateway/server/header_deadline.py), a body that trickles in gets a 408 from the chat route; both are
OpenAI envelopes and the connection is closed. A prompt client on the same server is unaffected."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest

from gateway.app import create_gateway
from gateway.config import Settings
from gateway.server.header_deadline import client_deadline
from tests.conftest import chat_body
from tests.support.server import ServerThread

pytestmark = pytest.mark.integration


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[ServerThread]:
    settings = make_settings(client_timeout_s=0.5)
    with ServerThread(create_gateway(settings, tune_gc=False), lifespan="on", http=client_deadline(settings)) as srv:
        yield srv


def read_all(sock: socket.socket, limit_s: float = 5.0) -> bytes:
    sock.settimeout(limit_s)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data  # the server closed the connection


def split(reply: bytes) -> tuple[str, dict]:
    head, _, body = reply.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(), orjson.loads(body)


def test_headers_that_never_finish_get_408_and_a_closed_connection(server: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")  # no blank line, ever
        started = time.monotonic()
        status, body = split(read_all(sock))
        waited = time.monotonic() - started
    assert status == "HTTP/1.1 408 Request Timeout"
    assert body["error"]["code"] == "request_timeout" and set(body["error"]) == {"message", "type", "param", "code"}
    assert 0.4 < waited < 4.0


def test_a_body_that_stops_coming_gets_408(server: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 100\r\n\r\n{\"model\":")
        status, body = split(read_all(sock))
    assert status.startswith("HTTP/1.1 408")
    assert body["error"]["code"] == "request_timeout" and "NETGPT_CLIENT_TIMEOUT_S" in body["error"]["message"]


def test_a_prompt_client_on_a_kept_alive_connection_is_not_cut(server: ServerThread) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as http:
        for _ in range(3):
            assert http.post("/v1/chat/completions", json=chat_body()).status_code == 200
            time.sleep(0.7)  # idle longer than the header deadline, shorter than keep-alive (5 s)


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(server: ServerThread) -> None:
    # a pooled client reads an unasked-for 408 as the answer to its next request: none is sent
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
        assert 0.4 < time.monotonic() - started < 4.0
