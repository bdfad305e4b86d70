"""A local vLLM edge: install vLLM into its own venv, convert the model, run the server.

``netgpt edge install --engine vllm`` / ``netgpt edge run --engine vllm`` (:mod:`.cli`);
:class:`VllmServer` for tests and benchmarks. See docs/vllm-edge.md.
"""

from edge_worker.vllm.install import VLLM_VERSION, InstallError, VllmInstall, ensure_vllm
from edge_worker.vllm.server import ServerStartError, VllmServer, server_command

__all__ = ["VLLM_VERSION", "InstallError", "ServerStartError", "VllmInstall", "VllmServer",
           "ensure_vllm", "server_command"]
