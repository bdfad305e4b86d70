"""Test and benchmark stand-ins for upstreams the machine cannot run (the cloud model, a GPU
server, injected faults). Not part of the product: the gateway's import graph never reaches
here. ``python -m bench.fakes --help`` runs one alone."""

from bench.fakes.upstream import (
    OFFLOAD_MARKER,
    Answer,
    Behaviour,
    FakeUpstream,
    Flavor,
    main,
    sample_value,
)

__all__ = ["OFFLOAD_MARKER", "Answer", "Behaviour", "FakeUpstream", "Flavor", "main", "sample_value"]
