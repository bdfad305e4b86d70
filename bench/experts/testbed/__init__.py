"""Real testbed for several edge experts: real llama-server experts behind a real gateway.

``python -m bench.experts.testbed --out DIR`` (or ``netgpt bench testbed``); see ``run.py``.
"""
