"""Moved to ``bench.common.items``; this re-export is kept only for modules not yet rewritten
(bench/vllm_strategies.py). Import bench.common.items."""

from bench.common.items import *  # noqa: F403
