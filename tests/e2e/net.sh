#!/bin/bash
# Runs the network tests (nat.test.mjs; or, given arguments, `node ARGS…`) in a
# private network and mount namespace: the topology's namespaces are made inside
# it (their names under a private /run/netns), so nothing the test starts can reach
# the machine's own networks, and nothing is left behind.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" -eq 0 ]; then unshare=(unshare -n -m); else unshare=(unshare -rn -m); fi
exec "${unshare[@]}" bash -c '
  set -e
  ip link set lo up
  mkdir -p /run/netns
  mount -t tmpfs swarmload-netns /run/netns
  # Chromium reads enterprise policy from /etc/chromium/policies/managed: a private
  # tmpfs there lets a test write one (the namespaces share this mount namespace).
  mkdir -p /etc/chromium
  mount -t tmpfs swarmload-policies /etc/chromium
  mkdir -p /etc/chromium/policies/managed
  export SWARMLOAD_POLICY_DIR=/etc/chromium/policies/managed
  # Firefox reads /etc/firefox/policies/policies.json (Debian'"'"'s ESR also
  # /etc/firefox-esr/policies): private tmpfs mounts too.
  for d in /etc/firefox /etc/firefox-esr; do mkdir -p $d; mount -t tmpfs swarmload-ff-policies $d; mkdir -p $d/policies; done
  export SWARMLOAD_FIREFOX_POLICY_DIRS=/etc/firefox/policies:/etc/firefox-esr/policies
  if [ "$#" -eq 0 ]; then
    exec node --test --test-concurrency=1 --test-reporter=spec nat.test.mjs
  fi
  exec node "$@"
' net.sh "$@"
