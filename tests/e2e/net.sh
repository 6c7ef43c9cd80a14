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
  . ./policy_mounts.sh
  if [ "$#" -eq 0 ]; then
    exec node --test --test-concurrency=1 --test-reporter=spec nat.test.mjs
  fi
  exec node "$@"
' net.sh "$@"
