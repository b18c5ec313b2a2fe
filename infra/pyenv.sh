#!/usr/bin/env bash
# The Python the acceptance harness (../shared/eval/eval-cli.py) needs: a venv with numpy at .cache/pyenv.
# Idempotent: an existing venv that imports numpy is left as it is. Used by `npm run bench -- --front`.
#
#   bash infra/pyenv.sh        # prints the venv's python on stdout
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.cache/pyenv
if ! "$VENV/bin/python" -c 'import numpy' >/dev/null 2>&1; then
  echo "pyenv: creating $VENV with numpy" >&2
  mkdir -p .cache
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy
fi
echo "$PWD/$VENV/bin/python"
