#!/usr/bin/env bash
# Everything the test suite needs on a fresh Debian machine:
#   ZooKeeper (Debian's package, with a JRE) for the HA tests; the tests start it themselves,
#   corral with its test extras, and pymesos (which needs a small fix to build on Python 3.11).
# Without root or apt, ZooKeeper is skipped and the HA tests are skipped, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"

if [ ! -f /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq zookeeper >/dev/null
    else
        echo "install_test_deps: not root or no apt-get: skipping ZooKeeper (HA tests will skip)" >&2
    fi
fi
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q -e '.[test]'
PYTHON="$PY" bash scripts/install_pymesos.sh
