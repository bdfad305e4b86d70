"""A ``NetworkView`` with fixed estimates, used when live probes are off
(``NETGPT_NETWORK_PROBES_ENABLED=false``): τ then follows the settings' static RTT and
bandwidth."""

from __future__ import annotations

from gateway.routing.state import LinkEstimate, NetworkState


class StaticNetwork:
    """A NetworkView with fixed estimates from settings."""

    def __init__(self, cloud: LinkEstimate, edge: LinkEstimate | None = None) -> None:
        self._state = NetworkState(cloud=cloud, edge=edge or LinkEstimate(0.001, 1e9))

    def snapshot(self) -> NetworkState:
        return self._state

    def observe_transfer(self, target: str, nbytes: int, transfer_s: float) -> None:  # noqa: ARG002
        return None

    def observe_compute(self, target: str, seconds: float) -> None:  # noqa: ARG002
        return None
