"""``python -m bench.edge_check``: handwritten requests a new user would send, model=edge."""
