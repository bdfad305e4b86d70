"""OpenAI-compatible cloud client: auth, timeouts, retries, usage -> cost."""
