# Sourced by setup.sh, test.sh and quickstart.sh: choose the Python that edgesdk is installed into and run by.
#   - EDGESDK_PYTHON=/path/to/python   that interpreter, as is;
#   - inside a virtual environment      its python3;
#   - CI (CI set, as CI systems do)     the current python3, as the CI image provides it;
#   - otherwise                         the current python3 if it accepts 'pip install' and the caller allows
#                                       it (EDGESDK_VENV=0, what test.sh does), else a virtual environment
#                                       .venv in the checkout, created on first use. Debian's own Python refuses
#                                       a system-wide pip install (PEP 668), so the quickstart always uses .venv.
#     EDGESDK_VENV_SYSTEM_SITE_PACKAGES=1 creates .venv with --system-site-packages (reuses what the base
#     Python already has installed: no download of TensorFlow).
# Sets PY (the interpreter) and EDGESDK_IN_VENV (1 when .venv is used); puts its bin folder first on PATH.
_edgesdk_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_base="${PYTHON:-python3}"
EDGESDK_IN_VENV=0
if [ -n "${EDGESDK_PYTHON:-}" ]; then
  PY="$EDGESDK_PYTHON"
elif [ -n "${VIRTUAL_ENV:-}" ] || "$_base" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)'; then
  PY="$(command -v "$_base")"
elif [ -n "${CI:-}" ]; then
  PY="$(command -v "$_base")"
elif [ "${EDGESDK_VENV:-1}" = "0" ] && ! "$_base" -c \
    'import sys, sysconfig, pathlib; sys.exit(0 if (pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists() else 1)'; then
  PY="$(command -v "$_base")"
else
  if [ ! -x "$_edgesdk_root/.venv/bin/python" ]; then
    _flags=()
    [ "${EDGESDK_VENV_SYSTEM_SITE_PACKAGES:-0}" = "1" ] && _flags+=(--system-site-packages)
    echo "setup: creating the virtual environment $_edgesdk_root/.venv ${_flags[*]}" >&2
    if ! "$_base" -m venv "${_flags[@]}" "$_edgesdk_root/.venv"; then
      echo "setup: cannot create a virtual environment; install it with: sudo apt-get install python3-venv" >&2
      exit 1
    fi
  fi
  PY="$_edgesdk_root/.venv/bin/python"
  EDGESDK_IN_VENV=1
fi
PATH="$(dirname "$PY"):$PATH"
export PATH PY EDGESDK_IN_VENV
unset _edgesdk_root _base _flags
