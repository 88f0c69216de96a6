# Sourced by the Makefile's helpers and .ci/run: project-local tool paths.
# shellcheck shell=bash
LBGUARD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LBGUARD_ROOT
export PATH="$LBGUARD_ROOT/.venv/bin:$PATH"
export CONTAINERS_CONF="$LBGUARD_ROOT/.cache/containers.conf"
export ANSIBLE_CONFIG="$LBGUARD_ROOT/ansible.cfg"
# collections/ holds lbguard itself (a link to this checkout as lbguard.core);
# .collections the collections requirements.yml names.
export ANSIBLE_COLLECTIONS_PATH="$LBGUARD_ROOT/collections:$LBGUARD_ROOT/.collections"
export LBGUARD_IMAGE="${LBGUARD_IMAGE:-localhost/lbguard-debian:bookworm}"
# Ansible's home (its tmp, and the copy of lbguard.core that
# molecule and ansible-lint install and put first on the collection path) inside
# the checkout: another checkout's copy, or a stale one, is never used.
export ANSIBLE_HOME="$LBGUARD_ROOT/.cache/ansible-home"
# SSH control sockets stay in Ansible's usual short folder: a unix socket path
# has at most 107 bytes, which a checkout deep in a file system would exceed.
export ANSIBLE_SSH_CONTROL_PATH_DIR="${ANSIBLE_SSH_CONTROL_PATH_DIR:-$HOME/.ansible/cp}"
