#!/usr/bin/env bash
# Installs everything lbguard's lab and tests need on a fresh Debian 12 machine
# (run as root). Idempotent: each step is skipped when its result is present.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LBGUARD_ROOT"

apt_packages=(podman runc netavark aardvark-dns debootstrap uidmap slirp4netns python3-venv unzip curl openssh-client)
# promtool (rule checks and rule unit tests) and the Prometheus server come with
# the prometheus package, node_exporter (textfile collector for the audit's drift
# gauge) with prometheus-node-exporter: both for the monitoring scenario, without
# recommends. The tests start their own processes on free loopback ports and never
# rely on the services these packages may start.
apt_packages_no_recommends=(prometheus prometheus-node-exporter)
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=() missing_no_recommends=()
for pkg in "${apt_packages[@]}"; do is_installed "$pkg" || missing+=("$pkg"); done
for pkg in "${apt_packages_no_recommends[@]}"; do is_installed "$pkg" || missing_no_recommends+=("$pkg"); done
if ((${#missing[@]} + ${#missing_no_recommends[@]})); then
  echo "bootstrap: installing ${missing[*]} ${missing_no_recommends[*]}"
  apt-get update -qq
  export DEBIAN_FRONTEND=noninteractive
  if ((${#missing[@]})); then apt-get install -y -qq "${missing[@]}" >/dev/null; fi
  if ((${#missing_no_recommends[@]})); then
    apt-get install -y -qq --no-install-recommends "${missing_no_recommends[@]}" >/dev/null
  fi
fi

# Python tool chain, pinned. Re-installed only when requirements.txt changes.
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
if ! cmp -s requirements.txt .venv/.requirements.installed; then
  echo "bootstrap: installing Python requirements into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt .venv/.requirements.installed
fi

# Collections: Galaxy when reachable would use requirements.yml; this machine has
# no Galaxy, so take the same collections from the `ansible` wheel on PyPI.
ansible_wheel_version=12.3.0
if [[ ! -f .collections/.from-ansible-$ansible_wheel_version ]]; then
  echo "bootstrap: unpacking collections from ansible==$ansible_wheel_version"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  .venv/bin/pip download -q --disable-pip-version-check --no-deps \
    "ansible==$ansible_wheel_version" -d "$tmp"
  rm -rf .collections && mkdir -p .collections
  unzip -q "$tmp"/ansible-*.whl \
    'ansible_collections/containers/podman/*' \
    'ansible_collections/community/general/*' \
    'ansible_collections/ansible/posix/*' -d .collections
  touch ".collections/.from-ansible-$ansible_wheel_version"
fi

# Key with which Ansible logs in to the lab and Molecule containers.
mkdir -p .cache/ssh
[[ -f .cache/ssh/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C lbguard-lab -f .cache/ssh/id_ed25519

# podman settings: the open-files limit is capped by this shell's hard limit.
mkdir -p .cache
nofile=$(ulimit -Hn)
[[ "$nofile" == unlimited || "$nofile" -gt 16384 ]] && nofile=16384
sed "s/@NOFILE@/$nofile/g" lab/containers.conf.in > .cache/containers.conf.new
mv .cache/containers.conf.new .cache/containers.conf

scripts/build-image.sh
