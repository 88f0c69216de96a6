#!/usr/bin/env bash
# Lists every tool the lab and the tests use, with its version, and exits
# non-zero when one is missing. Run by `make doctor` and first by .ci/run, so a
# CI log names the machine it ran on. Changes nothing.
set -uo pipefail
source "$(dirname "$0")/env.sh"
cd "$LBGUARD_ROOT"

missing=()
row() { printf '  %-26s %s\n' "$1" "$2"; }
# check NAME COMMAND...: the first line of the command's output is the version.
check() {
  local name=$1 version
  shift
  if version=$("$@" 2>&1 | grep -m1 -v '^\s*$') && [[ -n "$version" ]]; then
    row "$name" "$version"
  else
    row "$name" "MISSING"
    missing+=("$name")
  fi
}
# The version of a Debian package, for tools that print none of their own.
deb_version() { dpkg-query -W -f='${Version}\n' "$1" 2>/dev/null | grep .; }
# The version a collection's MANIFEST.json declares.
collection_version() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
    ".collections/ansible_collections/$1/MANIFEST.json" 2>/dev/null
}
# The version pip installed into the project's venv.
venv_package() { .venv/bin/python -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p' | grep .; }

echo "lbguard doctor: $(uname -srm)"
echo "machine"
check "debian" cat /etc/debian_version
check "python3" python3 --version
echo "containers"
check "podman" podman --version
check "runc" runc --version
check "netavark" deb_version netavark
check "aardvark-dns" deb_version aardvark-dns
check "iptables" iptables --version
check "nft" nft --version
check "podman network backend" podman info --format '{{.Host.NetworkBackend}}'
check "debootstrap" deb_version debootstrap
check "lab image" podman image inspect -f '{{.Id}} {{index .Labels "lbguard.packages"}}' "$LBGUARD_IMAGE"
# Each container's systemd needs inotify instances; bootstrap raises the budget.
inotify_instances() { local n; n=$(sysctl -n fs.inotify.max_user_instances) && ((n >= 2048)) && echo "$n"; }
check "inotify instances" inotify_instances
check "podman settings" grep -m1 '^runtime' "$CONTAINERS_CONF"
echo "ssh"
check "ssh" ssh -V
check "lab SSH key" ssh-keygen -l -f .cache/ssh/id_ed25519.pub
echo "python tool chain (.venv)"
for package in ansible-core molecule molecule-plugins pytest pytest-testinfra yamllint ansible-lint \
               ansible-runner ansible-builder python-dateutil; do
  check "$package" venv_package "$package"
done
echo "collections (.collections)"
for collection in containers/podman community/general ansible/posix awx/awx; do
  check "${collection/\//.}" collection_version "$collection"
done
echo "monitoring"
check "promtool" promtool --version
check "prometheus" prometheus --version
check "node_exporter" prometheus-node-exporter --version

if ((${#missing[@]})); then
  echo "doctor: missing ${missing[*]}: run 'make bootstrap' (as root) to install them" >&2
  exit 1
fi
echo "doctor: every tool is present"
