"""The request path as stages over one request context (ARCHITECTURE.md, "The request path").

``ChatService.handle`` runs prepare -> plan -> draft -> judge -> answer -> observe for one
validated request and returns an :class:`Outcome`; the API layer encodes it. Public surface::

    from gateway.service import ChatService, Outcome, RequestInfo, StreamError
"""

from gateway.service.chat import ChatService
from gateway.service.context import Outcome, RequestContext, RequestInfo, StreamError

__all__ = ["ChatService", "Outcome", "RequestContext", "RequestInfo", "StreamError"]
