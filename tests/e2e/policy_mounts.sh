# Sourced inside the private mount namespace of run.sh and net.sh: the browsers'
# managed-policy directories as private tmpfs mounts, so a test can write policy
# files the real browsers read, and the machine's own /etc is never touched.
# Chromium reads /etc/chromium/policies/managed; Firefox reads
# /etc/firefox/policies/policies.json (Debian's ESR also /etc/firefox-esr/policies).
mkdir -p /etc/chromium
mount -t tmpfs swarmload-policies /etc/chromium
mkdir -p /etc/chromium/policies/managed
export SWARMLOAD_POLICY_DIR=/etc/chromium/policies/managed
for d in /etc/firefox /etc/firefox-esr; do
  mkdir -p "$d"
  mount -t tmpfs swarmload-ff-policies "$d"
  mkdir -p "$d/policies"
done
export SWARMLOAD_FIREFOX_POLICY_DIRS=/etc/firefox/policies:/etc/firefox-esr/policies
