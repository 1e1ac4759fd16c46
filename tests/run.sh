#!/usr/bin/env bash
# Sets up and runs tinygen's tests on a fresh Debian machine: the C toolchains the tests compile with
# (apt-get, as root or through sudo), tinygen with its test extras (pip), then pytest with missing
# toolchains turned into failures. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

packages="gcc g++ binutils gcc-avr avr-libc binutils-avr"
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi

python3 -m pip install -q -e '.[test]'

export TINYGEN_REQUIRE_TOOLCHAINS=1
status=0
python3 -m pytest -q -p no:cacheprovider "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "tests/run.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
