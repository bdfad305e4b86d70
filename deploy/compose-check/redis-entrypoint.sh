#!/bin/sh
# redis stand-in (scripts/compose-check): the official image's entrypoint turns protected mode
# off when redis-server runs without a config file; do the same.
if [ "$1" = "redis-server" ]; then
    shift
    exec redis-server --protected-mode no "$@"
fi
exec "$@"
