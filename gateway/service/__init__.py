"""The request path as stages over one request context (ARCHITECTURE.md, "The request path").

``ChatService.handle`` runs plan -> draft -> judge -> answer -> observe for one validated request
and returns a :class:`ChatResult`; the API layer encodes it. Public surface::

    from gateway.service import ChatService, ChatResult, RequestInfo
"""

from gateway.service.chat import ChatResult, ChatService, RequestInfo

__all__ = ["ChatResult", "ChatService", "RequestInfo"]
