#!/usr/bin/env bash
# Sets tinygen up in a virtual environment (.venv at the top of the checkout) and installs it there: on
# Debian 12 / Ubuntu 24.04 the system python3 is "externally managed" (PEP 668) and refuses `pip install`
# outside a virtual environment. Where python3 cannot make one (Debian ships venv's pip in python3-venv) or gcc
# is missing (verify and demo compile the C on this machine), they are installed with apt-get, as root or
# through sudo.
#   bash examples/setup.sh            # tinygen itself, then: .venv/bin/tinygen demo
#   bash examples/setup.sh '[test]'   # with pip extras (tests/run.sh installs '[test,port]', editable)
# TINYGEN_VENV names another directory; TINYGEN_EDITABLE=1 installs the checkout editable (pip -e).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
venv="${TINYGEN_VENV:-.venv}"

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "examples/setup.sh: install $* with your package manager, then run this again" >&2
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "examples/setup.sh: installing $* with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v gcc >/dev/null 2>&1 || apt_install gcc
# Debian's python3 has the venv module but not the pip it bootstraps without python3-venv: try, then install
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  rm -rf "$venv"
  apt_install python3-venv
  python3 -m venv "$venv"
fi
if [ "${TINYGEN_EDITABLE:-0}" = 1 ]; then
  "$venv/bin/python" -m pip install -q -e ".$extras"
else
  "$venv/bin/python" -m pip install -q ".$extras"
fi
echo "examples/setup.sh: tinygen is installed in $venv (run $venv/bin/tinygen, or: source $venv/bin/activate)" >&2
