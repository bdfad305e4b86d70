"""Placement filters: each drops the candidates that cannot serve (``interfaces.Filter``)."""

from gateway.routing.placement.filters.fits_context import FitsContext
from gateway.routing.placement.filters.has_headroom import HasHeadroom
from gateway.routing.placement.filters.healthy import Healthy
from gateway.routing.placement.filters.meets_slo import MeetsSlo

__all__ = ["FitsContext", "HasHeadroom", "Healthy", "MeetsSlo"]
