"""Pure routing logic: no I/O, no clock, no web/HTTP/Redis imports.

Everything here is a function of its inputs so it can be property-tested and reused by the
routing simulator in ``bench/``.
"""
