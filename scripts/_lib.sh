# Shared by the scripts: find Python 3.11+, install uv if missing, sync .venv.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      # The interpreter itself, not a launcher such as a pyenv shim: uv compares
      # this path with the one .venv was made from and rebuilds .venv on a change.
      "$candidate" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  echo "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)." >&2
  return 1
}

ensure_venv() {
  local python uv
  python="$(find_python)"
  if command -v uv >/dev/null 2>&1; then
    uv="$(command -v uv)"
  else
    if [ ! -x .tools/bin/uv ]; then
      echo "Installing uv into .tools/ ..."
      "$python" -m venv .tools
      .tools/bin/python -m pip install --quiet --disable-pip-version-check uv
    fi
    uv="$ROOT/.tools/bin/uv"
  fi
  UV_PYTHON_DOWNLOADS=never "$uv" sync --frozen --quiet --python "$python"
}

# Python caches compiled modules (__pycache__, ignored by git and Docker). Where
# the environment says PYTHONDONTWRITEBYTECODE (some CI images do), every process
# compiles Django, Celery, Strawberry... again: 4.3 s of CPU before a server or a
# worker starts instead of 1.4 s, and the test suite starts hundreds.
unset PYTHONDONTWRITEBYTECODE
