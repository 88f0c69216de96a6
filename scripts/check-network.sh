#!/usr/bin/env bash
# Starts one throwaway container on the lab network before any playbook runs,
# so a broken podman network shows here with its cause and fix, not as every
# lab container failing later. Run by scripts/bootstrap.sh.
set -euo pipefail
source "$(dirname "$0")/env.sh"

network=lbguard-lab
podman network exists "$network" || podman network create "$network" >/dev/null

if output=$(timeout 60 podman run --rm --network "$network" --entrypoint /bin/true "$LBGUARD_IMAGE" 2>&1); then
  echo "check-network: a container starts on $network ($(podman info --format '{{.Host.NetworkBackend}}'))"
  exit 0
fi

echo "check-network: a container cannot start on the podman network $network:" >&2
echo "$output" | sed 's/^/  /' >&2
# netavark configures the firewall through iptables or nft; both may be absent
# on a fresh machine, and the error only says "No such file or directory".
if grep -q 'netavark' <<<"$output"; then
  for tool in iptables nft; do
    command -v "$tool" >/dev/null || echo "cause: $tool is not installed; netavark needs it for container networks" >&2
  done
  echo "fix: apt-get install iptables nftables netavark aardvark-dns (scripts/bootstrap.sh installs them), then make lab" >&2
elif grep -qi 'crun\|cgroup' <<<"$output"; then
  echo "cause: the OCI runtime cannot start containers here; fix: keep CONTAINERS_CONF pointing at .cache/containers.conf (runtime runc), as scripts/env.sh does" >&2
elif grep -qi 'ulimit\|rlimit\|operation not permitted' <<<"$output"; then
  echo "cause: podman's default limits exceed this sandbox's; fix: rerun scripts/bootstrap.sh, which writes them into .cache/containers.conf" >&2
else
  echo "fix: run 'podman --log-level=debug run --rm --network $network $LBGUARD_IMAGE /bin/true' to see which step fails" >&2
fi
exit 1
