"""Package data of gateway.routing.placement: the learned placement policy's weights."""
