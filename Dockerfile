# syntax=docker/dockerfile:1
# NetGPT gateway image: `docker build -t netgpt-gateway .`
#
# Two stages: the builder compiles wheels (uvloop, httptools, orjson need a compiler on some
# platforms) into a virtualenv; the runtime stage copies only that virtualenv onto a slim base,
# so no compiler, pip cache or source tree ships in the image.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first so a code change does not reinstall them (layer cache).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
    > /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
COPY gateway ./gateway
COPY cloud_adapter ./cloud_adapter
COPY edge_worker ./edge_worker
COPY bench ./bench
# README.md is the package's readme in pyproject.toml; an empty one is enough to build.
RUN touch README.md && pip install --no-deps .

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="netgpt-gateway" \
      org.opencontainers.image.description="Network-aware edge/cloud gateway for LLM tool calls" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NETGPT_DATA_DIR=/var/lib/netgpt
# A fixed numeric uid so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 netgpt \
    && useradd --system --uid 10001 --gid netgpt --home-dir /var/lib/netgpt \
       --shell /usr/sbin/nologin netgpt \
    && mkdir -p /var/lib/netgpt \
    && chown netgpt:netgpt /var/lib/netgpt
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /var/lib/netgpt
# The spool and calibration live here; mount a volume so they survive a restart.
VOLUME ["/var/lib/netgpt"]
EXPOSE 8080
# No curl in the slim image: the interpreter that is already there does the probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["netgpt"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
