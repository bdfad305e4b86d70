"""Plumbing shared by the adapters: the upstream HTTP pool and its error mapping, Redis
clients, and stopping background tasks."""
