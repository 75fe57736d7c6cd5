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
# Docker tests: Debian's dockerd (the tests start a private one of their own, with no bridge
# and no firewall rules) and a static busybox to build a tiny image from; deploy tests:
# openssh-server (the tests start one sshd per test host themselves). The packages' own
# daemons are not started: a temporary policy-rc.d forbids starting services during the install.
if ! command -v dockerd >/dev/null || ! dpkg -s busybox-static >/dev/null 2>&1 \
    || [ ! -x /usr/sbin/sshd ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            policy=/usr/sbin/policy-rc.d
            printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
        fi
        apt-get update -qq
        apt-get install -y -qq docker.io busybox-static openssh-server >/dev/null
        if [ -n "$policy" ]; then rm -f "$policy"; fi
    else
        echo "install_test_deps: not root or no apt-get: skipping docker and sshd (docker and deploy tests will skip)" >&2
    fi
fi
# Browser tests: Debian's Chromium, driven by Playwright (never `playwright install`).
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq chromium >/dev/null
    else
        echo "install_test_deps: not root or no apt-get: skipping chromium (browser tests will skip)" >&2
    fi
fi
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q -e '.[test]'
PYTHON="$PY" bash scripts/install_pymesos.sh
