#!/usr/bin/env bash
# Installs everything lbguard's lab and tests need on a fresh Debian 12 machine
# (run as root). Idempotent: each step is skipped when its result is present.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$LBGUARD_ROOT"

apt_packages=(podman runc netavark aardvark-dns iptables nftables debootstrap uidmap slirp4netns python3-venv unzip curl openssh-client)
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
# awx.awx: the modules awx/configure.yml uses, and whose argument specs tests/integration/awx checks.
collection_dirs=(containers/podman community/general ansible/posix awx/awx)
# The marker names the wheel and the list, so adding a collection re-extracts.
collections_marker=".collections/.from-ansible-$ansible_wheel_version-$(printf '%s\n' "${collection_dirs[@]}" | sha256sum | cut -c1-12)"
if [[ ! -f "$collections_marker" ]]; then
  echo "bootstrap: unpacking ${collection_dirs[*]} from ansible==$ansible_wheel_version"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  .venv/bin/pip download -q --disable-pip-version-check --no-deps \
    "ansible==$ansible_wheel_version" -d "$tmp"
  patterns=()
  for dir in "${collection_dirs[@]}"; do patterns+=("ansible_collections/$dir/*"); done
  unzip -q "$tmp"/ansible-*.whl "${patterns[@]}" -d "$tmp/collections"
  touch "$tmp/collections/${collections_marker#.collections/}"
  # Swap in whole, so a run using .collections meanwhile sees one set or the other.
  rm -rf .collections.old && { [[ ! -d .collections ]] || mv .collections .collections.old; }
  mv "$tmp/collections" .collections && rm -rf .collections.old
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

# systemd in every lab and test container takes inotify instances from one
# per-user budget (128 by default): with about 20 containers up, the next one's
# systemd exits at once (status 255, no log). Raise it for this boot.
min_inotify_instances=2048
if (( $(sysctl -n fs.inotify.max_user_instances) < min_inotify_instances )); then
  echo "bootstrap: fs.inotify.max_user_instances $(sysctl -n fs.inotify.max_user_instances) -> $min_inotify_instances"
  sysctl -q -w fs.inotify.max_user_instances=$min_inotify_instances
fi

scripts/build-image.sh
scripts/check-network.sh
