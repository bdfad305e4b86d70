"""Tenancy: hashed client keys with per-key limits, admin keys (see ``guard``)."""

from gateway.tenancy.guard import ANONYMOUS, Principal, Tenancy

__all__ = ["ANONYMOUS", "Principal", "Tenancy"]
