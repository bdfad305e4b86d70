"""Error tree of the gateway. Converted to OpenAI's error envelope only at the HTTP edge.

    GatewayError                     (has .status, .type, .code, .param)
    ├── RequestError                 400 invalid_request_error: bad body, bad field, n != 1
    │   ├── BodyTooLarge             413
    │   ├── RequestTimeout           408 request_timeout (body too slow, NETGPT_CLIENT_TIMEOUT_S)
    │   └── UnsupportedParameter     400 code=unsupported_parameter
    ├── AuthError                    401 invalid_api_key
    ├── PermissionDenied             403 an admin endpoint and a key that is not an admin key
    ├── RateLimited                  429 rate_limit_exceeded (a key's requests or tokens per
    │   │                                minute); .retry_after_s -> Retry-After
    │   └── QuotaExceeded            429 insufficient_quota (a key's cloud budget is spent)
    ├── ShuttingDown                 503 shutting_down (outlived NETGPT_SHUTDOWN_GRACE_S)
    ├── UpstreamBusy                 503 upstream_rate_limited (the cloud's 429 after the
    │                                    retries; its Retry-After passed on)
    └── UpstreamError                an upstream (edge or cloud) failed; .upstream names it
        ├── UpstreamTransportError   no usable HTTP answer
        │   ├── UpstreamConnectError connect refused / DNS / reset before answer  -> 503
        │   └── UpstreamTimeout      connect or read timeout                      -> 504
        └── UpstreamStatusError      answered with an HTTP error; .status_code    -> 502
                                      (a 4xx from the cloud caused by the request is
                                      passed on with its status: .passthrough)
"""

from __future__ import annotations

from typing import Any, Literal

Upstream = Literal["edge", "cloud"]


class GatewayError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class RequestError(GatewayError):
    status = 400
    type = "invalid_request_error"


class BodyTooLarge(RequestError):
    status = 413
    code = "request_too_large"


class ShuttingDown(GatewayError):
    """The process is shutting down and the request outlived NETGPT_SHUTDOWN_GRACE_S."""

    status = 503
    code = "shutting_down"


class RequestTimeout(RequestError):
    """The client sent its body too slowly (NETGPT_CLIENT_TIMEOUT_S)."""

    status = 408
    code = "request_timeout"


class UnsupportedParameter(RequestError):
    code = "unsupported_parameter"


class AuthError(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    code = "admin_key_required"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: float, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class QuotaExceeded(RateLimited):
    type = "insufficient_quota"
    code = "insufficient_quota"


class UpstreamError(GatewayError):
    type = "upstream_error"

    def __init__(self, upstream: Upstream, message: str, *, code: str | None = None):
        super().__init__(f"{upstream} upstream: {message}", code=code)
        self.upstream = upstream


class UpstreamTransportError(UpstreamError):
    status = 503


class UpstreamConnectError(UpstreamTransportError):
    status = 503
    code = "upstream_unreachable"


class UpstreamTimeout(UpstreamTransportError):
    status = 504
    code = "upstream_timeout"


class UpstreamStatusError(UpstreamError):
    status = 502
    code = "upstream_error"

    def __init__(
        self,
        upstream: Upstream,
        status_code: int,
        message: str,
        *,
        body: dict[str, Any] | None = None,
        retry_after_s: float | None = None,
    ):
        super().__init__(upstream, f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.body = body
        self.retry_after_s = retry_after_s

    @property
    def passthrough(self) -> bool:
        """A 4xx other than auth/rate limit is the caller's fault: pass it on as it is."""
        return 400 <= self.status_code < 500 and self.status_code not in (401, 403, 408, 429)


class UpstreamBusy(GatewayError):
    """The cloud still answered 429 after the retries: 503 with its Retry-After, so clients
    (the OpenAI SDK retries a 503) wait instead of taking it for a broken gateway (502)."""

    status = 503
    type = "upstream_error"
    code = "upstream_rate_limited"

    def __init__(self, message: str, *, retry_after_s: float | None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


def both_failed(edge: GatewayError | None, cloud: GatewayError) -> GatewayError:
    """The error to answer with when neither upstream produced a usable answer."""
    parts = [cloud.message]
    if edge is not None:
        parts.insert(0, edge.message)
    if isinstance(cloud, UpstreamStatusError) and cloud.status_code == 429:
        message = "; ".join(parts) + " (the cloud is rate-limiting the gateway; retry later)"
        return UpstreamBusy(message, retry_after_s=cloud.retry_after_s)
    status = cloud.status if isinstance(cloud, UpstreamError) else 503
    if isinstance(cloud, UpstreamStatusError):
        status = 502
    err = GatewayError("; ".join(parts) + " (no upstream could answer)")
    err.status = status
    err.type = "upstream_error"
    err.code = cloud.code
    return err
