"""``netgpt edge check``: handwritten tool-calling requests, forced to the edge, through the gateway."""
