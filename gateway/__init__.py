"""NetGPT gateway: network-aware edge/cloud routing of LLM tool-calling requests."""

__version__ = "0.1.0"
