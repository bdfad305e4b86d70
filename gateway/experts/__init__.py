"""Several edge experts: their configuration, live load, quality and the placement glue.

The decisions are pure code in ``gateway.routing.placement`` (and friends); this package is the
live side that gathers their inputs (config file, scraped gauges, in-flight counts, logged
records) and calls them for the request path.
"""
