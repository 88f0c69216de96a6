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
