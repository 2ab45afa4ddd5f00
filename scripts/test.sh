#!/usr/bin/env bash
# `make test` (and CI): the whole suite. pytest exits 5 when it collects nothing; that is
# a failure here, never a silent pass.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
