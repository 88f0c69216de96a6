#!/usr/bin/env bash
# Builds the lab/test image from Debian's packages (no registry pull is possible)
# and imports it into podman. Skipped when the image for this package list exists.
set -euo pipefail
source "$(dirname "$0")/env.sh"

# Everything the lab needs is baked in, so containers never reach the network.
image_packages=python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,procps,sudo,ca-certificates,curl,haproxy,nginx-light,socat,openssh-server
# Bump when the recipe below changes, so cached images are rebuilt.
image_recipe=3
image_tag_hash=$(echo "$image_recipe $image_packages" | sha256sum | cut -c1-12)

if podman image exists "$LBGUARD_IMAGE" &&
   [[ "$(podman image inspect -f '{{ index .Labels "lbguard.packages" }}' "$LBGUARD_IMAGE" 2>/dev/null)" == "$image_tag_hash" ]]; then
  exit 0
fi

# Mirror from this machine's own apt sources, never written into the project.
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 || true)
if [[ -z "$mirror" ]]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[[ -n "$mirror" ]] || { echo "build-image: no Debian mirror in this machine's apt sources" >&2; exit 1; }

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
echo "build-image: debootstrap bookworm ($image_packages)"
debootstrap --variant=minbase --include="$image_packages" bookworm "$rootfs" "$mirror" >/dev/null
# Load balancers and web servers start under the roles' control, not at boot.
# sshd starts at boot: Ansible reaches the containers over SSH, key only. The
# lab and Molecule mount the project's public key at $authorized_keys, which
# sshd reads for every user: the unprivileged deploy user (passwordless sudo,
# as on a real fleet) and root both log in with it.
deploy_user=deploy
authorized_keys=/etc/ssh/lbguard_authorized_keys
chroot "$rootfs" systemctl disable haproxy nginx >/dev/null 2>&1 || true
chroot "$rootfs" systemctl enable ssh >/dev/null 2>&1
chroot "$rootfs" useradd --create-home --shell /bin/bash "$deploy_user"
echo "$deploy_user ALL=(ALL) NOPASSWD: ALL" > "$rootfs/etc/sudoers.d/$deploy_user"
chmod 0440 "$rootfs/etc/sudoers.d/$deploy_user"
printf 'AuthorizedKeysFile .ssh/authorized_keys %s\nPasswordAuthentication no\n' "$authorized_keys" \
  > "$rootfs/etc/ssh/sshd_config.d/lbguard.conf"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import \
  --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
  --change "LABEL lbguard.packages=$image_tag_hash" - "$LBGUARD_IMAGE" >/dev/null
echo "build-image: built $LBGUARD_IMAGE"
