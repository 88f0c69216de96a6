#!/usr/bin/env bash
# ansible-test sanity on lbguard.core: the tracked files, copied under
# ansible_collections/lbguard/core as ansible-test requires, with --local (the
# project's venv). Only the checks that need nothing installed run: the others
# (ansible-doc, validate-modules, import, pep8, pylint, yamllint,
# runtime-metadata) build a venv of their own with pip's bootstrap script from
# the internet, which this project never reaches. Their ground is covered
# elsewhere: tests/integration/test_collection.py runs ansible-doc on every plugin,
# tests/integration/test_module_docs.py parses every module's documentation, the unit
# tests import every plugin, `make lint` runs yamllint and ansible-lint.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/lbguard/core"
mkdir -p "$dest"
# collections/ is the link that makes this checkout lbguard.core; the copy needs none.
# Links are copied as what they point to: plugins/filter is checked as filters.
git ls-files -z | grep -zv "^collections/" | tar --null --dereference -T - -cf - | tar -xf - -C "$dest"
python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$dest"
ANSIBLE_COLLECTIONS_PATH="$work:$LBGUARD_ROOT/.collections" ansible-test sanity --local --python "$python_version" \
  --test compile --test empty-init --test ignores --test line-endings --test no-assert --test no-get-exception \
  --test no-illegal-filenames --test no-smart-quotes --test replace-urlopen --test shebang --test symlinks \
  --test use-argspec-type-path --test use-compat-six --test action-plugin-docs
