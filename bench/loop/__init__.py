"""``netgpt loop``: the closed learning loop on the real edge model.

The gateway logs what the (replayed) cloud answered, the edge model (SmolLM2 on llama.cpp) is
trained on it on the CPU (SFT, then RL and GAPG anchored to SFT), shipped back as a GGUF adapter
switched on at run time, the router's calibration is refitted, and a held-out BFCL set measures
each round. Modules: ``data`` (the split), ``services`` (Redis, replayed cloud, gateway process),
``measure`` (held-out passes and figures), ``steps`` (resumable state), ``convert`` (GGUF <-> HF),
``run`` (the rounds), ``report`` (rounds.json, report.md), ``cli``.
"""
