"""OpenAI wire formats: the Chat Completions request (``chat``) and its server-sent events
(``sse``). Parsing and encoding only; no routing, no I/O."""
