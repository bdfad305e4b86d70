# Stand-ins for the registry images docker-compose.yml names (redis, prom/prometheus,
# alpine/socat), built from Debian's packages on the local base image when no registry answers
# (scripts/compose-check; build context: deploy/compose-check/). They run as the compose file runs the real ones: the same command
# lines, healthchecks (redis-cli, wget) and data paths.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS redis
RUN apt-get update && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
# as the official image's entrypoint does: no protected mode (the port is on the compose network
# only), so other containers may connect without a password
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]
CMD ["redis-server"]

FROM ${BASE_IMAGE} AS prometheus
RUN apt-get update && apt-get install -y --no-install-recommends prometheus wget \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /prometheus /etc/prometheus \
    && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]

FROM ${BASE_IMAGE} AS socat
RUN apt-get update && apt-get install -y --no-install-recommends socat wget \
    && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["socat"]
