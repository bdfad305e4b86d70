"""Fuzzing the gateway: schemathesis against /openapi.json, atheris on the request parser and the
schema guard. ``python -m bench.fuzz --help``; figures in docs/fuzzing.md."""
