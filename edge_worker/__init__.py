"""The edge side: the edge client and its flavours, llama.cpp (and vLLM) install and run, training
(optional extra) and the learning loop's production steps."""
