"""Running the gateway as a server: ``netgpt serve`` (uvicorn), worker slots, the ASGI wrapper
(GC freeze, SIGTERM drain), the header deadline for slow clients, and JSON logs."""
