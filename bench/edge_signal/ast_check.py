"""Moved to ``bench.common.ast_check``; this re-export is kept only for modules not yet rewritten
(bench/vllm_strategies.py). Import bench.common.ast_check."""

from bench.common.ast_check import *  # noqa: F403
