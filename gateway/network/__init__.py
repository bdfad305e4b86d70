"""Live network estimates per upstream: background probes → ``NetworkState``.

``NetworkMonitor`` implements ``gateway.ports.NetworkView``; with probes disabled the app uses
``gateway.policy.inputs.StaticNetwork`` instead.
"""

from gateway.network.monitor import NetworkMonitor

__all__ = ["NetworkMonitor"]
