"""Package data of gateway.routing: the learned placement policy's weights."""
