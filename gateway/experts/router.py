"""Compatibility shim: ``ExpertRouter`` is now ``gateway.experts.placer.ExpertPlacer``.

Kept until gateway/service/ and gateway/app.py import from ``gateway.experts.placer``; then
delete this module.
"""

from gateway.experts.placer import ExpertPlacer, Plan, no_expert_error

ExpertRouter = ExpertPlacer

__all__ = ["ExpertRouter", "Plan", "no_expert_error"]
