"""The edge side: vLLM client, fakes, training (optional extra)."""
