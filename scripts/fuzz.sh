#!/usr/bin/env bash
# Runs the property-based fuzz tests with many more examples than CI does (default 20,000
# per test; pass a number to change it), against the installed cnet or, with PYTHONPATH
# set, an in-place build. A crash of compiled code is reported by pytest's faulthandler.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-20000}"
# pytest, not python -m pytest: the latter would import the uncompiled source folder.
CNET_FUZZ_EXAMPLES="$examples" pytest -q -p no:cacheprovider tests/test_fuzz.py
