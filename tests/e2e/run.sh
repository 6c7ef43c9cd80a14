#!/bin/bash
# Runs the browser tests (or, given arguments, `node ARGS…`: the browser benchmark)
# inside a private network namespace: a
# veth pair with a default route that leads nowhere, so Chromium offers a host
# candidate (10.77.0.1) for WebRTC, and nothing the test starts can reach outside.
# Origin, tracker, native hosts and the browser all run inside it.
set -euo pipefail
cd "$(dirname "$0")"
# Root makes the namespace directly; otherwise a user namespace maps us to root.
# A mount namespace too: the browser's managed-policy directory is a private tmpfs.
if [ "$(id -u)" -eq 0 ]; then unshare=(unshare -n -m); else unshare=(unshare -rn -m); fi
exec "${unshare[@]}" bash -c '
  set -e
  ip link set lo up
  ip link add v0 type veth peer name v1
  ip addr add 10.77.0.1/24 dev v0
  ip addr add 10.77.0.2/24 dev v1
  ip link set v0 up
  ip link set v1 up
  ip route add default via 10.77.0.2 dev v0
  export SWARMLOAD_ICE_ADDR=10.77.0.1
  . ./policy_mounts.sh
  if [ "$#" -eq 0 ]; then
    exec node --test --test-concurrency=1 --test-reporter=spec browser.test.mjs firefox.test.mjs
  fi
  exec node "$@"
' run.sh "$@"
