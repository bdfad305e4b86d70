"""Load benchmark: the gateway against LiteLLM and the upstream directly (``netgpt bench load``)."""
