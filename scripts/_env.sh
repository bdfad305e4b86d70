# Shared by scripts/*: a virtual environment in .venv with the project installed (editable).
# Re-installs only when pyproject.toml changed since the last install.
ensure_venv() {
  local extras="$1"
  local py="${PYTHON:-python3}"
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "NetGPT needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 2
  fi
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  # shellcheck disable=SC1091
  source .venv/bin/activate
  local stamp=".venv/.installed-${extras//,/-}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    python -m pip install -q --upgrade pip
    if [[ ",$extras," == *",train,"* ]]; then
      # the CPU build of torch first, so nothing pulls the CUDA wheels
      python -m pip install -q "torch==2.13.0"
    fi
    python -m pip install -q -e ".[${extras}]"
    touch "$stamp"
  fi
}
